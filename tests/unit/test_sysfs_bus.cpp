// The sysfs BackendBus adapter (libvbdctl/src/local/sysfs_bus.cpp) over fixture trees shaped
// like the lab's /sys/bus/xen-backend (tests/data/sysfs-{bound,unbound,rmmod}). Every test
// works on a copy in a temporary directory, so the checked-in trees are never written.

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "adapters.hpp" // libvbdctl/src/local: vbd::local::make_sysfs_bus

#ifndef VBDCTL_TEST_DATA
#error "VBDCTL_TEST_DATA must name tests/data"
#endif

namespace fs = std::filesystem;
using vbd::Errc;

namespace {

const fs::path data_dir = VBDCTL_TEST_DATA;

// A copy of one fixture tree, removed at the end of the test.
struct Fixture {
    fs::path root;
    explicit Fixture(const std::string& name) {
        std::string tmpl = (fs::temp_directory_path() / "vbdctl-sysfs-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        root = tmpl;
        fs::copy(data_dir / name, root, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    }
    ~Fixture() {
        std::error_code ec;
        fs::remove_all(root, ec);
    }
    fs::path bus() const { return root / "sys/bus/xen-backend"; }
    std::string read(const fs::path& rel) const {
        std::ifstream in(bus() / rel);
        REQUIRE(in.good());
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
};

} // namespace

TEST_CASE("fixture trees are what the tests assume") {
    // Guards the fixtures themselves (a lost symlink would make the bound tests vacuous).
    fs::path dev = data_dir / "sysfs-bound/sys/bus/xen-backend/devices/vbd-1-51728";
    REQUIRE(fs::is_symlink(dev / "driver"));
    CHECK(fs::read_symlink(dev / "driver") == "../../../../bus/xen-backend/drivers/vbd");
    CHECK(fs::equivalent(dev / "driver", data_dir / "sysfs-bound/sys/bus/xen-backend/drivers/vbd"));
    CHECK_FALSE(fs::exists(data_dir / "sysfs-unbound/sys/bus/xen-backend/devices/vbd-1-51728/driver"));
    CHECK(fs::is_regular_file(data_dir / "sysfs-bound/sys/bus/xen-backend/drivers/vbd/bind"));
    CHECK(fs::file_size(data_dir / "sysfs-bound/sys/bus/xen-backend/drivers/vbd/bind") == 0);
    CHECK(fs::file_size(data_dir / "sysfs-unbound/sys/bus/xen-backend/drivers/vbd/unbind") == 0);
    CHECK_FALSE(fs::exists(data_dir / "sysfs-rmmod/sys/bus/xen-backend/drivers/vbd"));
}

TEST_CASE("bound device") {
    Fixture fx("sysfs-bound");
    auto bus = vbd::local::make_sysfs_bus(fx.root.string());
    CHECK(bus->present());

    auto devs = bus->devices();
    REQUIRE(devs.has_value());
    CHECK(*devs == std::vector<std::string>{"vbd-1-51728"});

    auto d = bus->device("vbd-1-51728");
    REQUIRE(d.has_value());
    CHECK(d->name == "vbd-1-51728");
    CHECK(d->state == "Connected");
    CHECK(d->driver == "vbd");
    CHECK(d->bound());
    CHECK(d->physical_device == "7:0");
    const std::map<std::string, uint64_t> stats = {
        {"oo_req", 0},      {"rd_req", 1534},   {"wr_req", 16384},   {"f_req", 12},
        {"ds_req", 3},      {"rd_sect", 98176}, {"wr_sect", 131072},
    };
    CHECK(bus->statistics("vbd-1-51728") == stats);

    CHECK(bus->driver_registered("vbd") == true);
    CHECK(bus->driver_registered("vif") == false);
    CHECK(bus->bound_to("vbd") == std::vector<std::string>{"vbd-1-51728"});
    CHECK(bus->bound_to("vif") == std::vector<std::string>{});
    CHECK(bus->autoprobe() == true);
}

TEST_CASE("unbound device keeps only the bus attributes") {
    Fixture fx("sysfs-unbound");
    auto bus = vbd::local::make_sysfs_bus(fx.root.string());
    CHECK(bus->present());
    auto d = bus->device("vbd-1-51728");
    REQUIRE(d.has_value());
    CHECK(d->state == "Connected"); // the state stays Connected while unbound
    CHECK_FALSE(d->driver.has_value());
    CHECK_FALSE(d->bound());
    CHECK_FALSE(d->physical_device.has_value());
    CHECK(bus->statistics("vbd-1-51728")->empty());
    CHECK(bus->driver_registered("vbd") == true);
    CHECK(bus->bound_to("vbd") == std::vector<std::string>{});
}

TEST_CASE("after rmmod the driver is not registered") {
    Fixture fx("sysfs-rmmod");
    auto bus = vbd::local::make_sysfs_bus(fx.root.string());
    CHECK(bus->present());
    CHECK(bus->driver_registered("vbd") == false);
    auto d = bus->device("vbd-1-51728");
    REQUIRE(d.has_value());
    CHECK_FALSE(d->bound());
}

TEST_CASE("bind and unbind write the device name to the driver's files") {
    Fixture fx("sysfs-bound");
    auto bus = vbd::local::make_sysfs_bus(fx.root.string());
    REQUIRE(bus->unbind("vbd", "vbd-1-51728").has_value());
    CHECK(fx.read("drivers/vbd/unbind") == "vbd-1-51728");
    CHECK(fx.read("drivers/vbd/bind").empty());
    REQUIRE(bus->bind("vbd", "vbd-1-51728").has_value());
    CHECK(fx.read("drivers/vbd/bind") == "vbd-1-51728");
    // The checked-in fixture is untouched.
    CHECK(fs::file_size(data_dir / "sysfs-bound/sys/bus/xen-backend/drivers/vbd/bind") == 0);
    CHECK(fs::file_size(data_dir / "sysfs-bound/sys/bus/xen-backend/drivers/vbd/unbind") == 0);
}

TEST_CASE("bind fails with io when the driver is gone") {
    Fixture fx("sysfs-rmmod");
    auto bus = vbd::local::make_sysfs_bus(fx.root.string());
    auto r = bus->bind("vbd", "vbd-1-51728");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::io);
    CHECK_FALSE(fs::exists(fx.bus() / "drivers/vbd/bind")); // not created by the write
}

TEST_CASE("set_autoprobe writes 0 and 1") {
    Fixture fx("sysfs-bound");
    auto bus = vbd::local::make_sysfs_bus(fx.root.string());
    REQUIRE(bus->set_autoprobe(false).has_value());
    CHECK(fx.read("drivers_autoprobe").starts_with("0"));
    CHECK(bus->autoprobe() == false);
    REQUIRE(bus->set_autoprobe(true).has_value());
    CHECK(bus->autoprobe() == true);
}

TEST_CASE("device names that escape the devices directory are rejected") {
    Fixture fx("sysfs-bound");
    auto bus = vbd::local::make_sysfs_bus(fx.root.string());
    for (const char* bad : {"../x", "..", ".", "", "vbd-1-51728/../../drivers", "/etc"}) {
        CAPTURE(std::string(bad));
        auto r = bus->device(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == Errc::invalid_argument);
    }
    auto missing = bus->device("vbd-1-51712");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("a missing bus is not present") {
    std::string tmpl = (fs::temp_directory_path() / "vbdctl-nobus-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    auto bus = vbd::local::make_sysfs_bus(tmpl);
    CHECK_FALSE(bus->present());
    auto devs = bus->devices();
    REQUIRE(devs.has_value());
    CHECK(devs->empty());
    CHECK(bus->driver_registered("vbd") == false);
    auto d = bus->device("vbd-1-51728");
    REQUIRE_FALSE(d.has_value());
    CHECK(d.error().code == Errc::not_found);
    CHECK_FALSE(bus->autoprobe().has_value());
    std::error_code ec;
    fs::remove_all(tmpl, ec);
}
