// The step engine, the re-attach rules and the simulator's lock, over the simulated host.

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vbdctl/reattach.hpp"
#include "sim_fixture.hpp"
#include "vbdctl/steps.hpp"
#include "vbdctl/upgrade.hpp"

namespace {

// The simulated xenstore, counting the watches set, the events its waits return and the
// requests that read.
class CountingXenStore final : public vbd::XenStore {
  public:
    explicit CountingXenStore(vbd::XenStore& x) : x_(x) {}
    vbd::Result<std::optional<std::string>> read(std::string_view p, vbd::Txn t) override {
        ++reads;
        paths.emplace_back(p);
        return x_.read(p, t);
    }
    vbd::Result<std::vector<std::optional<std::string>>> read_many(std::string_view d,
                                                                    std::span<const std::string_view> k,
                                                                    vbd::Txn t) override {
        reads += k.size(); // one request per key on the wire
        for (auto key : k) paths.push_back(std::string(d) + "/" + std::string(key));
        return x_.read_many(d, k, t);
    }
    vbd::Result<std::optional<std::vector<std::string>>> directory(std::string_view p, vbd::Txn t) override {
        ++reads;
        paths.emplace_back(p);
        return x_.directory(p, t);
    }
    vbd::Result<void> write(std::string_view p, std::string_view v, vbd::Txn t) override { return x_.write(p, v, t); }
    vbd::Result<void> remove(std::string_view p, vbd::Txn t) override { return x_.remove(p, t); }
    vbd::Result<vbd::Txn> transaction_start() override { return x_.transaction_start(); }
    vbd::Result<bool> transaction_end(vbd::Txn t, bool abort) override { return x_.transaction_end(t, abort); }
    vbd::Result<void> watch(std::string_view p, std::string_view tok) override {
        ++watches;
        return x_.watch(p, tok);
    }
    vbd::Result<void> unwatch(std::string_view p, std::string_view tok) override { return x_.unwatch(p, tok); }
    vbd::Result<std::optional<vbd::WatchEvent>> wait(vbd::Millis deadline) override {
        auto e = x_.wait(deadline);
        if (e && *e) ++events;
        return e;
    }
    size_t watches = 0, events = 0, reads = 0;
    std::vector<std::string> paths; // what each read request asked for
    size_t reads_under(std::string_view part) const {
        return static_cast<size_t>(std::ranges::count_if(paths, [&](const auto& p) { return p.find(part) != p.npos; }));
    }

  private:
    vbd::XenStore& x_;
};

// A world of guests x vbds_per_guest served by backend_domid, each connect taking connect_ms.
void init_world(SimWorld& s, unsigned guests, unsigned vbds_per_guest, unsigned connect_ms = 4,
                uint32_t backend_domid = 0) {
    vbd::sim::InitOptions o;
    o.backend_domid = backend_domid;
    o.guests = guests;
    o.vbds_per_guest = vbds_per_guest;
    o.connect_ms = connect_ms;
    REQUIRE(s.owner->init(o).has_value());
}

// Unbinds every vbd, as a killed run leaves them; returns them.
std::vector<vbd::VbdId> unbind_every_vbd(SimWorld& s) {
    vbd::Inventory inv(*s.h);
    auto ids = inv.vbd_ids(std::nullopt);
    REQUIRE(ids.has_value());
    for (auto id : *ids) REQUIRE(s.h->bus.unbind("vbd", id.sysfs_name()).has_value());
    return *ids;
}

// The simulated bus, noting a counter (watches set, reads sent) when the first bind came,
// and counting the devices it reads.
class FirstBindBus final : public vbd::BackendBus {
  public:
    FirstBindBus(vbd::BackendBus& b, const size_t& counter) : b_(b), counter_(counter) {}
    bool present() override { return b_.present(); }
    vbd::Result<std::vector<std::string>> devices() override { return b_.devices(); }
    vbd::Result<vbd::BusDevice> device(std::string_view n) override {
        ++device_reads;
        return b_.device(n);
    }
    vbd::Result<std::map<std::string, uint64_t>> statistics(std::string_view n) override { return b_.statistics(n); }
    vbd::Result<bool> driver_registered(std::string_view d) override { return b_.driver_registered(d); }
    vbd::Result<std::vector<std::string>> bound_to(std::string_view d) override { return b_.bound_to(d); }
    vbd::Result<void> bind(std::string_view d, std::string_view n) override {
        if (!at_first_bind) at_first_bind = counter_;
        return b_.bind(d, n);
    }
    vbd::Result<void> unbind(std::string_view d, std::string_view n) override { return b_.unbind(d, n); }
    vbd::Result<bool> autoprobe() override { return b_.autoprobe(); }
    vbd::Result<void> set_autoprobe(bool on) override { return b_.set_autoprobe(on); }
    std::optional<size_t> at_first_bind; // the counter then
    size_t device_reads = 0;

  private:
    vbd::BackendBus& b_;
    const size_t& counter_;
};

// The world's host with another xenstore or ring reader (a counting one).
vbd::Host with(vbd::Host& h, vbd::XenStore& xs) {
    return {xs, h.bus, h.modules, h.kernel, h.rings, h.toolstack, h.state, h.clock, h.audit, h.runs, h.events};
}
vbd::Host with(vbd::Host& h, vbd::RingReader& rings) {
    return {h.xenstore, h.bus, h.modules, h.kernel, rings, h.toolstack, h.state, h.clock, h.audit, h.runs, h.events};
}
vbd::Host with(vbd::Host& h, vbd::BackendBus& bus) {
    return {h.xenstore, bus, h.modules, h.kernel, h.rings, h.toolstack, h.state, h.clock, h.audit, h.runs, h.events};
}

// Unbinds every vbd of such a world and binds them again through reconnect() with
// timeout, counting.
struct Rebound {
    std::vector<vbd::Reattached> result;
    size_t vbds = 0, watches = 0, events = 0, reads = 0;
};
Rebound rebind_all(SimWorld& s, uint32_t backend_domid, unsigned guests, unsigned vbds_per_guest,
                   vbd::Millis timeout = vbd::Millis(60000), unsigned connect_ms = 4, bool check_rings = true) {
    init_world(s, guests, vbds_per_guest, connect_ms, backend_domid);
    auto ids = unbind_every_vbd(s);
    REQUIRE(vbd::wait_drained(*s.h, ids, vbd::Millis(60000)).has_value());
    CountingXenStore xs(s.h->xenstore);
    vbd::Host h = with(*s.h, xs);
    vbd::ReconnectOptions ro{timeout, {}};
    ro.check_rings = check_rings;
    auto r = vbd::reconnect(h, ids, ro, {});
    REQUIRE(r.has_value());
    return {*r, ids.size(), xs.watches, xs.events, xs.reads};
}

// The simulated ring reader, counting the rings it maps.
class CountingRings final : public vbd::RingReader {
  public:
    explicit CountingRings(vbd::RingReader& r) : r_(r) {}
    vbd::Result<vbd::RingSnapshot> read(uint32_t domid, uint32_t gref) override {
        ++maps;
        return r_.read(domid, gref);
    }
    size_t maps = 0;

  private:
    vbd::RingReader& r_;
};

// Counts what each step of a run did (rings mapped, or xenstore reads), from its progress
// reports.
struct StepCounts {
    explicit StepCounts(const size_t& counter) : count(counter) {}
    vbd::RunControl control() {
        vbd::RunControl ctl;
        ctl.progress = [this](const vbd::ProgressEvent& e) {
            if (e.kind == vbd::ProgressEvent::Kind::step) {
                step = e.step;
                at_start = count;
                start_of[step] = count;
            } else if (e.kind == vbd::ProgressEvent::Kind::step_end) {
                in_step[step] = count - at_start;
            }
        };
        return ctl;
    }
    const size_t& count;
    std::string step;
    size_t at_start = 0;
    std::map<std::string, size_t> in_step, start_of;
};

// `upgrade-backend --force` of one guest's vbds, each connect taking connect_ms, counting
// the rings mapped in each step.
struct Upgraded {
    vbd::UpgradeReport report;
    std::map<std::string, size_t> maps_in_step, reads_in_step, device_reads_in_step;
    size_t reads_in_bind_before_first_bind = 0;
};
Upgraded upgrade_all(unsigned vbds, unsigned connect_ms) {
    SimWorld s(true);
    init_world(s, 1, vbds, connect_ms);
    s.lock.reset(); // the plan takes it
    CountingRings rings(s.h->rings);
    CountingXenStore xs(s.h->xenstore);
    FirstBindBus bus(s.h->bus, xs.reads);
    vbd::Host hr = with(*s.h, rings), hx = with(hr, xs);
    vbd::Host h = with(hx, bus);
    vbd::UpgradeOptions uo;
    uo.force = true;
    auto plan = vbd::plan_upgrade(h, uo, false);
    REQUIRE(plan.has_value());
    REQUIRE_FALSE(plan->refused());
    StepCounts maps(rings.maps), reads(xs.reads), devices(bus.device_reads);
    vbd::RunControl ctl;
    auto m = maps.control(), r = reads.control(), d = devices.control();
    ctl.progress = [&](const vbd::ProgressEvent& e) {
        m.progress(e);
        r.progress(e);
        d.progress(e);
    };
    auto report = vbd::run_upgrade(h, *plan, ctl);
    REQUIRE(bus.at_first_bind.has_value());
    return {std::move(report), std::move(maps.in_step), std::move(reads.in_step), std::move(devices.in_step),
            *bus.at_first_bind - reads.start_of["bind"]};
}

vbd::Step step(std::string name, std::vector<std::string>& log, bool fails = false,
               vbd::OnFailure on_failure = vbd::OnFailure::undo, bool with_undo = true) {
    vbd::Step s;
    s.name = name;
    s.does = "do " + name;
    s.undo_does = with_undo ? "undo " + name : "none needed";
    s.apply = [&log, name, fails]() -> vbd::Result<void> {
        log.push_back("apply " + name);
        if (fails) return vbd::fail(vbd::Errc::failed, name + " failed");
        return {};
    };
    if (with_undo)
        s.undo = [&log, name]() -> vbd::Result<void> {
            log.push_back("undo " + name);
            return {};
        };
    s.on_failure = on_failure;
    return s;
}

} // namespace

TEST_CASE("the simulator refuses a change made without the lock, loudly") {
    SimWorld s(false);
    auto r = s.h->bus.unbind("vbd", "vbd-1-51712");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == vbd::Errc::refused);
    CHECK(r.error().what.find("without holding the lock") != std::string::npos);
    CHECK_FALSE(s.h->bus.set_autoprobe(false).has_value());
    CHECK_FALSE(s.h->modules.unload("xen_blkback").has_value());
    CHECK_FALSE(s.h->state.write_journal("{}").has_value());
    auto d = s.h->bus.device("vbd-1-51712");
    REQUIRE(d.has_value());
    CHECK(d->bound());
    auto lock = s.h->state.lock();
    REQUIRE(lock.has_value());
    CHECK(s.h->bus.unbind("vbd", "vbd-1-51712").has_value());
}

TEST_CASE("steps run in order, journaled; a failure undoes the failed step and the done ones in reverse") {
    SimWorld s(true);
    std::vector<std::string> log;
    std::vector<vbd::Step> steps{step("a", log), step("b", log, false, vbd::OnFailure::undo, false),
                                 step("c", log, true), step("d", log)};
    auto j = vbd::Journal::begin("upgrade", 0, true);
    auto r = vbd::run_steps(*s.h, j, steps, {});
    CHECK_FALSE(r.ok);
    CHECK(r.undone);
    CHECK(log == std::vector<std::string>{"apply a", "apply b", "apply c", "undo c", "undo a"});
    CHECK(j.step == 3);
    CHECK(j.step_name == "c");
    auto text = s.h->state.read_journal();
    REQUIRE(text.has_value());
    CHECK_FALSE(text->has_value()); // every undo succeeded: the journal is gone
}

TEST_CASE("a failed hold step stops where it is and keeps the journal") {
    SimWorld s(true);
    std::vector<std::string> log;
    std::vector<vbd::Step> steps{step("a", log), step("drain", log, true, vbd::OnFailure::hold), step("d", log)};
    auto j = vbd::Journal::begin("upgrade", 0, true);
    auto r = vbd::run_steps(*s.h, j, steps, {});
    CHECK(r.held);
    CHECK(log == std::vector<std::string>{"apply a", "apply drain"});
    auto text = s.h->state.read_journal();
    REQUIRE(text.has_value());
    REQUIRE(text->has_value());
    auto back = vbd::Journal::parse(**text);
    REQUIRE(back.has_value());
    CHECK(back->step_name == "drain");
}

TEST_CASE("an unbound instance keeps its reference until it drains; a rebound one coexists with it") {
    SimWorld s(true);
    REQUIRE(s.owner->add_fault({"slow-drain", 0, 0, 0, 2.0}).has_value());
    int before = s.refcnt();
    REQUIRE(s.h->bus.unbind("vbd", "vbd-1-51712").has_value());
    CHECK(s.refcnt() == before - 1); // xenbus_dev_probe's reference at once; the blkif's later
    // wait_drained refuses to call it drained early, and says why.
    auto early = vbd::wait_drained(*s.h, {{1, 51712}}, vbd::Millis(500));
    REQUIRE_FALSE(early.has_value());
    CHECK(early.error().code == vbd::Errc::timeout);
    // Binding now (what vbdctl never does) makes both instances hold references at once.
    REQUIRE(s.h->bus.bind("vbd", "vbd-1-51712").has_value());
    CHECK(s.refcnt() == before + 1);
    s.h->clock.sleep_for(vbd::Millis(3000));
    CHECK(s.refcnt() == before);
}

TEST_CASE("wait_drained: the driver link and the refcount, then done") {
    SimWorld s(true);
    REQUIRE(s.h->bus.unbind("vbd", "vbd-2-51712").has_value());
    auto d = vbd::wait_drained(*s.h, {{2, 51712}}, vbd::Millis(5000));
    REQUIRE(d.has_value());
    CHECK(d->evidence.find("refcount fell to") != std::string::npos);
    auto bound = vbd::wait_drained(*s.h, {{1, 51712}}, vbd::Millis(5000));
    CHECK_FALSE(bound.has_value()); // still bound: there is no old instance to wait for
}

TEST_CASE("a driver domain gets xenstored's 128 watches; the 129th is an error, not a silent loss") {
    SimWorld s(true);
    vbd::sim::InitOptions o;
    o.backend_domid = 7;
    o.guests = 10;
    REQUIRE(s.owner->init(o).has_value());
    for (int i = 0; i < 128; ++i)
        REQUIRE(s.h->xenstore.watch("/local/domain/7/backend/vbd/" + std::to_string(i), "t").has_value());
    auto r = s.h->xenstore.watch("/local/domain/7/backend/vbd/x", "t");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what.find("E2BIG") != std::string::npos);
}

TEST_CASE("reconnect wakes for each vbd's state, not for every key its connect writes") {
    SimWorld s(true);
    auto r = rebind_all(s, 0, 2, 4);
    REQUIRE(r.vbds == 8);
    for (const auto& w : r.result) CHECK_MESSAGE(w.connected, w.id.sysfs_name() << ": " << w.error);
    CHECK(r.watches == 9); // each state node, and the error tree
    // Per vbd: its watch's first firing, InitWait, Connected. A watch on the backend tree
    // fired for each of the 16 keys blkback's probe and connect write.
    CHECK(r.events <= 3 * r.vbds + 1);
}

TEST_CASE("reconnect's xenstore reads grow with the vbds, not with the vbds times the connects they wait for") {
    // Connects as slow as the lab's under TCG (300-700 ms, one after another in xenwatch):
    // every read reconnect sends while it waits competes with them for xenstored.
    SimWorld s8(true), s32(true);
    auto r8 = rebind_all(s8, 0, 1, 8, vbd::Millis(60000), 700);
    auto r32 = rebind_all(s32, 0, 4, 8, vbd::Millis(60000), 700);
    REQUIRE(r32.vbds == 32);
    for (const auto& w : r32.result) CHECK_MESSAGE(w.connected, w.id.sysfs_name() << ": " << w.error);
    MESSAGE("reads: " << r8.reads << " for 8 vbds, " << r32.reads << " for 32");
    CHECK(r32.reads <= 5 * r8.reads); // linear is 4x; a poll of every pending vbd is ~16x
}

TEST_CASE("reconnect reads a vbd's state alone on its state events, while xenstored serves the connects") {
    // Per vbd: the sweep after the binds (state, error, frontend), then one read for each
    // state event (the watch's first firing, InitWait, Connected). Reading the error node
    // and the frontend's state on every event tripled what it sent.
    SimWorld s(true);
    auto r = rebind_all(s, 0, 1, 8, vbd::Millis(60000), 700, false);
    REQUIRE(r.vbds == 8);
    for (const auto& w : r.result) CHECK_MESSAGE(w.connected, w.id.sysfs_name() << ": " << w.error);
    MESSAGE("reads: " << r.reads << " for 8 vbds, " << r.events << " events");
    CHECK(r.reads <= 2 + 3 * r.vbds + r.events + 3 * r.vbds); // and one safety sweep
}

TEST_CASE("reconnect binds before it sets its watches: the guests wait for the binds, not for the watches") {
    // Each watch is a round trip to xenstored (33 for 32 vbds, then as many first firings
    // to read). Set after the binds, they miss nothing: the sweep that follows reads where
    // every vbd stands.
    SimWorld s(true);
    init_world(s, 1, 8, 700);
    auto ids = unbind_every_vbd(s);
    REQUIRE(vbd::wait_drained(*s.h, ids, vbd::Millis(60000)).has_value());
    CountingXenStore xs(s.h->xenstore);
    FirstBindBus bus(s.h->bus, xs.watches);
    vbd::Host h = with(*s.h, xs);
    vbd::Host hb = with(h, bus);
    auto r = vbd::reconnect(hb, ids, {vbd::Millis(60000), {}}, {});
    REQUIRE(r.has_value());
    for (const auto& w : *r) CHECK_MESSAGE(w.connected, w.id.sysfs_name() << ": " << w.error);
    REQUIRE(bus.at_first_bind.has_value());
    CHECK(*bus.at_first_bind == 0);
    CHECK(xs.watches == 9);
}

TEST_CASE("reconnect of more vbds than half a driver domain's watch quota watches the tree") {
    SimWorld s(true);
    auto r = rebind_all(s, 7, 35, 2);
    REQUIRE(r.vbds == 70);
    for (const auto& w : r.result) CHECK_MESSAGE(w.connected, w.id.sysfs_name() << ": " << w.error);
    CHECK(r.watches == 2);
}

TEST_CASE("reconnect's timeout is each vbd's: 40 serial connects outlast it, none times out") {
    SimWorld s(true);
    // xenwatch connects one vbd after the other, ~5 ms each here: 200 ms for all, 50 for each.
    auto t0 = s.h->clock.now();
    auto r = rebind_all(s, 0, 2, 20, vbd::Millis(50));
    REQUIRE(r.vbds == 40);
    CHECK((s.h->clock.now() - t0).count() > 150);
    for (const auto& w : r.result) CHECK_MESSAGE(w.connected, w.id.sysfs_name() << ": " << w.error);
    int64_t last = 0;
    for (const auto& w : r.result) last = std::max(last, w.connect_ms);
    CHECK(last > 150);
}

TEST_CASE("upgrade-backend's unbound_ms ends at each vbd's connect, not where the bind step ends") {
    // xenwatch connects the vbds one after the other, 700 ms apart as in the lab: all were
    // unbound together, so the first was without a backend for one connect, the last for eight.
    auto u = upgrade_all(8, 700);
    REQUIRE_MESSAGE(u.report.ok, u.report.failure);
    REQUIRE(u.report.vbds.size() == 8);
    const auto& first = u.report.vbds.front();
    const auto& last = u.report.vbds.back();
    MESSAGE("unbound_ms: first " << first.unbound_ms << ", last " << last.unbound_ms);
    CHECK(last.unbound_ms - first.unbound_ms >= 6 * 700);
    CHECK(first.unbound_ms < 3 * 700);
}

TEST_CASE("upgrade-backend maps the rings after the reload in verify only, not again in the bind step") {
    // verify, the step after bind, checks every ring (consistent and moving) and fails the
    // run as bind would: mapping them in bind too only kept the command running after
    // every guest had its disk back.
    auto u = upgrade_all(8, 4);
    REQUIRE_MESSAGE(u.report.ok, u.report.failure);
    CHECK(u.maps_in_step["bind"] == 0);
    CHECK(u.maps_in_step["verify"] >= 8);
}

TEST_CASE("recover binds before it maps any ring, and checks the rings in verify") {
    // What a killed run leaves: every vbd unbound. The guests wait for recover's binds;
    // mapping each ring first only delayed them.
    SimWorld s(true);
    init_world(s, 1, 8);
    unbind_every_vbd(s);
    s.lock.reset(); // recover takes it
    CountingRings rings(s.h->rings);
    vbd::Host h = with(*s.h, rings);
    StepCounts maps(rings.maps);
    vbd::RecoverOptions ro;
    ro.from_live = true;
    auto r = vbd::recover(h, ro, maps.control());
    REQUIRE(r.has_value());
    CHECK(r->ok);
    CHECK(std::count_if(r->actions.begin(), r->actions.end(),
                        [](const std::string& a) { return a.ends_with(": Connected"); }) == 8);
    CHECK(maps.in_step["bind"] == 0);
    CHECK(maps.in_step["verify"] >= 8);
}

TEST_CASE("upgrade-backend looks for vbds that appeared during the run on the bus, not by reading every vbd") {
    // After the last connect, reading every vbd's nodes from xenstored (~17 requests each)
    // to find the rare one nobody binds kept the command running (in cell B's bench at 8
    // vbds the bind step went on ~3.4 s after the last connect).
    auto u = upgrade_all(8, 4);
    REQUIRE_MESSAGE(u.report.ok, u.report.failure);
    MESSAGE("xenstore reads in the bind step: " << u.reads_in_step["bind"]);
    CHECK(u.reads_in_step["bind"] <= 6 * 8);
}

TEST_CASE("upgrade-backend binds its first vbd before it reads the others") {
    // Whether the toolstack is taking a vbd away (online = 0) is read just before that
    // vbd's bind: read for all of them first, 32 requests to xenstored came before the
    // first bind while every guest waited.
    auto u = upgrade_all(32, 4);
    REQUIRE_MESSAGE(u.report.ok, u.report.failure);
    MESSAGE("xenstore reads in the bind step before its first bind: " << u.reads_in_bind_before_first_bind);
    CHECK(u.reads_in_bind_before_first_bind <= 4);
}

TEST_CASE("upgrade-backend's unbind step reads each vbd's device once") {
    // The first vbds unbound wait for the whole step: it read each device twice (whether it
    // still exists, then whether it is bound).
    auto u = upgrade_all(8, 4);
    REQUIRE_MESSAGE(u.report.ok, u.report.failure);
    CHECK(u.device_reads_in_step["unbind"] == 8);
}

TEST_CASE("the drain counts the bound vbds from the driver's links, not by reading every device each poll") {
    // Every vbd waits through the drain; each poll read every device of the bus (four or
    // five system calls each) to count the bound ones.
    auto u = upgrade_all(32, 4);
    REQUIRE_MESSAGE(u.report.ok, u.report.failure);
    MESSAGE("device reads in the drain step: " << u.device_reads_in_step["drain"]);
    CHECK(u.device_reads_in_step["drain"] <= 32); // whether each vbd is still bound, once
}

TEST_CASE("list reads xenbus's error tree once, not once per vbd, and still reports an error node") {
    SimWorld s(true);
    init_world(s, 2, 4);
    CountingXenStore xs(s.h->xenstore);
    vbd::Host h = with(*s.h, xs);
    auto describe_all = [&] {
        std::vector<vbd::Vbd> out;
        REQUIRE(vbd::Inventory(h).each(std::nullopt, vbd::Detail::summary,
                                       [&](const vbd::Vbd& v) { out.push_back(v); }).has_value());
        return out;
    };
    auto listed = describe_all();
    REQUIRE(listed.size() == 8);
    CHECK(xs.reads_under("/error/") == 1); // 8 before: one per vbd
    for (const auto& v : listed) CHECK_FALSE(v.error_node);

    // blkback's xenbus_dev_fatal writes error/backend/vbd/D/N/error: list shows it.
    const vbd::VbdId third = listed[2].id; // a copy: listed is replaced below
    REQUIRE(s.h->xenstore.write("/local/domain/0/error/backend/vbd/" + std::to_string(third.domid) + "/" +
                                    std::to_string(third.devid) + "/error",
                                "-12 mapping ring").has_value());
    listed = describe_all();
    for (const auto& v : listed) {
        CAPTURE(v.id.sysfs_name());
        CHECK(v.error_node == (v.id == third ? std::optional<std::string>("-12 mapping ring") : std::nullopt));
    }
}

TEST_CASE("Inventory::get needs no backend listing to know a vbd with a frontend node exists") {
    // verify and recover get() every vbd they checked; describe reads the backend's nodes anyway.
    SimWorld s(true);
    init_world(s, 2, 4);
    CountingXenStore xs(s.h->xenstore);
    vbd::Host h = with(*s.h, xs);
    vbd::Inventory inv(h);
    auto ids = inv.vbd_ids(std::nullopt);
    REQUIRE(ids.has_value());
    REQUIRE(ids->size() == 8);
    auto listings_of_backends = [&] {
        return std::ranges::count_if(xs.paths, [](const std::string& p) {
            return p.starts_with("/local/domain/0/backend/vbd/") && std::ranges::count(p, '/') == 7;
        });
    };
    xs.paths.clear();
    for (const auto& id : *ids) REQUIRE(inv.get(id, vbd::Detail::states).has_value());
    CHECK(listings_of_backends() == 0); // 8 before: one per vbd

    // A backend directory without its frontend node (being written or torn down) still exists;
    // no directory at all is no vbd.
    const vbd::VbdId first = ids->front();
    std::string be = "/local/domain/0/backend/vbd/" + std::to_string(first.domid) + "/" + std::to_string(first.devid);
    REQUIRE(s.h->xenstore.remove(be + "/frontend").has_value());
    CHECK(inv.get(first, vbd::Detail::states).has_value());
    auto none = inv.get(vbd::VbdId{first.domid, 99999}, vbd::Detail::states);
    REQUIRE_FALSE(none.has_value());
    CHECK(none.error().code == vbd::Errc::not_found);
}

TEST_CASE("list reads only the frontend nodes that exist: one directory request, then those") {
    // blkfront writes ring-page-order only for a ring of more than one page, and
    // multi-queue-num-queues only for more than one queue (then ring-ref and event-channel
    // move to queue-N/): asking for each of them anyway costs a request that answers ENOENT.
    SimWorld s(true);
    init_world(s, 1, 8);
    CountingXenStore xs(s.h->xenstore);
    vbd::Host h = with(*s.h, xs);
    size_t listed = 0;
    REQUIRE(vbd::Inventory(h).each(std::nullopt, vbd::Detail::summary, [&](const vbd::Vbd& v) {
        CHECK(v.rings.has_value());
        ++listed;
    }).has_value());
    REQUIRE(listed == 8);
    size_t asked = 0;
    for (const auto& p : xs.paths) {
        if (p.find("/device/vbd/") == p.npos) continue;
        ++asked;
        CAPTURE(p);
        auto node = s.h->xenstore.read(p);
        CHECK((node && *node)); // it exists
    }
    CHECK(asked >= 8 * 5);
}
