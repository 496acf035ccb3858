// The simulated blkfront: what xen-blkfront.c does when its backend changes state.

#include <doctest/doctest.h>

#include "frontend_model.hpp"

namespace {

using namespace vbd::sim;

const vbd::VbdId disk{3, 51712};
const std::string dev = "vbd-3-51712", fe = "/local/domain/3/device/vbd/51712",
                  be = "/local/domain/0/backend/vbd/3/51712";

struct Fixture {
    XenstoreModel xs;
    FrontendModel m;
    Fixture() {
        m.add_guest(3, "web");
        xs.write(be + "/sectors", "2048");
        xs.write(be + "/feature-persistent", "1");
    }
    std::string console_last() const {
        auto v = m.view(3, {51712});
        return v.console.empty() ? "" : v.console.back().second;
    }
};

} // namespace

TEST_CASE("backend Closing under a connected disk: the guest loses it and closes its end") {
    Fixture f;
    f.xs.write(fe + "/state", "4");
    CHECK(f.m.backend_closing(f.xs, disk, fe, 100) == FrontendStep::close);
    CHECK(f.m.find(dev)->disabled);
    CHECK(f.console_last().find("the disk is gone") != std::string::npos);
    f.m.close(f.xs, fe);
    CHECK(f.xs.read(fe + "/state") == "6");
    CHECK(f.m.view(3, {51712}).disks.at(0).disabled);
}

TEST_CASE("backend Closing before the frontend connected changes nothing on the guest") {
    Fixture f;
    f.xs.write(fe + "/state", "1");
    CHECK(f.m.backend_closing(f.xs, disk, fe, 100) == FrontendStep::none);
    CHECK((f.m.find(dev) == nullptr || !f.m.find(dev)->disabled));
}

TEST_CASE("blkfront decides persistent grants once, at its own connect, from the backend's key") {
    Fixture f;
    f.m.blkfront(dev).live = true;
    f.xs.write(fe + "/state", "1");
    CHECK(f.m.backend_initwait(f.xs, dev, fe) == FrontendStep::init);
    f.xs.write(fe + "/state", "3");
    CHECK(f.m.backend_connected(f.xs, disk, fe, be, 10) == FrontendStep::connect);
    f.m.connect(f.xs, dev, fe, be);
    CHECK(f.xs.read(fe + "/state") == "4");
    CHECK(f.m.find(dev)->persistent);
    // A later backend (rebound with feature_persistent=0) does not change blkfront's mind.
    f.xs.write(be + "/feature-persistent", "0");
    CHECK(f.m.backend_connected(f.xs, disk, fe, be, 20) == FrontendStep::none);
    CHECK(f.m.find(dev)->persistent);
    CHECK(f.console_last() == "Setting capacity to 2048");
}

TEST_CASE("a disabled disk's blkfront trips BUG_ON when its backend connects again") {
    Fixture f;
    f.xs.write(fe + "/state", "4");
    f.m.grant_left_mapped(disk, 5, 9);
    CHECK(f.m.view(3, {51712}).console.at(0).second == "backed has not unmapped grant: 9");
    CHECK(f.m.backend_connected(f.xs, disk, fe, be, 10) == FrontendStep::none);
    CHECK(f.console_last() == "kernel BUG at drivers/block/xen-blkfront.c:1081!");
}

TEST_CASE("a destroyed domain takes its guest and its blkfronts") {
    Fixture f;
    f.m.blkfront(dev).persistent = true;
    f.m.blkfront("vbd-30-51712").persistent = true;
    f.m.destroy(3);
    CHECK_FALSE(f.m.has_guest(3));
    CHECK(f.m.find(dev) == nullptr);
    CHECK(f.m.find("vbd-30-51712") != nullptr);
}
