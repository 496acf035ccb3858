// The kmod adapter over module files: what it reads of a .ko as it is and of the same file
// compressed with xz, as Debian 13's kernels ship their modules (.ko.xz), or with zstd
// (.ko.zst), the other compression Debian's libkmod reads.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <lzma.h>
#include <string>
#include <zstd.h>

#include "adapters.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

// xz with a CRC32 check, as kbuild compresses modules (`xz --check=crc32`).
std::string xz(const std::string& in) {
    std::string out(lzma_stream_buffer_bound(in.size()), '\0');
    size_t pos = 0;
    REQUIRE(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, reinterpret_cast<const uint8_t*>(in.data()),
                                    in.size(), reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()) == LZMA_OK);
    out.resize(pos);
    return out;
}

// zstd as kbuild runs it for CONFIG_MODULE_COMPRESS_ZSTD (`zstd -T0`, level 3 by default).
std::string zst(const std::string& in) {
    std::string out(ZSTD_compressBound(in.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
    REQUIRE_FALSE(ZSTD_isError(n));
    out.resize(n);
    return out;
}

} // namespace

TEST_CASE("a module file's build-id is read through xz and zstd compression: the same as the plain file's") {
    TempDir d;
    std::string plain = slurp(VBDCTL_MODULE_FIXTURE);
    REQUIRE(plain.size() > 64);
    spit(d.path / "xen-blkback.ko", plain);
    spit(d.path / "xen-blkback.ko.xz", xz(plain));
    spit(d.path / "xen-blkback.ko.zst", zst(plain));
    auto mods = vbd::local::open_kmod(d.path.string());
    REQUIRE(mods.has_value());

    auto ko = (*mods)->inspect((d.path / "xen-blkback.ko").string());
    REQUIRE(ko.has_value());
    REQUIRE(ko->build_id.has_value());
    CHECK(ko->build_id->size() == 40); // ld's --build-id=sha1
    CHECK(ko->build_id->find_first_not_of("0123456789abcdef") == std::string::npos);

    for (const char* name : {"xen-blkback.ko.xz", "xen-blkback.ko.zst"}) {
        INFO(name);
        auto packed = (*mods)->inspect((d.path / name).string());
        REQUIRE(packed.has_value());
        CHECK(packed->vermagic == ko->vermagic); // libkmod decompresses for modinfo itself
        CHECK(packed->build_id == ko->build_id);
    }
}

TEST_CASE("a module file whose compressed stream is cut short is not a module, and has no build-id") {
    TempDir d;
    std::string plain = slurp(VBDCTL_MODULE_FIXTURE);
    auto mods = vbd::local::open_kmod(d.path.string());
    REQUIRE(mods.has_value());
    for (auto [name, packed] : {std::pair{"xen-blkback.ko.xz", xz(plain)}, std::pair{"xen-blkback.ko.zst", zst(plain)}}) {
        INFO(name);
        spit(d.path / name, packed.substr(0, packed.size() / 2));
        CHECK_FALSE((*mods)->inspect((d.path / name).string()).has_value());
    }
}
