#include "vbdctl/reattach.hpp"
#include "try.hpp"

#include <algorithm>
#include <map>

#include "paths.hpp"

namespace vbd {

namespace {

constexpr const char* watch_token = "vbdctl-reattach";

std::optional<XenbusState> read_state(Host& h, const std::string& path) {
    auto v = h.xenstore.read(path);
    if (!v || !*v) return std::nullopt;
    auto s = parse_xenbus_state(**v);
    return s ? std::optional(*s) : std::nullopt;
}

std::string state_name(std::optional<XenbusState> s) { return s ? std::string(to_string(*s)) : "absent"; }

// Vbd devices bound to blkback: the links in its driver directory, one read.
Result<int> bound_vbds(Host& h) { return static_cast<int>(VBD_TRY(h.bus.bound_to("vbd")).size()); }

// The watches of one wait, removed however it ends.
class Watches {
  public:
    Watches(XenStore& xs, std::vector<std::string> paths) : xs_(xs), paths_(std::move(paths)) {}
    Result<void> arm() {
        for (const auto& r : paths_) {
            VBD_TRY_VOID(xs_.watch(r, watch_token));
            armed_.push_back(r);
        }
        return {};
    }
    /// Removes the watches; the first error is returned.
    Result<void> disarm() {
        Result<void> first;
        for (const auto& r : armed_)
            if (auto u = xs_.unwatch(r, watch_token); !u && first) first = std::unexpected(u.error());
        armed_.clear();
        return first;
    }
    /// On an early error return: the error being returned is the one that matters.
    ~Watches() {
        if (!armed_.empty() && !disarm()) return;
    }

  private:
    XenStore& xs_;
    std::vector<std::string> paths_, armed_;
};

// Each vbd's state node and the error tree, while they fit in half a driver domain's watch
// quota (xenstored's default is 128 per domain); past that, the whole backend tree. One watch
// on the tree fires for every key a connect writes (about 16 per vbd): each is a message from
// the xenstored that the kernel's connects are waiting on, and a wake-up of this process.
constexpr size_t watch_budget = 64;

std::vector<std::string> watch_paths(uint32_t self, const std::vector<VbdId>& ids) {
    std::vector<std::string> out{paths::error_root(self)};
    if (ids.size() + 1 > watch_budget) {
        out.push_back(paths::backend_vbd_root(self));
        return out;
    }
    for (auto id : ids) out.push_back(paths::backend(self, id) + "/state");
    return out;
}

} // namespace

Result<Drained> wait_drained(Host& host, const std::vector<VbdId>& ids, Millis timeout) {
    auto start = host.clock.now();
    auto deadline = start + timeout;
    for (auto id : ids) {
        auto dev = host.bus.device(id.sysfs_name());
        if (dev && dev->bound())
            return fail(Errc::failed, "still bound: its old instance cannot drain", id.sysfs_name());
    }
    auto m = VBD_TRY(host.modules.loaded("xen_blkback"));
    if (!m) return Drained{0, "xen_blkback is not loaded: no instance is left"};
    if (m->builtin)
        return Drained{0, "the driver links are gone; xen-blkback is built in, so no module refcount shows "
                          "when the old instances' in-flight I/O has drained"};
    // Polled: the kernel raises no event when a deferred free drops its module reference.
    // It backs off from 5 ms to 200 ms.
    Millis step{5};
    while (true) {
        m = VBD_TRY(host.modules.loaded("xen_blkback"));
        if (!m) return Drained{(host.clock.now() - start).count(), "xen_blkback was unloaded"};
        int target = VBD_TRY(bound_vbds(host)) * refs_per_bound_vbd;
        if (m->refcnt <= target)
            return Drained{(host.clock.now() - start).count(),
                           "the driver links are gone and xen_blkback's refcount fell to " +
                               std::to_string(m->refcnt) + " (what the bound vbds hold)"};
        if (host.clock.now() >= deadline)
            return fail(Errc::timeout,
                        "xen_blkback's refcount is " + std::to_string(m->refcnt) + ", the bound vbds hold " +
                            std::to_string(target) + ": unbound instances still have in-flight I/O after " +
                            std::to_string(timeout.count()) + " ms",
                        "xen_blkback",
                        "nothing was rebound (that would be unsafe); the guests' I/O waits in their rings. "
                        "Run `vbdctl recover` to resume the wait");
        host.clock.sleep_for(step);
        step = std::min(step * 2, Millis(200));
    }
}

std::string lost_disk_advice(Host& host, VbdId id) {
    std::string vdev = devid_to_vdev(id.devid).value_or(std::to_string(id.devid));
    std::string target = "TARGET";
    if (auto disks = host.toolstack.disks(id.domid))
        for (const auto& d : *disks)
            if (d.vdev == vdev && !d.target.empty()) target = d.target;
    std::string d = std::to_string(id.domid);
    return "the guest has lost this disk (its backend went Closing and blkfront closed it); vbdctl cannot "
           "give it back. Re-attach it with the toolstack: xl block-detach " + d + " " + vdev +
           "; xl block-attach " + d + " 'vdev=" + vdev + ",target=" + target + "'";
}

Result<std::vector<Reattached>> reconnect(Host& host, const std::vector<VbdId>& ids,
                                          const ReconnectOptions& opts, const RunControl& ctl) {
    std::vector<Reattached> out;
    if (ids.empty()) return out;
    Inventory inv(host);
    uint32_t self = VBD_TRY(inv.self_domid());
    XenStore& xs = host.xenstore;
    std::map<std::string, size_t> state_path, error_path;
    std::vector<std::optional<std::string>> err_before(ids.size());
    // Usually no error tree exists at all: one request says so for every vbd (these reads
    // come before the binds, while the guests wait).
    bool any_errors = VBD_TRY(inv.any_errors(self));
    for (size_t i = 0; i < ids.size(); ++i) {
        out.push_back(Reattached{ids[i], false, false, {}, false, 0});
        state_path[paths::backend(self, ids[i]) + "/state"] = i;
        error_path[paths::error_node(self, ids[i])] = i;
        if (any_errors) err_before[i] = VBD_TRY(xs.read(paths::error_node(self, ids[i])));
    }
    auto t0 = host.clock.now();
    for (size_t i = 0; i < ids.size(); ++i) {
        auto dev = host.bus.device(ids[i].sysfs_name());
        if (!dev && dev.error().code == Errc::not_found) {
            out[i].error = "its device left the bus (the vbd was removed)";
            continue;
        }
        if (VBD_TRY(std::move(dev)).bound()) continue;
        // `xl block-detach` writes online 0 first: binding would race the toolstack's
        // teardown. Read here, just before this bind, not for every vbd before the first.
        auto online = VBD_TRY(xs.read(paths::backend(self, ids[i]) + "/online"));
        if (online && *online == "0") {
            out[i].error = "left to the toolstack: it is detaching this vbd (online = 0)";
            continue;
        }
        if (auto r = host.bus.bind("vbd", ids[i].sysfs_name()); !r) {
            out[i].error = "bind failed: " + r.error().message();
            continue;
        }
        ctl.report({"bind", i + 1, ids.size(), ids[i].sysfs_name()});
    }
    // The watches come after the binds: each is a round trip to xenstored that the guests
    // would wait for. What they miss in between, the sweep after them reads.
    Watches watches(xs, watch_paths(self, ids));
    VBD_TRY_VOID(watches.arm());
    // A new watch fires once at once: drop those (and anything else queued); the sweep reads.
    while (auto e = VBD_TRY(xs.wait(host.clock.now()))) {
    }
    auto deadline = t0 + opts.timeout;
    size_t pending = std::count_if(out.begin(), out.end(), [](const Reattached& r) { return r.error.empty(); });
    size_t connected = 0;
    // Vbd i's backend is at its goal: done once its device is bound (the node outlives an unbind).
    auto seen_connected = [&](size_t i) -> Result<void> {
        auto dev = VBD_TRY(host.bus.device(ids[i].sysfs_name()));
        if (!dev.bound()) return {};
        auto& w = out[i];
        w.connected = true;
        w.connected_at = host.clock.now();
        w.connect_ms = (w.connected_at - t0).count();
        deadline = host.clock.now() + opts.timeout; // each vbd gets the timeout from the last connect
        ctl.report({"connected", ++connected, ids.size(), ids[i].sysfs_name()});
        --pending;
        return {};
    };
    // Where vbd i stands. On its state node's event (state_only) the state alone decides,
    // unless it is Closing or Closed, or InitWait may be the goal: xenstored delivers
    // events in the order of the writes, so an error node blkback wrote before that state
    // has had its own event and judge already. Each read here waits behind the kernel's
    // connects in xenstored's queue.
    auto judge = [&](size_t i, bool state_only) -> Result<void> {
        auto& w = out[i];
        if (w.connected || !w.error.empty()) return {};
        auto st = read_state(host, paths::backend(self, ids[i]) + "/state");
        bool closed = st == XenbusState::Closing || st == XenbusState::Closed;
        bool needs_frontend = st == XenbusState::InitWait && opts.initwait_ok.contains(ids[i]);
        if (state_only && !closed && !needs_frontend) {
            if (st == XenbusState::Connected) VBD_TRY_VOID(seen_connected(i));
            return {};
        }
        auto err = VBD_TRY(xs.read(paths::error_node(self, ids[i])));
        auto fe = read_state(host, paths::frontend(ids[i]) + "/state");
        if (err && err != err_before[i]) {
            w.error = "xen-blkback reported: " + *err;
        } else if (closed || fe == XenbusState::Closing || fe == XenbusState::Closed) {
            w.lost = true;
            w.error = "backend " + state_name(st) + ", frontend " + state_name(fe) + (err ? " (" + *err + ")" : "") +
                      ": " + lost_disk_advice(host, ids[i]);
        } else if (st == XenbusState::Connected || (needs_frontend && fe != XenbusState::Connected)) {
            return seen_connected(i);
        }
        if (!w.error.empty()) --pending;
        return {};
    };
    // Where each stands now, the watches armed: some may already be done (only waited for, or fast).
    for (size_t i = 0; i < ids.size(); ++i) VBD_TRY_VOID(judge(i, false));
    // The watches see every state write from here on, so the sweep below is only a safety
    // net, should an event be lost. It must stay rare: it reads every pending vbd, and
    // xenstored is shared with the connects we wait for (blkback's, one after another,
    // 0.3-0.7 s each under TCG); a sweep every 500 ms made reconnect's reads grow with N x N.
    constexpr Millis sweep_every{5000};
    while (pending > 0) {
        // A stop request does not cut a connect short: half-connected is worse than waiting.
        auto ev = VBD_TRY(xs.wait(std::min(deadline, host.clock.now() + sweep_every)));
        if (ev) {
            auto s = state_path.find(ev->path);
            if (s != state_path.end()) VBD_TRY_VOID(judge(s->second, true));
            auto e = error_path.find(ev->path);
            if (e != error_path.end()) VBD_TRY_VOID(judge(e->second, false));
            continue;
        }
        // No event for sweep_every, or the deadline: look again.
        for (size_t i = 0; i < ids.size(); ++i) VBD_TRY_VOID(judge(i, false));
        if (host.clock.now() >= deadline) break;
    }
    for (size_t i = 0; i < ids.size(); ++i) {
        auto& w = out[i];
        if (!w.connected && w.error.empty())
            w.error = "timed out waiting for Connected: no vbd connected in the last " +
                      std::to_string(opts.timeout.count()) + " ms (backend " +
                      state_name(read_state(host, paths::backend(self, ids[i]) + "/state")) + ", frontend " +
                      state_name(read_state(host, paths::frontend(ids[i]) + "/state")) +
                      "); `vbdctl rebind` unbinds and binds it again";
        if (!w.connected || !opts.check_rings) continue;
        auto v = VBD_TRY(inv.get(ids[i], Detail::summary));
        w.consistent = std::all_of(v.queues.begin(), v.queues.end(), [&](const QueueState& q) {
            return q.snapshot && v.rings && q.snapshot->consistent(v.rings->geometry.size());
        });
        if (!w.consistent) w.error = "Connected, but a ring is inconsistent";
    }
    VBD_TRY_VOID(watches.disarm());
    return out;
}

} // namespace vbd
