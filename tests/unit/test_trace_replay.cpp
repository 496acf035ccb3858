// Replays the lab's recorded operations (tests/data/lab-traces/cell-*/*.jsonl, taken on real
// Xen dom0s, one directory per lab cell) on the simulator and checks that it shows the same
// sequence of observable states: xenstore writes per vbd, driver links, module references.
// Every recording is replayed (see lab-traces/README.md).

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vbdctl/lifecycle.hpp"
#include "sim_fixture.hpp"
#include "vbdctl/sim.hpp"

namespace {

using nlohmann::json;

// A recording: a directory under lab-traces/ with the same operation files, and the dom0
// kernel it was taken on, which the simulated world runs (its behaviour is per kernel).
struct Recording {
    std::string dir;
    std::string kernel;
};
// Cell A: Xen 4.17, Linux 6.1 (three boots, two kernel builds).
const std::vector<Recording> recordings = {{"cell-A/", "6.1.0-56-amd64"},
                                           {"cell-A/run2/", "6.1.0-56-amd64"},
                                           {"cell-A/run3/", "6.1.0-57-amd64"},
                                           // Cell B: Xen 4.20, Linux 6.12.
                                           {"cell-B/", "6.12.118+deb13-amd64"},
                                           // Cell C: Xen 4.20, Linux 7.3 (trixie-backports).
                                           {"cell-C/", "7.3.4+deb13-amd64"}};

std::vector<json> trace(const std::string& name) {
    std::ifstream in(std::string(VBDCTL_TEST_DATA) + "/lab-traces/" + name);
    CAPTURE(name);
    REQUIRE(in.good());
    std::vector<json> out;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(json::parse(line));
    REQUIRE(out.size() > 2);
    return out;
}

// What a watcher of one backend directory sees: each written key, and the value of `state`.
using Writes = std::vector<std::string>;

std::map<std::string, Writes> real_writes(const std::vector<json>& t) {
    std::map<std::string, Writes> out; // devid -> writes
    const std::string base = "/local/domain/0/backend/vbd/1/";
    for (const auto& e : t) {
        if (e["src"] != "xs") continue;
        std::string p = e["path"];
        if (!p.starts_with(base)) continue;
        auto rest = p.substr(base.size());
        auto slash = rest.find('/');
        std::string key = rest.substr(slash + 1);
        out[rest.substr(0, slash)].push_back(
            key == "state" ? "state=" + e["value"].get<std::string>() : key);
    }
    return out;
}

// Distinct consecutive refcnt readings of the trace's sysfs polls ("absent" when none).
std::vector<std::string> real_refcnts(const std::vector<json>& t) {
    std::vector<std::string> out;
    for (const auto& e : t) {
        if (e["src"] != "sysfs") continue;
        std::string r = e["refcnt"].is_null() ? "absent" : e["refcnt"].get<std::string>();
        if (out.empty() || out.back() != r) out.push_back(r);
    }
    return out;
}

struct Sim : SimWorld {
    explicit Sim(const Recording& rec) : SimWorld(true) {
        vbd::sim::InitOptions o;
        o.kernel = rec.kernel;
        REQUIRE(owner->init(o).has_value());
        REQUIRE(h->xenstore.watch("/local/domain/0/backend/vbd/1", "replay").has_value());
        drain_events(); // the watch's own first firing
    }
    bool bound(const std::string& dev) {
        auto d = h->bus.device(dev);
        REQUIRE(d.has_value());
        return d->bound();
    }
    // Every event until `ms` of simulated time pass with nothing new, per devid of guest 1.
    std::map<std::string, Writes> drain_events(int64_t ms = 1000) {
        std::map<std::string, Writes> out;
        const std::string base = "/local/domain/0/backend/vbd/1/";
        while (true) {
            auto e = h->xenstore.wait(h->clock.now() + vbd::Millis(ms));
            REQUIRE(e.has_value());
            if (!*e) return out;
            std::string p = (*e)->path;
            if (!p.starts_with(base) || p.size() == base.size() - 1) continue;
            auto rest = p.substr(base.size());
            auto slash = rest.find('/');
            if (slash == std::string::npos) continue;
            std::string key = rest.substr(slash + 1);
            if (key == "state") {
                auto v = h->xenstore.read(p);
                REQUIRE(v.has_value());
                key = "state=" + v->value_or("");
            }
            out[rest.substr(0, slash)].push_back(key);
        }
    }
};

} // namespace

TEST_CASE("replay 01: unbind writes nothing to xenstore and drops two references, one then one") {
    for (const auto& rec : recordings) {
        CAPTURE(rec.dir);
        auto t = trace(rec.dir + "01-unbind-xvdb.jsonl");
        CHECK(real_writes(t).empty());
        auto refs = real_refcnts(t);
        REQUIRE(refs.size() >= 2);
        int real_drop = std::stoi(refs.front()) - std::stoi(refs.back());
        CHECK(real_drop == vbd::refs_per_bound_vbd);

        Sim s(rec);
        int before = s.refcnt();
        REQUIRE(s.h->bus.unbind("vbd", "vbd-1-51712").has_value());
        CHECK_FALSE(s.bound("vbd-1-51712"));
        // The probe's reference goes with the driver link; the blkif's after its deferred free.
        CHECK(s.refcnt() == before - 1);
        auto writes = s.drain_events();
        CHECK(writes.empty());
        CHECK(before - s.refcnt() == real_drop);
        auto st = s.h->xenstore.read("/local/domain/0/backend/vbd/1/51712/state");
        CHECK(st.value() == "4");
        auto dev = s.h->bus.device("vbd-1-51712");
        CHECK(dev->state == "Connected"); // sysfs keeps saying Connected, as the lab saw
        CHECK(s.h->bus.statistics("vbd-1-51712")->empty());
    }
}

TEST_CASE("replay 02: bind writes the probe keys, InitWait, the connect keys, Connected") {
    for (const auto& rec : recordings) {
        CAPTURE(rec.dir);
        auto t = trace(rec.dir + "02-bind-xvdb.jsonl");
        auto real = real_writes(t);
        REQUIRE(real.size() == 1);
        const Writes& expected = real.begin()->second;
        REQUIRE(expected.back() == "state=4");

        Sim s(rec);
        REQUIRE(s.h->bus.unbind("vbd", "vbd-1-51712").has_value());
        s.drain_events();
        int before = s.refcnt();
        REQUIRE(s.h->bus.bind("vbd", "vbd-1-51712").has_value());
        CHECK(s.refcnt() == before + vbd::refs_per_bound_vbd); // same poll in the lab: +2
        auto writes = s.drain_events();
        CHECK(writes["51712"] == expected);
    }
}

TEST_CASE("replay 03: unbinding all and rmmod leave xenstore alone; references reach 0") {
    for (const auto& rec : recordings) {
        CAPTURE(rec.dir);
        auto t = trace(rec.dir + "03-unbind-all-rmmod.jsonl");
        CHECK(real_writes(t).empty());
        auto refs = real_refcnts(t);
        CHECK(refs.back() == "absent");

        Sim s(rec);
        auto devs = s.h->bus.devices().value();
        for (const auto& d : devs)
            REQUIRE(s.h->bus.unbind("vbd", d).has_value());
        s.drain_events();
        CHECK(s.refcnt() == 0);
        REQUIRE(s.h->modules.unload("xen_blkback").has_value());
        CHECK(s.refcnt() == -100); // not loaded
        CHECK(s.h->bus.driver_registered("vbd").value() == false);
        CHECK(s.h->bus.devices()->size() == 6); // the devices stay on the bus
        CHECK(s.h->xenstore.read("/local/domain/0/backend/vbd/1/51712/state").value() == "4");
        CHECK(s.h->xenstore.read("/local/domain/1/device/vbd/51712/state").value() == "4");
    }
}

TEST_CASE("replay 04/05: modprobe probes every unbound vbd, then each connects as a bind does") {
    for (const auto& rec : recordings)
        for (const char* file : {"04-modprobe-stock.jsonl", "05-modprobe-updated.jsonl"}) {
            CAPTURE(rec.dir);
            CAPTURE(file);
            auto t = trace(rec.dir + file);
            auto real = real_writes(t);
            REQUIRE(real.size() == 2);
            auto bind_real = real_writes(trace(rec.dir + "02-bind-xvdb.jsonl")).begin()->second;
            for (const auto& [devid, w] : real)
                CHECK(w == bind_real);
            // The lab's order: both probes (InitWait) before the first connect write.
            std::vector<std::string> order;
            for (const auto& e : t)
                if (e["src"] == "xs" && std::string(e["path"]).ends_with("/state"))
                    order.push_back(e["value"]);
            CHECK(order == std::vector<std::string>{"2", "2", "4", "4"});
            CHECK(real_refcnts(t).back() == "4");

            Sim s(rec);
            auto devs = s.h->bus.devices().value();
            for (const auto& d : devs)
                REQUIRE(s.h->bus.unbind("vbd", d).has_value());
            s.drain_events();
            REQUIRE(s.h->modules.unload("xen_blkback").has_value());
            REQUIRE(s.h->bus.autoprobe().value());
            auto path = s.h->modules.resolve("xen_blkback");
            REQUIRE(path.has_value());
            REQUIRE(s.h->modules.load(*path, {}).has_value());
            // Probes run inside the load: every vbd is in InitWait before anything connects.
            CHECK(s.h->xenstore.read("/local/domain/0/backend/vbd/1/51712/state").value() == "2");
            CHECK(s.h->xenstore.read("/local/domain/0/backend/vbd/1/51728/state").value() == "2");
            auto writes = s.drain_events();
            CHECK(writes["51712"] == bind_real);
            CHECK(writes["51728"] == bind_real);
            CHECK(s.refcnt() == 6 * vbd::refs_per_bound_vbd);
        }
}
