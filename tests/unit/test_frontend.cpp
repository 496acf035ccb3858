// parse_frontend_rings: the frontend's ring keys read with blkback's connect_ring() rules.

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vbdctl/inventory.hpp"

using vbd::Errc;
using vbd::FrontendRings;
using vbd::Protocol;

namespace {

using Nodes = std::map<std::string, std::string>;

// A map-backed NodeLookup that also records which keys were asked for.
struct Frontend {
    Nodes nodes;
    std::vector<std::string> asked;

    vbd::Result<FrontendRings> parse() {
        vbd::NodeLookup lookup = [this](const std::string& rel) -> std::optional<std::string> {
            asked.push_back(rel);
            auto it = nodes.find(rel);
            if (it == nodes.end()) return std::nullopt;
            return it->second;
        };
        return vbd::parse_frontend_rings(lookup);
    }
};

void require_bad(Nodes nodes, const std::string& why) {
    CAPTURE(why);
    Frontend fe{std::move(nodes), {}};
    auto r = fe.parse();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::bad_value);
    CHECK_FALSE(r.error().what.empty());
}

} // namespace

TEST_CASE("single page and single queue") {
    Frontend fe{{{"protocol", "x86_64-abi"}, {"ring-ref", "8"}, {"event-channel", "21"},
                 {"state", "4"}, {"feature-persistent", "1"}},
                {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    CHECK(r->geometry.protocol == Protocol::x86_64);
    CHECK(r->geometry.page_order == 0u);
    CHECK(r->geometry.size() == 32u);
    REQUIRE(r->queues.size() == 1);
    CHECK(r->queues[0].ring_refs == std::vector<uint32_t>{8});
    CHECK(r->queues[0].event_channel == 21u);
}

TEST_CASE("absent protocol is x86_32; absent event-channel fails as connect_ring fails") {
    Frontend fe{{{"ring-ref", "4294967295"}, {"event-channel", "3"}}, {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    CHECK(r->geometry.protocol == Protocol::x86_32);
    REQUIRE(r->queues.size() == 1);
    CHECK(r->queues[0].ring_refs == std::vector<uint32_t>{4294967295u});
    // read_per_ring_refs: "reading %s/event-channel" is xenbus_dev_fatal (Linux 6.1).
    require_bad({{"ring-ref", "8"}}, "event-channel missing");
    require_bad({{"multi-queue-num-queues", "2"}, {"queue-0/ring-ref", "8"}, {"queue-0/event-channel", "1"},
                 {"queue-1/ring-ref", "9"}},
                "queue-1/event-channel missing");
}

TEST_CASE("multi-page ring: ring-page-order=2 reads ring-ref0..3") {
    Frontend fe{{{"protocol", "x86_64-abi"},
                 {"ring-page-order", "2"},
                 {"ring-ref0", "100"},
                 {"ring-ref1", "101"},
                 {"ring-ref2", "102"},
                 {"ring-ref3", "103"},
                 {"ring-ref4", "999"}, // beyond 1<<order: not part of the ring
                 {"ring-ref", "7"},    // stale single-page key: ignored when the order is present
                 {"event-channel", "30"}},
                {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    CHECK(r->geometry.page_order == 2u);
    CHECK(r->geometry.pages() == 4u);
    CHECK(r->geometry.size() == 128u);
    REQUIRE(r->queues.size() == 1);
    CHECK(r->queues[0].ring_refs == std::vector<uint32_t>{100, 101, 102, 103});
    CHECK(r->queues[0].event_channel == 30u);
}

TEST_CASE("ring-page-order=0 uses ring-ref0 and not ring-ref") {
    Frontend fe{{{"ring-page-order", "0"}, {"ring-ref0", "11"}, {"ring-ref", "12"}, {"event-channel", "9"}}, {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    REQUIRE(r->queues.size() == 1);
    CHECK(r->queues[0].ring_refs == std::vector<uint32_t>{11});
}

TEST_CASE("ring-page-order=4 (the maximum) reads 16 refs") {
    Nodes n{{"ring-page-order", "4"}, {"event-channel", "9"}};
    std::vector<uint32_t> want;
    for (uint32_t i = 0; i < 16; ++i) {
        n["ring-ref" + std::to_string(i)] = std::to_string(500 + i);
        want.push_back(500 + i);
    }
    Frontend fe{n, {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    CHECK(r->geometry.size() == 512u);
    REQUIRE(r->queues.size() == 1);
    CHECK(r->queues[0].ring_refs == want);
}

TEST_CASE("a stale ring-ref0 is ignored when ring-page-order is absent") {
    Frontend fe{{{"protocol", "x86_64-abi"},
                 {"ring-ref", "42"},
                 {"ring-ref0", "100"},
                 {"ring-ref1", "101"},
                 {"event-channel", "5"}},
                {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    CHECK(r->geometry.page_order == 0u);
    REQUIRE(r->queues.size() == 1);
    CHECK(r->queues[0].ring_refs == std::vector<uint32_t>{42});
}

TEST_CASE("multi-queue: queue-N/ keys") {
    Frontend fe{{{"protocol", "x86_64-abi"},
                 {"multi-queue-num-queues", "2"},
                 {"ring-page-order", "2"},
                 {"queue-0/ring-ref0", "8"},
                 {"queue-0/ring-ref1", "9"},
                 {"queue-0/ring-ref2", "10"},
                 {"queue-0/ring-ref3", "11"},
                 {"queue-0/event-channel", "20"},
                 {"queue-1/ring-ref0", "12"},
                 {"queue-1/ring-ref1", "13"},
                 {"queue-1/ring-ref2", "14"},
                 {"queue-1/ring-ref3", "15"},
                 {"queue-1/event-channel", "22"},
                 // Top-level keys of an earlier single-queue frontend: ignored.
                 {"ring-ref0", "1"},
                 {"event-channel", "3"}},
                {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    CHECK(r->geometry.page_order == 2u);
    REQUIRE(r->queues.size() == 2);
    CHECK(r->queues[0].ring_refs == std::vector<uint32_t>{8, 9, 10, 11});
    CHECK(r->queues[0].event_channel == 20u);
    CHECK(r->queues[1].ring_refs == std::vector<uint32_t>{12, 13, 14, 15});
    CHECK(r->queues[1].event_channel == 22u);
}

TEST_CASE("multi-queue with single-page rings as the lab's order-0 frontend has") {
    Frontend fe{{{"multi-queue-num-queues", "2"},
                 {"queue-0/ring-ref", "8"},
                 {"queue-0/event-channel", "20"},
                 {"queue-1/ring-ref", "9"},
                 {"queue-1/event-channel", "21"}},
                {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    REQUIRE(r->queues.size() == 2);
    CHECK(r->queues[0].ring_refs == std::vector<uint32_t>{8});
    CHECK(r->queues[1].ring_refs == std::vector<uint32_t>{9});
    CHECK(r->queues[1].event_channel == 21u);
}

TEST_CASE("multi-queue-num-queues=1 uses the top-level keys") {
    Frontend fe{{{"multi-queue-num-queues", "1"},
                 {"ring-ref", "77"},
                 {"event-channel", "9"},
                 {"queue-0/ring-ref", "55"}},
                {}};
    auto r = fe.parse();
    REQUIRE(r.has_value());
    REQUIRE(r->queues.size() == 1);
    CHECK(r->queues[0].ring_refs == std::vector<uint32_t>{77});
    CHECK(r->queues[0].event_channel == 9u);
    for (const auto& k : fe.asked) CHECK_FALSE(k.starts_with("queue-"));
}

TEST_CASE("malformed frontends are bad_value and not crashes") {
    require_bad({}, "no keys at all: ring-ref missing");
    require_bad({{"event-channel", "3"}}, "ring-ref missing");
    require_bad({{"ring-ref", "abc"}}, "non-numeric ring-ref");
    require_bad({{"ring-ref", ""}}, "empty ring-ref");
    require_bad({{"ring-ref", "-1"}}, "negative ring-ref");
    require_bad({{"ring-ref", "4294967296"}}, "ring-ref beyond uint32");
    require_bad({{"ring-ref", "8"}, {"event-channel", "x"}}, "non-numeric event-channel");
    require_bad({{"ring-page-order", "5"}, {"ring-ref0", "1"}}, "ring-page-order 5");
    require_bad({{"ring-page-order", "x"}, {"ring-ref", "1"}}, "ring-page-order x");
    require_bad({{"ring-page-order", "-1"}, {"ring-ref", "1"}}, "ring-page-order -1");
    require_bad({{"ring-page-order", "4294967296"}, {"ring-ref", "1"}}, "huge ring-page-order");
    require_bad({{"ring-page-order", "2"}, {"ring-ref0", "1"}, {"ring-ref1", "2"}, {"ring-ref3", "4"}},
                "ring-ref2 missing");
    require_bad({{"ring-page-order", "1"}, {"ring-ref", "1"}}, "order present but only ring-ref");
    require_bad({{"multi-queue-num-queues", "0"}, {"ring-ref", "1"}}, "zero queues");
    require_bad({{"multi-queue-num-queues", "abc"}, {"ring-ref", "1"}}, "queues abc");
    require_bad({{"multi-queue-num-queues", "100000"}, {"ring-ref", "1"}}, "queues 100000");
    require_bad({{"multi-queue-num-queues", "-2"}, {"ring-ref", "1"}}, "queues -2");
    require_bad({{"protocol", "sparc-abi"}, {"ring-ref", "1"}}, "unknown protocol");
    require_bad({{"multi-queue-num-queues", "2"},
                 {"queue-0/ring-ref", "8"},
                 {"queue-0/event-channel", "20"},
                 {"queue-1/event-channel", "21"}},
                "queue-1/ring-ref missing");
    require_bad({{"multi-queue-num-queues", "2"},
                 {"ring-ref", "8"},
                 {"event-channel", "20"}},
                "multi-queue but only top-level keys");
}

TEST_CASE("errors name the offending key") {
    Frontend fe{{{"multi-queue-num-queues", "2"}, {"queue-0/ring-ref", "8"}, {"queue-0/event-channel", "20"}}, {}};
    auto r = fe.parse();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what.find("queue-1/ring-ref") != std::string::npos);
}
