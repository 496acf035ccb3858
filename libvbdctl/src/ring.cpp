#include "vbdctl/ring.hpp"

#include <bit>

namespace vbd {

namespace {
constexpr unsigned page_bytes = 4096;
constexpr unsigned header_bytes = 64; // the sring header: four indices plus padding
} // namespace

std::string_view to_string(Protocol p) {
    return p == Protocol::x86_32 ? "x86_32-abi" : "x86_64-abi";
}

Result<Protocol> parse_protocol(std::optional<std::string_view> text) {
    if (!text) return Protocol::x86_32; // blkback's BLKIF_PROTOCOL_DEFAULT on x86
    if (*text == "x86_32-abi") return Protocol::x86_32;
    if (*text == "x86_64-abi") return Protocol::x86_64;
    return fail(Errc::bad_value, "unknown protocol '" + std::string(*text) + "'");
}

unsigned entry_bytes(Protocol p) {
    // sizeof(union blkif_x86_{32,64}_sring_entry): the largest of request and response;
    // 32-bit packs the 64-bit ids and sector numbers without padding.
    return p == Protocol::x86_32 ? 108 : 112;
}

uint32_t RingGeometry::size() const {
    uint32_t entries = (pages() * page_bytes - header_bytes) / entry_bytes(protocol);
    return std::bit_floor(entries);
}

RingSnapshot decode_ring_header(const unsigned char* p) {
    auto le32 = [p](unsigned off) {
        return uint32_t{p[off]} | uint32_t{p[off + 1]} << 8 | uint32_t{p[off + 2]} << 16 |
               uint32_t{p[off + 3]} << 24;
    };
    return RingSnapshot{le32(0), le32(4), le32(8), le32(12)};
}

} // namespace vbd
