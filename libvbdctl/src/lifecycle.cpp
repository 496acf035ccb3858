#include "vbdctl/lifecycle.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "paths.hpp"
#include "vbdctl/kernel_fixes.hpp"
#include "vbdctl/reconnect.hpp"

namespace vbd {

using nlohmann::json;

namespace {

constexpr const char* watch_token = "vbdctl-lifecycle";

std::optional<XenbusState> backend_state(Host& h, uint32_t self, VbdId id) {
    auto v = h.xenstore.read(paths::backend(self, id) + "/state");
    if (!v || !*v) return std::nullopt;
    auto s = parse_xenbus_state(**v);
    return s ? std::optional(*s) : std::nullopt;
}

std::optional<std::string> error_text(Host& h, uint32_t self, VbdId id) {
    auto v = h.xenstore.read(paths::error_node(self, id));
    return v ? *v : std::nullopt;
}

int bound_count(Host& h) {
    int n = 0;
    auto devs = h.bus.devices();
    if (!devs) return 0;
    for (const auto& d : *devs) {
        if (!d.starts_with("vbd-")) continue;
        auto dev = h.bus.device(d);
        if (dev && dev->bound()) ++n;
    }
    return n;
}

} // namespace

// ---------------------------------------------------------------- journal

Journal Journal::begin(std::string op, int64_t wall_ms) {
    Journal j;
    j.op = std::move(op);
    j.started_wall_ms = wall_ms;
    return j;
}

std::string Journal::to_text() const {
    json j = {{"journal_version", 1}, {"op", op},        {"step", step},
              {"step_name", step_name}, {"started_wall_ms", started_wall_ms}};
    json v = json::array();
    for (const auto& e : vbds) {
        json ej = {{"domid", e.id.domid}, {"devid", e.id.devid}, {"unbound_wall_ms", e.unbound_wall_ms}};
        ej["state_before"] = e.state_before ? json(static_cast<int>(*e.state_before)) : json(nullptr);
        v.push_back(std::move(ej));
    }
    j["vbds"] = std::move(v);
    if (op == "upgrade")
        j["upgrade"] = {{"target_path", target_path},
                        {"target_params", target_params},
                        {"rollback_path", rollback_path},
                        {"old_params", old_params},
                        {"old_srcversion", old_srcversion ? json(*old_srcversion) : json(nullptr)},
                        {"autoprobe_before", autoprobe_before}};
    return j.dump(2) + "\n";
}

Result<Journal> Journal::parse(std::string_view text) try {
    json j = json::parse(text);
    if (j.at("journal_version").get<int>() != 1)
        return fail(Errc::bad_value, "unknown journal version");
    Journal out;
    out.op = j.at("op").get<std::string>();
    if (out.op != "unbind" && out.op != "upgrade")
        return fail(Errc::bad_value, "unknown journal op '" + out.op + "'");
    out.step = j.at("step").get<int>();
    out.step_name = j.at("step_name").get<std::string>();
    out.started_wall_ms = j.at("started_wall_ms").get<int64_t>();
    for (const auto& e : j.at("vbds")) {
        Entry en;
        en.id.domid = e.at("domid").get<uint32_t>();
        en.id.devid = e.at("devid").get<uint32_t>();
        if (en.id.domid > max_domid) return fail(Errc::bad_value, "journal domid out of range");
        en.unbound_wall_ms = e.at("unbound_wall_ms").get<int64_t>();
        if (!e.at("state_before").is_null()) {
            auto st = parse_xenbus_state(std::to_string(e["state_before"].get<int>()));
            if (!st) return fail(Errc::bad_value, "journal state_before out of range");
            en.state_before = *st;
        }
        out.vbds.push_back(en);
    }
    if (out.op == "upgrade") {
        const auto& u = j.at("upgrade");
        out.target_path = u.at("target_path").get<std::string>();
        out.target_params = u.at("target_params").get<std::map<std::string, std::string>>();
        out.rollback_path = u.at("rollback_path").get<std::string>();
        out.old_params = u.at("old_params").get<std::map<std::string, std::string>>();
        if (!u.at("old_srcversion").is_null()) out.old_srcversion = u["old_srcversion"].get<std::string>();
        out.autoprobe_before = u.at("autoprobe_before").get<bool>();
    }
    return out;
} catch (const json::exception& e) {
    return fail(Errc::bad_value, std::string("journal is damaged: ") + e.what());
}

Result<std::optional<Journal>> read_journal(StateDir& dir) {
    auto text = VBD_TRY(dir.read_journal());
    if (!text) return std::optional<Journal>{};
    auto j = Journal::parse(*text);
    if (!j) return fail(Errc::bad_value, j.error().what, dir.path() + "/journal.json",
                        "inspect it; remove it only when every vbd is bound and Connected");
    return std::optional(std::move(*j));
}

Result<void> refuse_if_journal(StateDir& dir, std::string_view allow_op) {
    auto j = VBD_TRY(read_journal(dir));
    if (!j || (!allow_op.empty() && j->op == allow_op)) return {};
    std::string what = j->op == "unbind"
                           ? std::to_string(j->vbds.size()) + " vbd(s) left unbound by `vbdctl unbind`"
                           : "an unfinished upgrade-backend (stopped at step " +
                                 std::to_string(j->step) + " " + j->step_name + ")";
    return fail(Errc::refused, "refusing: " + what, dir.path() + "/journal.json",
                "run `vbdctl recover` (or bind them) first");
}

// ---------------------------------------------------------------- checks and waits

Result<RebindSupport> rebind_support(Host& host, bool assume) {
    auto rel = VBD_TRY(host.kernel.release());
    unsigned major = 0, minor = 0;
    bool parsed = std::sscanf(rel.c_str(), "%u.%u", &major, &minor) == 2;
    if (parsed && (major > 5 || (major == 5 && minor >= 5)))
        return RebindSupport{true, "kernel " + rel + " >= 5.5 (xen-blkback dynamic unbind/bind)"};
    if (assume)
        return RebindSupport{true, "--assume-rebind-support (kernel " + rel + " is older than 5.5)"};
    return RebindSupport{false, "kernel " + rel + " is older than 5.5: unbinding would close the "
                                "guest's disk (use --assume-rebind-support for a backport)"};
}

Result<int64_t> wait_refcnt(Host& host, int target, Millis timeout, const RunControl& ctl) {
    auto start = host.clock.now();
    auto deadline = start + timeout;
    // The kernel raises no event when a deferred free drops its module reference, so this
    // is the one wait that has to poll; it backs off from 5 ms to 200 ms.
    Millis step{5};
    while (true) {
        auto m = VBD_TRY(host.modules.loaded("xen_blkback"));
        int now_ref = m ? m->refcnt : 0;
        if (now_ref <= target) return (host.clock.now() - start).count();
        if (host.clock.now() >= deadline)
            return fail(Errc::timeout,
                        "xen_blkback refcount is " + std::to_string(now_ref) + ", expected <= " +
                            std::to_string(target) + " after " + std::to_string(timeout.count()) +
                            " ms: in-flight I/O of an unbound instance has not drained",
                        "xen_blkback", "rebinding now would be unsafe; wait and run `vbdctl recover`");
        (void)ctl; // a stop request cannot cut a drain short: rebinding before it ends is unsafe
        host.clock.sleep_for(step);
        step = std::min(step * 2, Millis(200));
    }
}

std::vector<ConnectWait> wait_connected(Host& host, const std::vector<VbdId>& ids,
                                        const std::function<Result<void>()>& start,
                                        Millis timeout, const RunControl& ctl,
                                        const std::set<VbdId>& initwait_ok) {
    std::vector<ConnectWait> out;
    for (auto id : ids) out.push_back(ConnectWait{id, false, {}, 0});
    Inventory inv(host);
    auto self_r = inv.self_domid();
    uint32_t self = self_r ? *self_r : 0;
    XenStore& xs = host.xenstore;
    std::map<std::string, size_t> by_path;
    std::vector<std::optional<std::string>> err_before(ids.size());
    std::vector<bool> seen_state(ids.size(), false);
    for (size_t i = 0; i < ids.size(); ++i) {
        std::string st = paths::backend(self, ids[i]) + "/state";
        std::string er = paths::error_node(self, ids[i]);
        by_path[st] = i;
        by_path[er] = i;
        err_before[i] = error_text(host, self, ids[i]);
        (void)xs.watch(st, watch_token);
        (void)xs.watch(er, watch_token);
    }
    // A new watch fires once at once: swallow those before acting.
    for (size_t n = 0; n < 2 * ids.size(); ++n) {
        auto e = xs.wait(host.clock.now());
        if (!e || !*e) break;
    }
    auto t0 = host.clock.now();
    auto finish = [&] {
        for (const auto& [p, i] : by_path) (void)xs.unwatch(p, watch_token);
    };
    if (auto r = start(); !r) {
        for (auto& w : out) w.error = r.error().message();
        finish();
        return out;
    }
    auto deadline = t0 + timeout;
    size_t pending = ids.size();
    auto judge = [&](size_t i) {
        auto& w = out[i];
        if (w.connected || !w.error.empty()) return;
        auto st = backend_state(host, self, ids[i]);
        auto err = error_text(host, self, ids[i]);
        if (err && err != err_before[i]) {
            w.error = "xen-blkback reported: " + *err;
        } else if (st == XenbusState::Closing || st == XenbusState::Closed) {
            w.error = "backend went " + std::string(to_string(*st)) + (err ? ": " + *err : "");
        } else if (seen_state[i] && (st == XenbusState::Connected ||
                                     (st == XenbusState::InitWait && initwait_ok.contains(ids[i])))) {
            auto dev = host.bus.device(ids[i].sysfs_name());
            if (dev && dev->bound()) {
                w.connected = true;
                w.connect_ms = (host.clock.now() - t0).count();
            }
        }
        if (w.connected || !w.error.empty()) --pending;
    };
    while (pending > 0) {
        auto ev = xs.wait(std::min(deadline, host.clock.now() + Millis(500)));
        if (ev && *ev) {
            auto it = by_path.find((*ev)->path);
            if (it == by_path.end()) continue;
            if ((*ev)->path.ends_with("/state")) seen_state[it->second] = true;
            judge(it->second);
            continue;
        }
        if (host.clock.now() >= deadline) break;
        (void)ctl; // a stop request does not cut a connect short: half-connected is worse
    }
    for (size_t i = 0; i < out.size(); ++i)
        if (!out[i].connected && out[i].error.empty()) {
            auto st = backend_state(host, self, ids[i]);
            out[i].error = "timed out after " + std::to_string(timeout.count()) +
                           " ms waiting for Connected (backend state " +
                           (st ? std::string(to_string(*st)) : "absent") + ")";
        }
    finish();
    return out;
}

// ---------------------------------------------------------------- unbind / bind

namespace {

// What unbind and bind both start with: the lock held, no other run unfinished, the vbd
// described and on the bus.
struct Prepared {
    std::unique_ptr<Lock> lock;
    Vbd vbd;
};

Result<Prepared> prepare(Host& host, VbdId id) {
    auto lock = VBD_TRY(host.state.lock());
    VBD_TRY_VOID(refuse_if_journal(host.state, "unbind"));
    Inventory inv(host);
    Vbd v = VBD_TRY(inv.get(id, Detail::summary));
    if (!v.device_present) return fail(Errc::refused, "not on the xen-backend bus", id.sysfs_name());
    if (v.detaching())
        return fail(Errc::refused, "the toolstack is detaching this disk (backend online " +
                                       std::string(v.online ? "1" : "0") + ", state " +
                                       std::string(v.backend_state ? to_string(*v.backend_state) : "absent") + ")",
                    id.sysfs_name(), "leave it to the toolstack (xl block-detach / block-attach)");
    return Prepared{std::move(lock), std::move(v)};
}

} // namespace

Result<UnbindResult> unbind_vbd(Host& host, VbdId id, const UnbindOptions& opts,
                                const RunControl& ctl) {
    auto [lock, v] = VBD_TRY(prepare(host, id));
    Inventory inv(host);
    const std::string name = id.sysfs_name();
    if (!v.bound) return fail(Errc::refused, "already unbound", name, "bind it with `vbdctl bind`");
    UnbindResult r;
    r.id = id;
    r.rebind = VBD_TRY(rebind_support(host, opts.assume_rebind));
    if (!r.rebind.supported) return fail(Errc::refused, r.rebind.evidence, name);
    std::string missing;
    for (const auto& f : VBD_TRY(check_kernel_fixes(host.kernel, opts.accept_hazards)))
        if (!f.ok) missing += (missing.empty() ? "" : "; ") + f.detail;
    if (!missing.empty()) return fail(Errc::refused, missing, name);
    if (!v.connected())
        return fail(Errc::refused,
                    "backend is " + std::string(v.backend_state ? to_string(*v.backend_state) : "absent") +
                        " and frontend " + (v.frontend_state ? std::string(to_string(*v.frontend_state)) : "absent") +
                        ": only a Connected vbd can be unbound safely",
                    name);
    for (const auto& q : v.queues) {
        if (!q.snapshot)
            return fail(Errc::refused, "ring of queue " + std::to_string(q.index) +
                                           " unreadable: " + q.snapshot_error.value_or("?"), name);
        if (!q.snapshot->consistent(v.rings->geometry.size()))
            return fail(Errc::refused,
                        "ring of queue " + std::to_string(q.index) + " is inconsistent (req_prod - rsp_prod = " +
                            std::to_string(q.snapshot->pending()) + " > " +
                            std::to_string(v.rings->geometry.size()) + "): a rebind would fail",
                        name);
    }
    auto before = VBD_TRY(host.modules.loaded("xen_blkback"));
    int bound_before = bound_count(host);
    // Journal first: if we die after the write, `recover` knows to bind it again.
    auto journal = VBD_TRY(read_journal(host.state)).value_or(Journal::begin("unbind", host.clock.wall_now().count()));
    journal.step = 1;
    journal.step_name = "unbind";
    journal.vbds.push_back(Journal::Entry{id, host.clock.wall_now().count(), v.backend_state});
    VBD_TRY_VOID(host.state.write_journal(journal.to_text()));
    ctl.report({"unbind", 0, 1, name});
    VBD_TRY_VOID(host.bus.unbind("vbd", name));
    auto dev = VBD_TRY(host.bus.device(name));
    if (dev.bound()) return fail(Errc::failed, "the driver link is still there after unbind", name);
    auto st = backend_state(host, VBD_TRY(inv.self_domid()), id);
    r.backend_state = st.value_or(XenbusState::Unknown);
    if (st != XenbusState::Connected)
        return fail(Errc::failed,
                    "GUEST LOST ITS DISK: backend state is " +
                        std::string(st ? to_string(*st) : "absent") +
                        " after unbind (this kernel closed the device)",
                    name, "the guest must re-attach the disk (xl block-detach/attach)");
    if (before && before->builtin) {
        // No module refcount exists: the driver link (checked above) is the only signal, and
        // it does not cover in-flight I/O the old instance still completes. Say so.
        r.drain_evidence = "the driver link is gone; xen-blkback is built in, so no module refcount shows "
                           "when the old instance's in-flight I/O has drained";
        return r;
    }
    // Each bound vbd holds the same number of references; ours drop when the old instance's
    // deferred free has run.
    int per_vbd = before && bound_before > 0 && before->refcnt % bound_before == 0
                      ? before->refcnt / bound_before
                      : refs_per_bound_vbd;
    int target = before ? before->refcnt - per_vbd : 0;
    ctl.report({"drain", 0, 1, name});
    r.drain_ms = VBD_TRY(wait_refcnt(host, std::max(target, 0), opts.drain_timeout, ctl));
    r.drain_evidence = "the driver link is gone and xen_blkback's refcount fell to " + std::to_string(std::max(target, 0));
    ctl.report({"drain", 1, 1, name});
    return r;
}

Result<BindResult> bind_vbd(Host& host, VbdId id, const BindOptions& opts, const RunControl& ctl) {
    auto [lock, v] = VBD_TRY(prepare(host, id));
    Inventory inv(host);
    const std::string name = id.sysfs_name();
    if (v.bound) return fail(Errc::refused, "already bound", name);
    if (!VBD_TRY(host.bus.driver_registered("vbd")))
        return fail(Errc::refused, "xen-blkback is not loaded (no drivers/vbd)", name,
                    "run `vbdctl recover` or modprobe xen-blkback");
    // max_queues and feature_persistent may have been written since the unbind.
    auto hazards = VBD_TRY(hazards_now(host, v));
    if (!hazards.empty())
        return fail(Errc::refused, "refusing to bind: " + hazards[0].kind + ": " + hazards[0].reason, name,
                    hazards[0].hint);
    auto journal = VBD_TRY(read_journal(host.state));
    std::optional<int64_t> unbound_at;
    if (journal)
        for (const auto& e : journal->vbds)
            if (e.id == id) unbound_at = e.unbound_wall_ms;
    ctl.report({"bind", 0, 1, name});
    auto waits = wait_connected(host, {id}, [&] { return host.bus.bind("vbd", name); }, opts.timeout, ctl);
    if (!waits[0].connected) return fail(Errc::failed, "bind failed: " + waits[0].error, name);
    BindResult r;
    r.id = id;
    r.backend_state = XenbusState::Connected;
    r.connect_ms = waits[0].connect_ms;
    if (unbound_at) r.unbound_ms = host.clock.wall_now().count() - *unbound_at;
    Vbd after = VBD_TRY(inv.get(id, Detail::summary));
    r.consistent = true;
    for (const auto& q : after.queues)
        r.consistent &= q.snapshot && after.rings && q.snapshot->consistent(after.rings->geometry.size());
    if (journal) {
        std::erase_if(journal->vbds, [&](const Journal::Entry& e) { return e.id == id; });
        if (journal->vbds.empty()) VBD_TRY_VOID(host.state.clear_journal());
        else VBD_TRY_VOID(host.state.write_journal(journal->to_text()));
    }
    ctl.report({"bind", 1, 1, name});
    if (!r.consistent) return fail(Errc::failed, "Connected, but a ring is inconsistent", name);
    return r;
}

// ---------------------------------------------------------------- recover

Result<RecoverReport> recover(Host& host, const RunControl& ctl, Millis timeout) {
    auto lock = VBD_TRY(host.state.lock());
    RecoverReport rep;
    auto j = VBD_TRY(read_journal(host.state));
    if (!j) {
        rep.ok = true;
        return rep;
    }
    rep.had_journal = true;
    rep.op = j->op;
    rep.step = j->step;
    Inventory inv(host);
    // The vbds still to care for: a destroyed guest's vbds are gone and need nothing.
    std::vector<VbdId> ids;
    for (const auto& e : j->vbds) {
        if (host.bus.device(e.id.sysfs_name())) ids.push_back(e.id);
        else rep.actions.push_back(e.id.sysfs_name() + " no longer exists (guest gone): nothing to do");
    }
    bool autoprobe_was = VBD_TRY(host.bus.autoprobe());
    if (j->op == "upgrade") autoprobe_was = j->autoprobe_before;
    auto loaded = VBD_TRY(host.modules.loaded("xen_blkback"));
    if (!loaded) {
        // Finish forward with the target module; fall back to the saved copy of the old one.
        std::vector<std::pair<std::string, std::map<std::string, std::string>>> candidates;
        if (!j->target_path.empty()) candidates.emplace_back(j->target_path, j->target_params);
        if (!j->rollback_path.empty()) candidates.emplace_back(j->rollback_path, j->old_params);
        if (auto p = host.modules.resolve("xen_blkback"); p) candidates.emplace_back(*p, std::map<std::string, std::string>{});
        std::string errors;
        // Bind below, each vbd under a watch, rather than let autoprobe race us.
        VBD_TRY_VOID(host.bus.set_autoprobe(false));
        for (const auto& [path, params] : candidates) {
            auto r = host.modules.load(path, params);
            if (r) {
                rep.actions.push_back("loaded " + path);
                errors.clear();
                break;
            }
            errors += r.error().message() + "; ";
            rep.actions.push_back("could not load " + path + ": " + r.error().message());
        }
        if (!errors.empty() || candidates.empty())
            return fail(Errc::failed, "no xen-blkback module could be loaded: " + errors, "xen_blkback",
                        "load one by hand (modprobe xen-blkback) and run `vbdctl recover` again");
    } else {
        // The old instances of unbound vbds must drain before anything is bound again.
        int bound = bound_count(host);
        VBD_TRY(wait_refcnt(host, bound * refs_per_bound_vbd, timeout, ctl));
    }
    std::vector<VbdId> to_bind;
    std::vector<ConnectWait> refused;
    for (auto id : ids) {
        auto d = host.bus.device(id.sysfs_name());
        if (!d || d->bound()) continue;
        auto v = VBD_TRY(inv.get(id, Detail::summary));
        auto hazards = VBD_TRY(hazards_now(host, v));
        if (hazards.empty()) {
            to_bind.push_back(id);
            continue;
        }
        std::string why = "left unbound: " + hazards[0].kind + ": " + hazards[0].reason + " (" + hazards[0].hint + ")";
        rep.actions.push_back(id.sysfs_name() + " " + why);
        refused.push_back(ConnectWait{id, false, why, 0});
    }
    ctl.report({"bind", 0, to_bind.size(), "recover"});
    auto waits = wait_connected(
        host, to_bind,
        [&]() -> Result<void> {
            for (auto id : to_bind) VBD_TRY_VOID(host.bus.bind("vbd", id.sysfs_name()));
            return {};
        },
        timeout, ctl);
    for (auto& w : waits) {
        rep.actions.push_back("bound " + w.id.sysfs_name() + (w.connected ? ": Connected" : ": " + w.error));
        // A vbd whose frontend was never Connected cannot reach Connected; InitWait is its home.
        if (!w.connected) {
            auto v = inv.get(w.id, Detail::summary);
            if (v && v->frontend_state != XenbusState::Connected && v->bound &&
                v->backend_state == XenbusState::InitWait) {
                w.error.clear();
                w.connected = true;
            }
        }
    }
    waits.insert(waits.end(), refused.begin(), refused.end());
    rep.vbds = waits;
    VBD_TRY_VOID(host.bus.set_autoprobe(autoprobe_was));
    bool all = std::all_of(waits.begin(), waits.end(), [](const ConnectWait& w) { return w.connected; });
    for (auto id : ids) {
        auto v = inv.get(id, Detail::summary);
        if (!v) continue;
        for (const auto& q : v->queues)
            if (q.snapshot && v->rings && !q.snapshot->consistent(v->rings->geometry.size())) all = false;
    }
    rep.module_after = VBD_TRY(host.modules.loaded("xen_blkback"));
    rep.ok = all && rep.module_after.has_value();
    if (rep.ok) VBD_TRY_VOID(host.state.clear_journal());
    return rep;
}

} // namespace vbd
