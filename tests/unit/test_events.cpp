// vbd::EventStream over the simulated host: xenstore's changes and the kernel's uevents in
// one stream, in the order Linux 6.1 makes them (drivers/base/dd.c, kernel/module/main.c).

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sim_fixture.hpp"
#include "vbdctl/events.hpp"

namespace {

using K = vbd::VbdEvent::Kind;

struct Seen {
    K kind;
    std::string vbd; // "" for the module
    std::string previous, value;
    bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& o, const Seen& s) {
    return o << vbd::to_string(s.kind) << " " << s.vbd << " " << s.previous << "->" << s.value;
}

/// Every event until nothing happens for a (virtual) second.
std::vector<Seen> drain(vbd::Host& h, vbd::EventStream& es) {
    std::vector<Seen> out;
    while (true) {
        auto e = es.next(h.clock.now() + vbd::Millis(1000));
        REQUIRE(e.has_value());
        if (!*e) return out;
        const auto& v = **e;
        out.push_back({v.kind, v.vbd ? v.vbd->sysfs_name() : "", v.previous.value_or("-"), v.value.value_or("-")});
    }
}

} // namespace

TEST_CASE("an unbind is an event though it writes nothing to xenstore; a bind follows its probe's InitWait") {
    SimWorld w(true);
    vbd::EventStream es(*w.h, std::nullopt, vbd::VbdId{1, 51712});
    REQUIRE(es.start().has_value());
    CHECK(drain(*w.h, es).empty()); // the watches' first firing is no change
    REQUIRE(w.h->bus.unbind("vbd", "vbd-1-51712").has_value());
    REQUIRE(w.h->bus.unbind("vbd", "vbd-2-51712").has_value()); // another guest's: not shown
    CHECK(drain(*w.h, es) == std::vector<Seen>{{K::unbind, "vbd-1-51712", "vbd", "-"}});
    REQUIRE(w.h->bus.bind("vbd", "vbd-1-51712").has_value());
    CHECK(drain(*w.h, es) == std::vector<Seen>{{K::backend_state, "vbd-1-51712", "4", "2"},
                                               {K::bind, "vbd-1-51712", "-", "vbd"},
                                               {K::backend_state, "vbd-1-51712", "2", "4"}});
}

TEST_CASE("a reload: the module's remove, then each probe's bind, then the module's add (after its init)") {
    SimWorld w(true);
    auto& h = *w.h;
    vbd::EventStream es(h, 1, std::nullopt);
    REQUIRE(es.start().has_value());
    for (const char* d : {"vbd-1-51712", "vbd-1-51728"}) REQUIRE(h.bus.unbind("vbd", d).has_value());
    for (const char* d : {"vbd-2-51712", "vbd-2-51728", "vbd-3-51712"}) (void)h.bus.unbind("vbd", d);
    auto first = drain(h, es); // and the old instances drain
    CHECK(first == std::vector<Seen>{{K::unbind, "vbd-1-51712", "vbd", "-"}, {K::unbind, "vbd-1-51728", "vbd", "-"}});
    auto before = h.modules.loaded("xen_blkback");
    REQUIRE((before && *before));
    // Every vbd must be unbound for rmmod: the other guests' too.
    auto devices = h.bus.devices();
    REQUIRE(devices.has_value());
    for (const auto& name : *devices)
        if (h.bus.device(name)->bound()) REQUIRE(h.bus.unbind("vbd", name).has_value());
    (void)drain(h, es);
    REQUIRE(h.modules.unload("xen_blkback").has_value());
    auto path = h.modules.resolve("xen_blkback");
    REQUIRE(path.has_value());
    REQUIRE(h.modules.load(*path, {}).has_value()); // autoprobe on: the init probes every device
    auto after = h.modules.loaded("xen_blkback");
    REQUIRE((after && *after));
    auto seen = drain(h, es);
    REQUIRE(seen.size() >= 4);
    CHECK(seen[0] == Seen{K::module_remove, "", (*before)->srcversion.value_or("-"), "-"});
    // Each probe writes InitWait, then the driver core sends bind; the module's add comes last.
    CHECK(seen[1] == Seen{K::backend_state, "vbd-1-51712", "4", "2"});
    CHECK(seen[2] == Seen{K::bind, "vbd-1-51712", "-", "vbd"});
    CHECK(seen[3] == Seen{K::backend_state, "vbd-1-51728", "4", "2"});
    CHECK(seen[4] == Seen{K::bind, "vbd-1-51728", "-", "vbd"});
    CHECK(seen[5] == Seen{K::module_add, "", "-", (*after)->srcversion.value_or("-")});
}
