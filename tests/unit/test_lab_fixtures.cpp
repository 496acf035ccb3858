// The real adapters over sysfs trees captured from a real dom0 in the lab
// (tests/data/lab-sysfs, taken by tests/lab/run trace): what they read must be what
// the kernel showed in each state.

#include <doctest/doctest.h>

#include <string>

#include "adapters.hpp"

namespace {

std::string lab(const char* state) { return std::string(VBDCTL_TEST_DATA) + "/lab-sysfs/" + state; }

} // namespace

TEST_CASE("lab bound: both vbds bound, statistics present, refcnt 2 per vbd") {
    auto bus = vbd::local::make_sysfs_bus(lab("bound"));
    REQUIRE(bus->present());
    auto devs = bus->devices();
    REQUIRE(devs.has_value());
    CHECK(*devs == std::vector<std::string>{"console-1-0", "vbd-1-51728", "vbd-1-51744"});
    for (const char* name : {"vbd-1-51728", "vbd-1-51744"}) {
        CAPTURE(name);
        auto d = bus->device(name);
        REQUIRE(d.has_value());
        CHECK(d->bound());
        CHECK(d->driver == "vbd");
        CHECK(d->state == "Connected");
        auto st = bus->statistics(name);
        REQUIRE(st.has_value());
        CHECK(st->contains("rd_req"));
        CHECK(st->contains("wr_sect"));
        CHECK(d->physical_device.has_value());
    }
    CHECK(bus->driver_registered("vbd") == true);
    CHECK(bus->autoprobe() == true);
    CHECK(bus->bound_to("vbd") == std::vector<std::string>{"vbd-1-51728", "vbd-1-51744"});

    auto mods = vbd::local::open_kmod(lab("bound"));
    REQUIRE(mods.has_value());
    auto m = (*mods)->loaded("xen_blkback");
    REQUIRE(m.has_value());
    REQUIRE(m->has_value());
    CHECK((*m)->refcnt == 4);
    CHECK_FALSE((*m)->srcversion.has_value()); // the stock in-tree module has none
    CHECK((*m)->params.at("max_ring_page_order") == "4");
    CHECK((*m)->params.at("max_queues") == "2"); // 0 at load became the CPU count
    CHECK((*m)->params.size() == 8);
}

TEST_CASE("lab unbound: the device keeps state Connected and loses driver and statistics") {
    auto bus = vbd::local::make_sysfs_bus(lab("unbound"));
    auto d = bus->device("vbd-1-51728");
    REQUIRE(d.has_value());
    CHECK_FALSE(d->bound());
    CHECK(d->state == "Connected");
    CHECK(bus->statistics("vbd-1-51728")->empty());
    CHECK_FALSE(d->physical_device.has_value());
    CHECK(bus->bound_to("vbd") == std::vector<std::string>{"vbd-1-51744"});
    auto other = bus->device("vbd-1-51744");
    REQUIRE(other.has_value());
    CHECK(other->bound());
    auto mods = vbd::local::open_kmod(lab("unbound"));
    REQUIRE(mods.has_value());
    auto m = (*mods)->loaded("xen_blkback");
    REQUIRE(m.has_value());
    REQUIRE(m->has_value());
    CHECK((*m)->refcnt == 2);
}

TEST_CASE("lab unloaded: no driver, no module, devices still there") {
    auto bus = vbd::local::make_sysfs_bus(lab("unloaded"));
    CHECK(bus->driver_registered("vbd") == false);
    auto d = bus->device("vbd-1-51744");
    REQUIRE(d.has_value());
    CHECK_FALSE(d->bound());
    auto mods = vbd::local::open_kmod(lab("unloaded"));
    REQUIRE(mods.has_value());
    auto m = (*mods)->loaded("xen_blkback");
    REQUIRE(m.has_value());
    CHECK_FALSE(m->has_value());
}

TEST_CASE("lab updated: the out-of-tree module shows srcversion, version and taint") {
    auto mods = vbd::local::open_kmod(lab("updated"));
    REQUIRE(mods.has_value());
    auto m = (*mods)->loaded("xen-blkback"); // either spelling of the name
    REQUIRE(m.has_value());
    REQUIRE(m->has_value());
    CHECK((*m)->srcversion == "1BDBBB32ADC08A1E13DB467");
    CHECK((*m)->version == "vbdctl-lab-1");
    CHECK((*m)->taint == "OE");
    CHECK((*m)->refcnt == 4);
}
