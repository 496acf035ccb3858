// vbdctl/kmod.so: Modules over libkmod (files, lookup, insert, remove) and /sys/module (the
// loaded state).

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <elf.h>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <sys/utsname.h>

#include <libkmod.h>
#include <lzma.h>
#include <zstd.h>

#include "../try.hpp"
#include "adapters.hpp"
#include "parts.hpp"
#include "vbdctl/types.hpp"

namespace vbd::local {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_text(const fs::path& p) {
    std::ifstream in(p);
    if (!in) return std::nullopt;
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string bytes_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string hex(const unsigned char* p, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

// The descriptor of an NT_GNU_BUILD_ID note in a run of ELF notes, as hex.
std::optional<std::string> build_id_from_notes(const std::string& notes) {
    size_t off = 0;
    auto align4 = [](size_t v) { return (v + 3) & ~size_t{3}; };
    while (off + sizeof(Elf64_Nhdr) <= notes.size()) {
        Elf64_Nhdr h;
        std::memcpy(&h, notes.data() + off, sizeof h);
        size_t name_off = off + sizeof h, desc_off = name_off + align4(h.n_namesz);
        if (desc_off + h.n_descsz > notes.size()) break;
        if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 &&
            std::memcmp(notes.data() + name_off, "GNU", 4) == 0)
            return hex(reinterpret_cast<const unsigned char*>(notes.data() + desc_off), h.n_descsz);
        off = desc_off + align4(h.n_descsz);
    }
    return std::nullopt;
}

constexpr size_t max_image = size_t{256} << 20;

// Runs a decoder over a whole compressed file into a growing image. step(out, room) decodes
// into out and says how many bytes it wrote and whether the stream ended, or nullopt on a
// damaged or cut stream.
template <class Step>
std::optional<std::string> decode_all(size_t compressed, Step step) {
    std::string image;
    while (image.size() < max_image) {
        size_t have = image.size();
        image.resize(std::min(max_image, std::max(have * 2, compressed * 4)));
        auto r = step(image.data() + have, image.size() - have);
        if (!r) return std::nullopt;
        image.resize(have + r->first);
        if (r->second) return image;
    }
    return std::nullopt;
}

std::optional<std::string> unxz(const std::string& file) {
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, uint64_t{64} << 20, LZMA_CONCATENATED) != LZMA_OK) return std::nullopt;
    s.next_in = reinterpret_cast<const uint8_t*>(file.data());
    s.avail_in = file.size();
    auto image = decode_all(file.size(), [&](char* out, size_t room) -> std::optional<std::pair<size_t, bool>> {
        s.next_out = reinterpret_cast<uint8_t*>(out);
        s.avail_out = room;
        lzma_ret rc = lzma_code(&s, LZMA_FINISH); // LZMA_BUF_ERROR when the input is cut short
        if (rc != LZMA_OK && rc != LZMA_STREAM_END) return std::nullopt;
        return std::pair{room - s.avail_out, rc == LZMA_STREAM_END};
    });
    lzma_end(&s);
    return image;
}

std::optional<std::string> unzstd(const std::string& file) {
    std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> ds(ZSTD_createDStream(), ZSTD_freeDStream);
    if (!ds) return std::nullopt;
    ZSTD_inBuffer in{file.data(), file.size(), 0};
    return decode_all(file.size(), [&](char* out, size_t room) -> std::optional<std::pair<size_t, bool>> {
        ZSTD_outBuffer o{out, room, 0};
        size_t rc = ZSTD_decompressStream(ds.get(), &o, &in);
        if (ZSTD_isError(rc)) return std::nullopt;
        bool ended = rc == 0 && in.pos == in.size; // every frame decoded and flushed
        if (!ended && in.pos == in.size && o.pos < o.size) return std::nullopt; // cut short
        return std::pair{o.pos, ended};
    });
}

// A module file's ELF image: the file as it is, or decompressed when the kernel's build
// compressed its modules with xz (Debian 13's .ko.xz) or zstd (.ko.zst), the two that
// Debian's libkmod reads. nullopt for a damaged stream or an image past 256 MiB; a gzip file
// is returned as it is, and no ELF is found in it.
std::optional<std::string> module_image(std::string file) {
    static constexpr unsigned char xz_magic[] = {0xFD, '7', 'z', 'X', 'Z', 0x00};
    static constexpr unsigned char zstd_magic[] = {0x28, 0xB5, 0x2F, 0xFD};
    auto starts = [&](const auto& magic) {
        return file.size() >= sizeof magic && std::memcmp(file.data(), magic, sizeof magic) == 0;
    };
    if (starts(xz_magic)) return unxz(file);
    if (starts(zstd_magic)) return unzstd(file);
    return file;
}

// The GNU build-id of an ELF64 module file (compressed or not), from its
// .note.gnu.build-id section: the note the loaded module shows in /sys/module/M/notes.
std::optional<std::string> file_build_id(const std::string& path) {
    auto image = module_image(bytes_file(path));
    if (!image) return std::nullopt;
    const std::string& f = *image;
    if (f.size() < sizeof(Elf64_Ehdr) || std::memcmp(f.data(), ELFMAG, SELFMAG) != 0 ||
        f[EI_CLASS] != ELFCLASS64)
        return std::nullopt;
    Elf64_Ehdr eh;
    std::memcpy(&eh, f.data(), sizeof eh);
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff + size_t{eh.e_shnum} * sizeof(Elf64_Shdr) > f.size() ||
        eh.e_shstrndx >= eh.e_shnum)
        return std::nullopt;
    auto shdr = [&](size_t i) {
        Elf64_Shdr s;
        std::memcpy(&s, f.data() + eh.e_shoff + i * sizeof s, sizeof s);
        return s;
    };
    Elf64_Shdr strtab = shdr(eh.e_shstrndx);
    for (size_t i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr s = shdr(i);
        if (s.sh_type != SHT_NOTE || s.sh_offset + s.sh_size > f.size() ||
            strtab.sh_offset + s.sh_name >= f.size())
            continue;
        const char* name = f.data() + strtab.sh_offset + s.sh_name;
        if (std::strncmp(name, ".note.gnu.build-id", 19) != 0) continue;
        return build_id_from_notes(f.substr(s.sh_offset, s.sh_size));
    }
    return std::nullopt;
}

void read_params(const fs::path& module_dir, LoadedModule& m) {
    std::error_code ec;
    for (fs::directory_iterator it(module_dir / "parameters", ec), end; !ec && it != end; it.increment(ec))
        if (auto v = read_text(it->path())) m.params[it->path().filename().string()] = *v;
}

struct ModRef {
    kmod_module* m = nullptr;
    ~ModRef() {
        if (m) kmod_module_unref(m);
    }
};

// libkmod merges the `options` lines of every configuration file (and the kernel command
// line's NAME.PARAM=VALUE) for a module, as modprobe applies them.
Result<std::string> options_of(kmod_ctx* ctx, std::string_view name) {
    ModRef mod;
    std::string n(name);
    if (int rc = kmod_module_new_from_name(ctx, n.c_str(), &mod.m); rc < 0)
        return fail(Errc::io, std::string("libkmod: ") + std::strerror(-rc), n);
    const char* o = kmod_module_get_options(mod.m);
    return std::string(o ? o : "");
}

kmod_ctx* new_kmod_ctx(const char* const* config_paths);

class KmodModules final : public Modules {
  public:
    explicit KmodModules(std::string root) : root_(root), sys_module_(fs::path(root) / "sys/module") {}
    ~KmodModules() override {
        if (ctx_) kmod_unref(ctx_);
    }

    Result<std::optional<LoadedModule>> loaded(std::string_view name) override {
        std::string n(name);
        std::replace(n.begin(), n.end(), '-', '_');
        fs::path d = sys_module_ / n;
        std::error_code ec;
        // Built-in modules have a /sys/module entry too (for their parameters), but no
        // refcnt or initstate.
        if (!fs::is_directory(d, ec)) return std::optional<LoadedModule>{};
        LoadedModule m;
        m.name = n;
        m.builtin = !read_text(d / "initstate");
        if (m.builtin) {
            read_params(d, m);
            return std::optional(std::move(m));
        }
        // The lab saw refcnt read -1 for a moment while rmmod tears the module down.
        std::string ref_text = read_text(d / "refcnt").value_or("");
        if (ref_text == "-1") {
            m.refcnt = -1;
        } else {
            auto ref = parse_uint(ref_text, INT32_MAX);
            if (!ref) return fail(Errc::bad_value, "unreadable refcnt '" + ref_text + "'", (d / "refcnt").string());
            m.refcnt = static_cast<int>(*ref);
        }
        m.srcversion = read_text(d / "srcversion");
        m.version = read_text(d / "version");
        m.taint = read_text(d / "taint").value_or("");
        if (fs::exists(d / "notes/.note.gnu.build-id", ec))
            m.build_id = build_id_from_notes(bytes_file(d / "notes/.note.gnu.build-id"));
        read_params(d, m);
        return std::optional(std::move(m));
    }

    Result<ModuleFile> inspect(std::string_view path) override {
        std::string p(path);
        std::error_code ec;
        if (!fs::is_regular_file(p, ec)) return fail(Errc::not_found, "no such module file", p);
        ModRef mod;
        if (int rc = kmod_module_new_from_path(VBD_TRY(ctx()), p.c_str(), &mod.m); rc < 0)
            return fail(Errc::bad_value, std::string("not a module: ") + std::strerror(-rc), p);
        kmod_list* info = nullptr;
        if (int rc = kmod_module_get_info(mod.m, &info); rc < 0)
            return fail(Errc::bad_value, std::string("cannot read modinfo: ") + std::strerror(-rc), p);
        ModuleFile f;
        f.path = p;
        f.name = kmod_module_get_name(mod.m);
        kmod_list* l;
        kmod_list_foreach(l, info) {
            std::string key = kmod_module_info_get_key(l), value = kmod_module_info_get_value(l);
            if (key == "vermagic") f.vermagic = value;
            else if (key == "srcversion") f.srcversion = value;
            else if (key == "version") f.version = value;
            else if (key == "name") f.name = value;
            else if (key == "signer" && !value.empty()) f.signer = value;
            else if (key == "sig_key" && !value.empty()) f.sig_key = value;
            else if (key == "parm" || key == "parmtype") {
                // "parm" is NAME:description, "parmtype" NAME:TYPE; a parameter may lack either.
                auto colon = value.find(':');
                std::string pn = value.substr(0, colon);
                auto it = std::find_if(f.params.begin(), f.params.end(),
                                       [&](const ModuleParam& x) { return x.name == pn; });
                if (it == f.params.end()) it = f.params.insert(f.params.end(), ModuleParam{pn, ""});
                if (key == "parmtype" && colon != std::string::npos) it->type = value.substr(colon + 1);
            }
        }
        kmod_module_info_free_list(info);
        std::replace(f.name.begin(), f.name.end(), '-', '_');
        f.build_id = file_build_id(p);
        return f;
    }

    Result<std::string> resolve(std::string_view name) override {
        kmod_list* list = nullptr;
        std::string n(name);
        if (int rc = kmod_module_new_from_lookup(VBD_TRY(ctx()), n.c_str(), &list); rc < 0 || !list)
            return fail(Errc::not_found, "modprobe finds no module", n, "is it installed for this kernel?");
        kmod_module* m = kmod_module_get_module(list);
        const char* p = kmod_module_get_path(m);
        std::string out = p ? p : "";
        kmod_module_unref(m);
        kmod_module_unref_list(list);
        if (out.empty()) return fail(Errc::not_found, "module is built in or has no file", n);
        return out;
    }

    Result<std::string> config_options(std::string_view name) override { return options_of(VBD_TRY(ctx()), name); }

    Result<std::vector<std::string>> files(std::string_view name) override {
        std::vector<std::string> out;
        std::set<fs::path> seen; // /lib is /usr/lib on a merged-/usr system
        auto add = [&](const fs::path& p) {
            std::error_code ec;
            if (seen.insert(fs::weakly_canonical(p, ec)).second) out.push_back(p.string());
        };
        if (auto r = resolve(name)) add(*r);
        utsname u{};
        if (::uname(&u) != 0) return fail(Errc::io, "uname failed");
        std::string want(name);
        std::replace(want.begin(), want.end(), '-', '_');
        for (const char* base : {"lib/modules", "usr/lib/modules"}) {
            std::error_code ec;
            fs::path dir = fs::path(root_) / base / u.release;
            for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
                std::string f = it->path().filename().string();
                auto ko = f.find(".ko");
                if (ko == std::string::npos || !it->is_regular_file(ec)) continue;
                std::string ext = f.substr(ko), stem = f.substr(0, ko);
                std::replace(stem.begin(), stem.end(), '-', '_');
                if (stem == want && (ext == ".ko" || ext == ".ko.xz" || ext == ".ko.zst" || ext == ".ko.gz"))
                    add(it->path());
            }
        }
        return out;
    }

    Result<void> load(std::string_view path, const std::map<std::string, std::string>& params) override {
        std::string p(path), opts;
        for (const auto& [k, v] : params) opts += (opts.empty() ? "" : " ") + k + "=" + v;
        ModRef mod;
        if (int rc = kmod_module_new_from_path(VBD_TRY(ctx()), p.c_str(), &mod.m); rc < 0)
            return fail(Errc::io, std::string("cannot open module: ") + std::strerror(-rc), p);
        if (int rc = kmod_module_insert_module(mod.m, 0, opts.c_str()); rc < 0)
            return fail(rc == -EEXIST ? Errc::busy : Errc::io,
                        std::string("loading failed: ") + std::strerror(-rc), p,
                        rc == -ENOEXEC ? "the module was built for another kernel (see dmesg)" : "see dmesg");
        return {};
    }

    Result<void> unload(std::string_view name) override {
        std::string n(name);
        ModRef mod;
        if (int rc = kmod_module_new_from_name(VBD_TRY(ctx()), n.c_str(), &mod.m); rc < 0)
            return fail(Errc::io, std::string("cannot find module: ") + std::strerror(-rc), n);
        if (int rc = kmod_module_remove_module(mod.m, 0); rc < 0)
            return fail(rc == -EAGAIN || rc == -EBUSY || rc == -EWOULDBLOCK ? Errc::busy : Errc::io,
                        std::string("unloading failed: ") + std::strerror(-rc), n);
        return {};
    }

    Result<std::string> keep_copy(std::string_view path, std::string_view dir) override {
        std::error_code ec;
        fs::create_directories(std::string(dir), ec);
        if (ec) return fail(Errc::io, "cannot create " + std::string(dir) + ": " + ec.message());
        fs::path dest = fs::path(std::string(dir)) / fs::path(std::string(path)).filename();
        fs::copy_file(std::string(path), dest, fs::copy_options::overwrite_existing, ec);
        if (ec) return fail(Errc::io, "cannot copy module: " + ec.message(), std::string(path));
        return dest.string();
    }

  private:
    // libkmod's context (modprobe.d and the module indexes), made on first use: listing and
    // checking vbds read /sys/module only.
    Result<kmod_ctx*> ctx() {
        if (!ctx_) {
            ctx_ = new_kmod_ctx(nullptr);
            if (!ctx_) return fail(Errc::io, "libkmod: cannot create a context");
            kmod_load_resources(ctx_); // indexes are optional: lookups fall back to the text files
        }
        return ctx_;
    }

    kmod_ctx* ctx_ = nullptr;
    std::string root_;
    fs::path sys_module_;
};

// libkmod logs its errors to stderr by default; each one also reaches us as a return code.
kmod_ctx* new_kmod_ctx(const char* const* config_paths) {
    kmod_ctx* ctx = kmod_new(nullptr, config_paths);
    if (ctx) kmod_set_log_fn(ctx, [](void*, int, const char*, int, const char*, const char*, va_list) {}, nullptr);
    return ctx;
}

} // namespace

Result<std::string> modprobe_options(const std::vector<std::string>& config_dirs, std::string_view name) {
    std::vector<const char*> paths;
    for (const auto& d : config_dirs) paths.push_back(d.c_str());
    paths.push_back(nullptr);
    kmod_ctx* ctx = new_kmod_ctx(paths.data());
    if (!ctx) return fail(Errc::io, "libkmod: cannot create a context");
    auto r = options_of(ctx, name);
    kmod_unref(ctx);
    return r;
}

Result<std::unique_ptr<Modules>> open_kmod(std::string root) {
    return std::unique_ptr<Modules>(std::make_unique<KmodModules>(std::move(root)));
}

} // namespace vbd::local

extern "C" const vbd::local::KmodPart* vbdctl_kmod_part() {
    static const vbd::local::KmodPart p{VBDCTL_VERSION, &vbd::local::open_kmod, &vbd::local::modprobe_options};
    return &p;
}
