// Ring geometry (__RING_SIZE), wrap-safe snapshots, header decoding and protocols.

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "vbdctl/ring.hpp"

using vbd::Errc;
using vbd::Protocol;
using vbd::RingGeometry;
using vbd::RingSnapshot;

namespace {

// __RING_SIZE from xen/include/public/io/ring.h, written out independently:
// __RD32((_sz - offsetof(sring, ring)) / sizeof(entry)), a round down to a power of two.
uint32_t ref_ring_size(uint32_t bytes, uint32_t header, uint32_t entry) {
    uint32_t n = (bytes - header) / entry;
    uint32_t p = 1;
    while (p * 2 <= n) p *= 2;
    return n == 0 ? 0 : p;
}

} // namespace

TEST_CASE("entry sizes per ABI") {
    CHECK(vbd::entry_bytes(Protocol::x86_32) == 108u);
    CHECK(vbd::entry_bytes(Protocol::x86_64) == 112u);
}

TEST_CASE("ring sizes for orders 0..4 and both ABIs") {
    const uint32_t expected[] = {32, 64, 128, 256, 512};
    for (Protocol p : {Protocol::x86_32, Protocol::x86_64})
        for (unsigned order = 0; order <= vbd::max_ring_page_order; ++order) {
            CAPTURE(static_cast<int>(p));
            CAPTURE(order);
            RingGeometry g{p, order};
            CHECK(g.pages() == (1u << order));
            CHECK(g.size() == expected[order]);
            // And the size follows from the layout, not from "32 per page".
            CHECK(g.size() == ref_ring_size(4096u << order, 64, vbd::entry_bytes(p)));
        }
    CHECK(vbd::max_ring_page_order == 4u);
}

TEST_CASE("the layout computation is not a 32-per-page shortcut") {
    // These hypothetical entries give sizes other than 32 << order: a computation that
    // ignores the entry size would disagree with them.
    CHECK(ref_ring_size(4096, 64, 108) == 32);
    CHECK(ref_ring_size(4096, 64, 64) == 32);  // 63 entries -> 32
    CHECK(ref_ring_size(4096, 64, 60) == 64);  // 67 -> 64
    CHECK(ref_ring_size(4096, 64, 200) == 16); // 20 -> 16
    CHECK(ref_ring_size(4096 * 16, 64, 112) == 512); // 584 -> 512
    CHECK(ref_ring_size(4096 * 16, 64, 108) == 512); // 606 -> 512
    // The library's two ABIs match the reference at every order, and an order-4 ring of
    // 108-byte entries leaves 606 entries (not a power of two) before rounding.
    CHECK((4096u * 16 - 64) / vbd::entry_bytes(Protocol::x86_32) == 606u);
    CHECK((4096u * 16 - 64) / vbd::entry_bytes(Protocol::x86_64) == 584u);
}

TEST_CASE("to_string and parse_protocol") {
    CHECK(vbd::to_string(Protocol::x86_32) == "x86_32-abi");
    CHECK(vbd::to_string(Protocol::x86_64) == "x86_64-abi");
    CHECK(vbd::parse_protocol(std::nullopt) == Protocol::x86_32); // absent: backend default
    CHECK(vbd::parse_protocol(std::string_view("x86_32-abi")) == Protocol::x86_32);
    CHECK(vbd::parse_protocol(std::string_view("x86_64-abi")) == Protocol::x86_64);
    for (std::string_view bad : {"", "x86_64", "arm-abi", "X86_64-ABI", "x86_64-abi\n",
                                 "x86_32-abi ", "native"}) {
        CAPTURE(bad);
        auto r = vbd::parse_protocol(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == Errc::bad_value);
    }
    // Round trip.
    for (Protocol p : {Protocol::x86_32, Protocol::x86_64})
        CHECK(vbd::parse_protocol(vbd::to_string(p)) == p);
}

TEST_CASE("pending and consistency are wrap-safe") {
    SUBCASE("idle") {
        RingSnapshot s{100, 101, 100, 101};
        CHECK(s.pending() == 0u);
        CHECK(s.consistent(32));
    }
    SUBCASE("across the uint32 wrap") {
        RingSnapshot s;
        s.req_prod = 5;
        s.rsp_prod = 0xFFFFFFF0u;
        CHECK(s.pending() == 21u);
        CHECK(s.consistent(32));
        CHECK_FALSE(s.consistent(16));
    }
    SUBCASE("exactly full and one beyond") {
        RingSnapshot full{0xFFFFFFF0u + 32, 0, 0xFFFFFFF0u, 0};
        CHECK(full.pending() == 32u);
        CHECK(full.consistent(32));
        RingSnapshot over{0xFFFFFFF0u + 33, 0, 0xFFFFFFF0u, 0};
        CHECK(over.pending() == 33u);
        CHECK_FALSE(over.consistent(32));
    }
    SUBCASE("more requests than the ring holds") {
        RingSnapshot s{1000 + 600, 0, 1000, 0};
        CHECK_FALSE(s.consistent(512));
        CHECK(s.consistent(1024));
    }
    SUBCASE("responses ahead of requests") {
        RingSnapshot s{10, 0, 11, 0};
        CHECK(s.pending() == 0xFFFFFFFFu);
        CHECK_FALSE(s.consistent(512));
        RingSnapshot w{0xFFFFFFFEu, 0, 3, 0}; // rsp wrapped past req
        CHECK(w.pending() == 0xFFFFFFFBu);
        CHECK_FALSE(w.consistent(512));
    }
}

TEST_CASE("decode_ring_header reads four little-endian indices") {
    std::array<unsigned char, 64> page{};
    auto put = [&](unsigned off, uint32_t v) {
        for (unsigned i = 0; i < 4; ++i) page[off + i] = static_cast<unsigned char>(v >> (8 * i));
    };
    put(0, 0x04030201u);
    put(4, 0x08070605u);
    put(8, 0xFFFFFFF0u);
    put(12, 0x80000001u);
    page[16] = 0xAA; // beyond the header: must not matter
    RingSnapshot s = vbd::decode_ring_header(page.data());
    CHECK(s.req_prod == 0x04030201u);
    CHECK(s.req_event == 0x08070605u);
    CHECK(s.rsp_prod == 0xFFFFFFF0u);
    CHECK(s.rsp_event == 0x80000001u);
    CHECK(s == RingSnapshot{0x04030201u, 0x08070605u, 0xFFFFFFF0u, 0x80000001u});
    // Explicit byte order: byte 0 is the least significant.
    std::array<unsigned char, 16> one{};
    one[0] = 1;
    one[11] = 0x80;
    auto t = vbd::decode_ring_header(one.data());
    CHECK(t.req_prod == 1u);
    CHECK(t.rsp_prod == 0x80000000u);
    CHECK(t.req_event == 0u);
    CHECK(t.rsp_event == 0u);
}
