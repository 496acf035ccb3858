// Health: classify() on hand-made samples, and check_rings() over the simulator.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "vbdctl/health.hpp"
#include "vbdctl/inventory.hpp"
#include "vbdctl/sim.hpp"

#include "temp_dir.hpp"

using vbd::Progress;
using vbd::RingSnapshot;

namespace {

RingSnapshot snap(uint32_t req, uint32_t rsp) { return RingSnapshot{req, req + 1, rsp, rsp + 1}; }

std::map<std::string, vbd::VbdCheck> by_name(std::vector<vbd::VbdCheck> checks) {
    std::map<std::string, vbd::VbdCheck> out;
    for (auto& c : checks) out.emplace(c.vbd.id.sysfs_name(), std::move(c));
    return out;
}

std::vector<vbd::VbdCheck> check_all(vbd::Host& host, unsigned samples = 3) {
    vbd::Inventory inv(host);
    auto vbds = inv.list(std::nullopt);
    REQUIRE(vbds.has_value());
    auto checks = vbd::check_rings(host, std::move(*vbds),
                                   vbd::CheckOptions{samples, std::chrono::milliseconds(200)});
    REQUIRE(checks.has_value());
    return std::move(*checks);
}

} // namespace

// A simulated world kept in dir, with one fault injected under the simulator's lock.
std::unique_ptr<vbd::sim::SimHost> world_with_fault(const TempDir& dir, const vbd::sim::Fault& f) {
    auto sim = vbd::sim::SimHost::open((dir.path / "sim.json").string());
    REQUIRE(sim.has_value());
    auto lock = (*sim)->host().state.lock();
    REQUIRE(lock.has_value());
    REQUIRE((*sim)->add_fault(f).has_value());
    return std::move(*sim);
}

TEST_CASE("classify") {
    SUBCASE("no samples: unknown") { CHECK(vbd::classify({}) == Progress::unknown); }
    SUBCASE("idle: nothing pending, nothing moving") {
        CHECK(vbd::classify({snap(10, 10)}) == Progress::idle);
        CHECK(vbd::classify({snap(10, 10), snap(10, 10), snap(10, 10)}) == Progress::idle);
    }
    SUBCASE("a single sample with pending requests is busy, never stuck") {
        CHECK(vbd::classify({snap(15, 10)}) == Progress::busy);
        CHECK(vbd::classify({snap(5, 0xFFFFFFF0u)}) == Progress::busy);
    }
    SUBCASE("busy: responses advance") {
        CHECK(vbd::classify({snap(15, 10), snap(20, 15), snap(25, 20)}) == Progress::busy);
        // Pending only at the start, then drained.
        CHECK(vbd::classify({snap(15, 10), snap(15, 15)}) == Progress::busy);
        // Nothing pending at either sample, but work was done in between.
        CHECK(vbd::classify({snap(10, 10), snap(30, 30)}) == Progress::busy);
        // Responses advance across the wrap.
        CHECK(vbd::classify({snap(4, 0xFFFFFFF0u), snap(20, 2)}) == Progress::busy);
    }
    SUBCASE("stuck: pending in every sample, no response") {
        CHECK(vbd::classify({snap(15, 10), snap(15, 10)}) == Progress::stuck);
        // The guest keeps submitting but the backend answers nothing.
        CHECK(vbd::classify({snap(15, 10), snap(16, 10), snap(18, 10)}) == Progress::stuck);
    }
    SUBCASE("stuck across the uint32 wrap") {
        CHECK(vbd::classify({snap(5, 0xFFFFFFF0u), snap(5, 0xFFFFFFF0u), snap(5, 0xFFFFFFF0u)}) ==
              Progress::stuck);
        CHECK(vbd::classify({snap(0xFFFFFFFEu, 0xFFFFFFF0u), snap(3, 0xFFFFFFF0u)}) ==
              Progress::stuck);
    }
    SUBCASE("not stuck when one sample had nothing pending") {
        CHECK(vbd::classify({snap(15, 10), snap(10, 10), snap(15, 10)}) != Progress::stuck);
    }
    CHECK(vbd::to_string(Progress::idle) == "idle");
    CHECK(vbd::to_string(Progress::busy) == "busy");
    CHECK(vbd::to_string(Progress::stuck) == "stuck");
    CHECK(vbd::to_string(Progress::unknown) == "unknown");
}

TEST_CASE("QueueCheck::ok and VbdCheck::ok") {
    vbd::QueueCheck q;
    q.consistent = true;
    q.progress = Progress::busy;
    CHECK(q.ok());
    q.progress = Progress::stuck;
    CHECK_FALSE(q.ok());
    q.progress = Progress::idle;
    q.consistent = false;
    CHECK_FALSE(q.ok());
    q.consistent = true;
    q.reason = "something";
    CHECK_FALSE(q.ok());
    vbd::VbdCheck v;
    CHECK(v.ok()); // nothing checked, nothing failed
    q.reason.clear();
    v.queues.push_back(q);
    CHECK(v.ok());
    q.progress = Progress::stuck;
    v.queues.push_back(q);
    CHECK_FALSE(v.ok());
}

TEST_CASE("check_rings over the default simulated world: all ok") {
    auto sim = vbd::sim::SimHost::open(std::nullopt);
    REQUIRE(sim.has_value());
    auto checks = by_name(check_all((*sim)->host()));
    REQUIRE(checks.size() == 6);
    for (const auto& [name, c] : checks) {
        CAPTURE(name);
        CHECK(c.ok());
        for (const auto& q : c.queues) {
            CAPTURE(q.queue);
            CAPTURE(q.reason);
            CHECK(q.samples.size() == 3);
            CHECK(q.consistent);
            CHECK(q.reason.empty());
            CHECK(q.progress != Progress::stuck);
            CHECK(q.progress != Progress::unknown);
        }
    }
    // The shapes of the default world (libvbdctl/sim/world.cpp World::make).
    CHECK(checks.at("vbd-1-51712").queues.size() == 1);
    CHECK(checks.at("vbd-1-51728").queues.size() == 4);
    CHECK(checks.at("vbd-2-51712").queues.size() == 1);
    CHECK(checks.at("vbd-2-51712").queues.at(0).ring_size == 128); // order 2
    CHECK(checks.at("vbd-2-51728").queues.size() == 2);
    CHECK(checks.at("vbd-2-51728").queues.at(0).ring_size == 64); // order 1
    CHECK(checks.at("vbd-3-51712").queues.at(0).ring_size == 32); // x86_32, one page
    // An idle guest, busy guests, and a frontend that never connected.
    for (const auto& q : checks.at("vbd-2-51728").queues) CHECK(q.progress == Progress::idle);
    CHECK(checks.at("vbd-1-51712").queues.at(0).progress == Progress::busy);
    CHECK(checks.at("vbd-2-51712").queues.at(0).progress == Progress::busy);
    CHECK(checks.at("vbd-4-51712").queues.empty());
    CHECK_FALSE(checks.at("vbd-4-51712").skipped.empty());
    for (const char* n : {"vbd-1-51712", "vbd-1-51728", "vbd-2-51712", "vbd-2-51728", "vbd-3-51712"})
        CHECK(checks.at(n).skipped.empty());
}

TEST_CASE("check_rings: a stalled ring is stuck and fails") {
    TempDir dir;
    auto sim = world_with_fault(dir, vbd::sim::Fault{"stall-ring", 1, 51712, 0, 0});
    auto& s = *sim;
    auto checks = by_name(check_all(s.host()));
    const auto& stalled = checks.at("vbd-1-51712");
    CHECK_FALSE(stalled.ok());
    REQUIRE(stalled.queues.size() == 1);
    const auto& q = stalled.queues[0];
    CHECK(q.consistent);
    CHECK(q.progress == Progress::stuck);
    CHECK(q.reason.starts_with("stuck"));
    CHECK(q.samples.size() == 3);
    for (const auto& smp : q.samples) {
        CHECK(smp.pending() > 0);
        CHECK(smp.rsp_prod == q.samples.front().rsp_prod);
    }
    // The other vbds are untouched.
    for (const char* n : {"vbd-1-51728", "vbd-2-51712", "vbd-2-51728", "vbd-3-51712"}) {
        CAPTURE(n);
        CHECK(checks.at(n).ok());
    }
}

TEST_CASE("check_rings: a corrupt ring is inconsistent and the reason names req_prod and rsp_prod") {
    TempDir dir;
    auto sim = world_with_fault(dir, vbd::sim::Fault{"corrupt-ring", 2, 51712, 0, 0});
    auto& s = *sim;
    auto checks = by_name(check_all(s.host()));
    const auto& bad = checks.at("vbd-2-51712");
    CHECK_FALSE(bad.ok());
    REQUIRE(bad.queues.size() == 1);
    const auto& q = bad.queues[0];
    CHECK_FALSE(q.consistent);
    CHECK(q.ring_size == 128);
    REQUIRE_FALSE(q.samples.empty());
    CHECK(q.samples.front().pending() > q.ring_size);
    CHECK(q.reason.find("req_prod") != std::string::npos);
    CHECK(q.reason.find("rsp_prod") != std::string::npos);
    CHECK(q.reason.find(std::to_string(q.samples.front().req_prod)) != std::string::npos);
    CHECK(q.reason.find(std::to_string(q.samples.front().rsp_prod)) != std::string::npos);
    for (const char* n : {"vbd-1-51712", "vbd-1-51728", "vbd-2-51728", "vbd-3-51712"}) {
        CAPTURE(n);
        CHECK(checks.at(n).ok());
    }
}

TEST_CASE("check_rings with one sample never calls a ring stuck") {
    TempDir dir;
    auto sim = world_with_fault(dir, vbd::sim::Fault{"stall-ring", 1, 51712, 0, 0});
    auto& s = *sim;
    auto checks = by_name(check_all(s.host(), 1));
    const auto& q = checks.at("vbd-1-51712").queues.at(0);
    CHECK(q.samples.size() == 1);
    CHECK(q.progress == Progress::busy);
    CHECK(checks.at("vbd-1-51712").ok());
}
