#include "vbdctl/lifecycle.hpp"
#include "try.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "paths.hpp"
#include "vbdctl/kernel_fixes.hpp"
#include "vbdctl/reconnect.hpp"

namespace vbd {

namespace {

std::string state_name(std::optional<XenbusState> s) { return s ? std::string(to_string(*s)) : "absent"; }

// The guest lost this disk: a side went Closing or Closed while the toolstack was not
// detaching it (a fatal reconnect; blkfront closes in turn). Only the toolstack gives it back.
bool lost_disk(const Vbd& v) {
    auto closed = [](std::optional<XenbusState> s) { return s == XenbusState::Closing || s == XenbusState::Closed; };
    return v.online && (closed(v.backend_state) || closed(v.frontend_state));
}

// What every one-vbd command starts with: the lock held, no other run unfinished (vbds
// left unbound by `vbdctl unbind` are fine), the vbd described, on the bus, not detaching.
struct Prepared {
    std::unique_ptr<Lock> lock;
    Vbd vbd;
    std::optional<Journal> journal;
};

Result<Prepared> prepare(Host& host, VbdId id, bool dry_run) {
    // A dry run only learns whether the lock is free; it takes nothing and creates nothing.
    std::unique_ptr<Lock> lock;
    if (dry_run) VBD_TRY_VOID(host.state.lock_free());
    else lock = VBD_TRY(host.state.lock());
    VBD_TRY_VOID(refuse_if_journal(host.state, true));
    Inventory inv(host);
    Vbd v = VBD_TRY(inv.get(id, Detail::summary));
    if (!v.device_present) return fail(Errc::refused, "not on the xen-backend bus", id.sysfs_name());
    if (v.detaching())
        return fail(Errc::refused, "the toolstack is detaching this disk (backend online 0, state " +
                                       state_name(v.backend_state) + ")",
                    id.sysfs_name(), "leave it to the toolstack (xl block-detach / block-attach)");
    auto journal = VBD_TRY(read_journal(host.state));
    return Prepared{std::move(lock), std::move(v), std::move(journal)};
}

// The frontend keys blkback's connect_ring() will read: refused when they would fail it,
// or when `protocol` is absent and the operator has not named the ABI.
Result<void> refuse_unusable_keys(const Vbd& v, const VbdOptions& opts) {
    for (const auto& p : v.problems) {
        bool protocol = p.starts_with("frontend key protocol is absent");
        if (protocol && opts.protocol) continue;
        return fail(Errc::refused, "refusing to reconnect it: " + p, v.id.sysfs_name(),
                    protocol ? "pass --protocol x86_64-abi (or the guest's ABI)"
                             : "the guest's blkfront must republish its keys; a reconnect now would close the disk");
    }
    if (opts.protocol && !v.problems.empty()) {
        auto p = parse_protocol(*opts.protocol);
        if (!p) return fail(Errc::invalid_argument, "--protocol: " + p.error().what);
    }
    return {};
}

Result<void> refuse_hazards(Host& host, const Vbd& v) {
    auto hazards = VBD_TRY(hazards_now(host, v));
    if (hazards.empty()) return {};
    return fail(Errc::refused, "refusing to bind: " + hazards[0].kind + ": " + hazards[0].reason, v.id.sysfs_name(),
                hazards[0].hint);
}

// The step that writes a named protocol into a frontend without one (only when needed).
std::optional<Step> protocol_step(Host& host, const Vbd& v, const VbdOptions& opts, VbdRun& out) {
    bool absent = std::any_of(v.problems.begin(), v.problems.end(),
                              [](const std::string& p) { return p.starts_with("frontend key protocol is absent"); });
    if (!absent || !opts.protocol) return std::nullopt;
    std::string path = v.frontend_path + "/protocol", abi = *opts.protocol;
    return Step{"protocol", "write " + abi + " to " + path + " (the frontend has none; --protocol)",
                "remove it again",
                [&host, &out, path, abi]() -> Result<void> {
                    VBD_TRY_VOID(host.xenstore.write(path, abi));
                    out.actions.push_back("wrote " + abi + " to " + path);
                    return {};
                },
                [&host, path] { return host.xenstore.remove(path); }};
}

Step unbind_step(Host& host, const Vbd& v, Millis drain_timeout, Journal& j, VbdRun& out) {
    return Step{"unbind", "unbind " + v.id.sysfs_name() + " (the guest keeps its disk; its I/O waits in the ring)",
                "bind it again once its old instance has drained",
                [&host, &j, &out, v]() -> Result<void> {
                    std::erase_if(j.vbds, [&](const Journal::Entry& e) { return e.id == v.id; });
                    j.vbds.push_back({v.id, host.clock.wall_now().count(), v.backend_state});
                    VBD_TRY_VOID(host.state.write_journal(j.to_text()));
                    VBD_TRY_VOID(host.bus.unbind("vbd", v.id.sysfs_name()));
                    auto dev = VBD_TRY(host.bus.device(v.id.sysfs_name()));
                    if (dev.bound()) return fail(Errc::failed, "the driver link is still there after unbind", v.id.sysfs_name());
                    auto st = VBD_TRY(host.xenstore.read(v.backend_path + "/state"));
                    auto s = st ? parse_xenbus_state(*st) : Result<XenbusState>(fail(Errc::not_found, "absent"));
                    out.backend_state = s.value_or(XenbusState::Unknown);
                    if (v.backend_state == XenbusState::Connected && out.backend_state != XenbusState::Connected)
                        return fail(Errc::failed,
                                    "GUEST LOST ITS DISK: backend state is " + state_name(s ? std::optional(*s) : std::nullopt) +
                                        " after unbind (this kernel closed the device)",
                                    v.id.sysfs_name(), lost_disk_advice(host, v.id));
                    return {};
                },
                [&host, v, drain_timeout]() -> Result<void> {
                    VBD_TRY(wait_drained(host, {v.id}, drain_timeout));
                    auto r = VBD_TRY(reconnect(host, {v.id}, {}, {}));
                    if (!r[0].error.empty()) return fail(Errc::failed, r[0].error, v.id.sysfs_name());
                    return {};
                }};
}

Step drain_step(Host& host, VbdId id, const VbdOptions& opts, VbdRun& out) {
    return Step{"drain",
                "wait until the old instance is gone (driver link and xen_blkback's refcount), at most " +
                    std::to_string(opts.drain_timeout.count() / 1000) + " s",
                "none needed",
                [&host, &out, id, t = opts.drain_timeout]() -> Result<void> {
                    auto d = VBD_TRY(wait_drained(host, {id}, t));
                    out.drain_ms = d.ms;
                    out.drain_evidence = d.evidence;
                    return {};
                },
                {}, OnFailure::hold};
}

Step bind_step(Host& host, const Vbd& v, const VbdOptions& opts, VbdRun& out) {
    return Step{"bind", "bind " + v.id.sysfs_name() + " and wait (at most " +
                            std::to_string(opts.timeout.count() / 1000) + " s) for Connected with consistent rings",
                "none (a failed bind is repaired by `vbdctl rebind` or `vbdctl recover`)",
                [&host, &out, v, t = opts.timeout, drain = opts.drain_timeout]() -> Result<void> {
                    // The old instance must be gone first, whoever unbound it.
                    VBD_TRY(wait_drained(host, {v.id}, drain));
                    ReconnectOptions ro{t, {}};
                    if (v.frontend_state != XenbusState::Connected) ro.initwait_ok.insert(v.id);
                    auto r = VBD_TRY(reconnect(host, {v.id}, ro, {}));
                    out.connect_ms = r[0].connect_ms;
                    out.consistent = r[0].consistent;
                    if (!r[0].error.empty()) return fail(Errc::failed, "bind failed: " + r[0].error, v.id.sysfs_name());
                    auto st = VBD_TRY(host.xenstore.read(v.backend_path + "/state"));
                    out.backend_state = st ? parse_xenbus_state(*st).value_or(XenbusState::Unknown) : XenbusState::Unknown;
                    return {};
                },
                {}, OnFailure::hold, false};
}

// Runs (or, in a dry run, only lists) the steps of a one-vbd command.
Result<VbdRun> execute(Host& host, Journal& j, std::vector<Step>& steps, VbdRun& out, bool dry_run,
                       bool keep_journal, const RunControl& ctl) {
    for (const auto& s : steps) out.plan.push_back({s.name, s.does, s.undo_does});
    out.dry_run = dry_run;
    if (dry_run) return out;
    auto r = run_steps(host, j, steps, ctl, !keep_journal, {&out.actions, {}, {out.id}, out.op});
    out.steps = r.steps;
    if (!r.ok) {
        // The journal goes back to what it means between runs: the vbds vbdctl unbound and
        // has not brought back (a failed bind leaves its vbd there), or nothing.
        std::erase_if(j.vbds, [&](const Journal::Entry& e) {
            auto d = host.bus.device(e.id.sysfs_name());
            return d && d->bound() && e.id != out.id;
        });
        j.op = "unbind";
        j.step_name = "unbound";
        if (auto w = j.vbds.empty() ? host.state.clear_journal() : host.state.write_journal(j.to_text()); !w)
            return std::unexpected(w.error());
        Error e = *r.error;
        if (r.held) e.hint = (e.hint.empty() ? "" : e.hint + "; ") + "the journal is kept for `vbdctl recover`";
        else if (!r.undo_log.empty()) e.what += " (undone: " + r.undo_log.front() + ")";
        return std::unexpected(e);
    }
    return out;
}

} // namespace

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

namespace {

// The checks unbind and rebind share: the kernel keeps guests connected across an unbind.
Result<RebindSupport> check_unbind_safe(Host& host, const Vbd& v, const VbdOptions& opts) {
    auto support = VBD_TRY(rebind_support(host, opts.assume_rebind));
    if (!support.supported) return fail(Errc::refused, support.evidence, v.id.sysfs_name());
    std::string missing;
    for (const auto& f : VBD_TRY(check_kernel_fixes(host.kernel, opts.accept_hazards)))
        if (!f.ok) missing += (missing.empty() ? "" : "; ") + f.detail;
    if (!missing.empty()) return fail(Errc::refused, missing, v.id.sysfs_name());
    VBD_TRY_VOID(refuse_unusable_keys(v, opts));
    for (const auto& q : v.queues) {
        if (!q.snapshot)
            return fail(Errc::refused, "ring of queue " + std::to_string(q.index) + " unreadable: " +
                                           q.snapshot_error.value_or("?"), v.id.sysfs_name());
        if (!q.snapshot->consistent(v.rings->geometry.size()))
            return fail(Errc::refused,
                        "ring of queue " + std::to_string(q.index) + " is inconsistent (req_prod - rsp_prod = " +
                            std::to_string(q.snapshot->pending()) + " > " +
                            std::to_string(v.rings->geometry.size()) + "): a rebind would fail",
                        v.id.sysfs_name());
    }
    return support;
}

Journal journal_for(Host& host, std::optional<Journal> existing, const char* op) {
    if (existing) return std::move(*existing);
    return Journal::begin(op, host.clock.wall_now().count(), host.bus.autoprobe().value_or(true));
}

} // namespace

Result<VbdRun> unbind_vbd(Host& host, VbdId id, const VbdOptions& opts, const RunControl& ctl) {
    auto [lock, v, journal] = VBD_TRY(prepare(host, id, opts.dry_run));
    const std::string name = id.sysfs_name();
    if (!v.bound) return fail(Errc::refused, "already unbound", name, "bind it with `vbdctl bind`");
    if (!v.connected()) {
        bool repairable = v.frontend_state == XenbusState::Connected && !lost_disk(v);
        return fail(Errc::refused,
                    "backend is " + state_name(v.backend_state) + " and frontend " + state_name(v.frontend_state) +
                        ": only a Connected vbd can be unbound safely",
                    name,
                    repairable ? "`vbdctl rebind " + std::to_string(id.domid) + " " + v.vdev + "` repairs it"
                    : lost_disk(v) ? lost_disk_advice(host, id)
                                   : "");
    }
    VbdRun out;
    out.id = id;
    out.op = "unbind";
    out.rebind = VBD_TRY(check_unbind_safe(host, v, opts));
    Journal j = journal_for(host, journal, "unbind");
    j.op = "unbind";
    std::vector<Step> steps;
    if (auto p = protocol_step(host, v, opts, out)) steps.push_back(std::move(*p));
    steps.push_back(unbind_step(host, v, opts.drain_timeout, j, out));
    steps.push_back(drain_step(host, id, opts, out));
    // The last step's record: what stays in the journal while the vbd is deliberately unbound.
    steps.push_back(Step{"unbound", "record " + name + " as deliberately unbound (until `vbdctl bind` or `recover`)",
                         "none needed", [] { return Result<void>{}; }, {}, OnFailure::hold, false});
    return execute(host, j, steps, out, opts.dry_run, true, ctl);
}

Result<VbdRun> bind_vbd(Host& host, VbdId id, const VbdOptions& opts, const RunControl& ctl) {
    auto [lock, v, journal] = VBD_TRY(prepare(host, id, opts.dry_run));
    const std::string name = id.sysfs_name();
    if (v.bound) {
        if (v.frontend_state == XenbusState::Connected && v.backend_state != XenbusState::Connected)
            return fail(Errc::refused, "already bound, but its backend is " + state_name(v.backend_state), name,
                        lost_disk(v) ? lost_disk_advice(host, id)
                                     : "`vbdctl rebind " + std::to_string(id.domid) + " " + v.vdev + "` repairs it");
        return fail(Errc::refused, "already bound", name);
    }
    if (!VBD_TRY(host.bus.driver_registered("vbd")))
        return fail(Errc::refused, "xen-blkback is not loaded (no drivers/vbd)", name,
                    "run `vbdctl recover` or modprobe xen-blkback");
    // max_queues and feature_persistent may have been written since the unbind.
    VBD_TRY_VOID(refuse_hazards(host, v));
    VBD_TRY_VOID(refuse_unusable_keys(v, opts));
    VbdRun out;
    out.id = id;
    out.op = "bind";
    std::optional<int64_t> unbound_at;
    if (journal)
        for (const auto& e : journal->vbds)
            if (e.id == id) unbound_at = e.unbound_wall_ms;
    Journal j = journal_for(host, journal, "bind");
    std::vector<Step> steps;
    if (auto p = protocol_step(host, v, opts, out)) steps.push_back(std::move(*p));
    steps.push_back(bind_step(host, v, opts, out));
    // Forget it in the unbind journal; the journal goes with its last vbd.
    steps.push_back(Step{"forget", "drop " + name + " from the journal", "none needed",
                         [&host, &j, id]() -> Result<void> {
                             std::erase_if(j.vbds, [&](const Journal::Entry& e) { return e.id == id; });
                             if (j.vbds.empty()) return host.state.clear_journal();
                             j.step_name = "unbound";
                             return host.state.write_journal(j.to_text());
                         },
                         {}, OnFailure::hold, false});
    auto r = VBD_TRY(execute(host, j, steps, out, opts.dry_run, true, ctl));
    if (unbound_at && !opts.dry_run) r.unbound_ms = host.clock.wall_now().count() - *unbound_at;
    return r;
}

Result<VbdRun> rebind_vbd(Host& host, VbdId id, const VbdOptions& opts, const RunControl& ctl) {
    auto [lock, v, journal] = VBD_TRY(prepare(host, id, opts.dry_run));
    const std::string name = id.sysfs_name();
    if (lost_disk(v)) return fail(Errc::refused, "backend is " + state_name(v.backend_state), name, lost_disk_advice(host, id));
    if (!v.bound) return fail(Errc::refused, "not bound", name, "bind it with `vbdctl bind`");
    if (v.frontend_state != XenbusState::Connected)
        return fail(Errc::refused, "frontend is " + state_name(v.frontend_state) + ": rebind repairs a vbd whose frontend is Connected",
                    name);
    if (v.backend_state == XenbusState::Connected)
        return fail(Errc::refused, "backend and frontend are Connected: nothing to repair", name,
                    "to cycle a healthy vbd, use `vbdctl unbind` and `vbdctl bind`");
    VbdRun out;
    out.id = id;
    out.op = "rebind";
    out.rebind = VBD_TRY(check_unbind_safe(host, v, opts));
    VBD_TRY_VOID(refuse_hazards(host, v));
    Journal j = journal_for(host, journal, "rebind");
    std::vector<Step> steps;
    if (auto p = protocol_step(host, v, opts, out)) steps.push_back(std::move(*p));
    // Unbinding a backend in InitWait does not touch the guest: it never connected this instance.
    Step unbind = unbind_step(host, v, opts.drain_timeout, j, out);
    unbind.does = "unbind " + name + " (backend " + state_name(v.backend_state) + "; the guest's I/O waits in its ring)";
    unbind.undo = {};
    unbind.undo_does = "none (recover binds it)";
    unbind.on_failure = OnFailure::hold;
    steps.push_back(std::move(unbind));
    steps.push_back(drain_step(host, id, opts, out));
    steps.push_back(bind_step(host, v, opts, out));
    steps.push_back(Step{"verify", "check " + name + " is Connected with consistent rings", "none needed",
                         [&host, &j, &out, id]() -> Result<void> {
                             if (!out.consistent) return fail(Errc::failed, "Connected, but a ring is inconsistent", id.sysfs_name());
                             std::erase_if(j.vbds, [&](const Journal::Entry& e) { return e.id == id; });
                             return {};
                         },
                         {}, OnFailure::hold, false});
    bool keep = journal.has_value(); // an unbind journal of other vbds stays
    auto r = VBD_TRY(execute(host, j, steps, out, opts.dry_run, keep, ctl));
    if (keep && !opts.dry_run) {
        j.step_name = "unbound";
        if (j.vbds.empty()) VBD_TRY_VOID(host.state.clear_journal());
        else VBD_TRY_VOID(host.state.write_journal(j.to_text()));
    }
    return r;
}

// ---------------------------------------------------------------- recover

namespace {

// The vbds recover answers for, and what their goal is.
struct Target {
    VbdId id;
    bool journaled = false;
};

Result<std::vector<Target>> recover_targets(Host& host, const std::optional<Journal>& j, RecoverReport& rep) {
    std::vector<Target> out;
    std::set<VbdId> seen;
    if (j)
        for (const auto& e : j->vbds) {
            if (host.bus.device(e.id.sysfs_name())) {
                out.push_back({e.id, true});
                seen.insert(e.id);
            } else {
                rep.actions.push_back(e.id.sysfs_name() + " no longer exists (guest or disk gone): nothing to do");
            }
        }
    for (const auto& name : VBD_TRY(host.bus.devices())) {
        auto id = parse_sysfs_name(name);
        if (!id || seen.contains(*id) || !name.starts_with("vbd-")) continue;
        out.push_back({*id, false});
        seen.insert(*id);
    }
    return out;
}

bool frontend_waiting(const Vbd& v) {
    return v.frontend_state && *v.frontend_state >= XenbusState::Initialising &&
           *v.frontend_state <= XenbusState::Connected;
}

} // namespace

Result<RecoverReport> recover(Host& host, const RecoverOptions& opts, const RunControl& ctl) {
    std::unique_ptr<Lock> lock;
    if (opts.dry_run) VBD_TRY_VOID(host.state.lock_free());
    else lock = VBD_TRY(host.state.lock());
    RecoverReport rep;
    rep.from_live = opts.from_live;
    rep.dry_run = opts.dry_run;
    std::optional<Journal> journal;
    if (!opts.from_live) {
        journal = VBD_TRY(read_journal(host.state));
        if (!journal) {
            rep.ok = true;
            return rep;
        }
    }
    rep.had_journal = journal.has_value();
    if (journal) {
        rep.op = journal->op;
        rep.step = journal->step;
        rep.step_name = journal->step_name;
    }
    // drivers_autoprobe as it was before the run: from the journal, never re-read here (a
    // crashed run may have left it 0). Without a journal, the kernel's default, 1.
    bool autoprobe_goal = journal ? journal->autoprobe_before : true;
    Journal j = journal ? *journal : Journal::begin("recover", host.clock.wall_now().count(), autoprobe_goal);
    j.recovering = true;
    auto targets = VBD_TRY(recover_targets(host, journal, rep));
    Inventory inv(host);

    // Module candidates, in order: the run's target, its rollback copy, what modprobe finds.
    std::vector<std::pair<std::string, std::map<std::string, std::string>>> candidates;
    if (!j.target_path.empty()) candidates.emplace_back(j.target_path, j.target_params);
    if (!j.rollback_path.empty()) candidates.emplace_back(j.rollback_path, j.old_params);
    if (auto p = host.modules.resolve("xen_blkback"); p) candidates.emplace_back(*p, std::map<std::string, std::string>{});

    std::vector<VbdId> to_drain;
    std::vector<Step> steps;
    steps.push_back({"load", "load xen-blkback if it is not loaded (drivers_autoprobe off): the run's target, its "
                             "rollback copy, or what modprobe resolves",
                     "none needed",
                     [&]() -> Result<void> {
                         if (VBD_TRY(host.modules.loaded("xen_blkback"))) return {};
                         VBD_TRY_VOID(host.bus.set_autoprobe(false)); // bound below, each under a watch
                         std::string errors;
                         for (const auto& [path, params] : candidates) {
                             auto r = host.modules.load(path, params);
                             if (r) {
                                 rep.actions.push_back("loaded " + path);
                                 return {};
                             }
                             errors += r.error().message() + "; ";
                             rep.actions.push_back("could not load " + path + ": " + r.error().message());
                         }
                         return fail(Errc::failed, "no xen-blkback module could be loaded: " + errors, "xen_blkback",
                                     "load one by hand (modprobe xen-blkback) and run `vbdctl recover` again");
                     },
                     {}, OnFailure::hold, false});
    steps.push_back({"drain", "wait until every unbound vbd's old instance is gone, at most " +
                                  std::to_string(opts.drain_timeout.count() / 1000) + " s",
                     "none needed",
                     [&]() -> Result<void> {
                         for (const auto& t : targets) {
                             auto d = host.bus.device(t.id.sysfs_name());
                             if (d && !d->bound()) to_drain.push_back(t.id);
                         }
                         auto d = VBD_TRY(wait_drained(host, to_drain, opts.drain_timeout));
                         rep.actions.push_back("old instances gone: " + d.evidence);
                         return {};
                     },
                     {}, OnFailure::hold, false});
    steps.push_back({"bind", "bind every unbound vbd whose frontend is Connected or waiting, wait for bound ones "
                             "to connect, and rebind those that do not",
                     "none needed",
                     [&]() -> Result<void> {
                         std::vector<VbdId> ids;
                         ReconnectOptions ro{opts.timeout, {}};
                         ro.check_rings = false; // verify, next, checks every target's rings
                         for (const auto& t : targets) {
                             auto v = inv.get(t.id, Detail::states);
                             if (!v || !v->device_present || v->detaching() || !frontend_waiting(*v) || lost_disk(*v))
                                 continue;
                             if (v->bound && v->connected()) continue;
                             if (!v->bound) {
                                 auto hazards = VBD_TRY(hazards_now(host, *v));
                                 if (!hazards.empty()) {
                                     rep.actions.push_back(t.id.sysfs_name() + " left unbound: " + hazards[0].kind +
                                                           ": " + hazards[0].reason + " (" + hazards[0].hint + ")");
                                     continue;
                                 }
                             }
                             if (v->frontend_state != XenbusState::Connected) ro.initwait_ok.insert(t.id);
                             ids.push_back(t.id);
                         }
                         auto waits = VBD_TRY(reconnect(host, ids, ro, ctl));
                         // A bound vbd that never connected under a Connected frontend: rebind it.
                         std::vector<VbdId> again;
                         for (const auto& w : waits) {
                             rep.actions.push_back(w.id.sysfs_name() +
                                                   (!w.error.empty()                  ? ": " + w.error
                                                    : ro.initwait_ok.contains(w.id) ? ": bound, waiting for its frontend"
                                                                                     : ": Connected"));
                             auto v = inv.get(w.id, Detail::states);
                             if (!w.error.empty() && v && v->bound && v->backend_state == XenbusState::InitWait &&
                                 v->frontend_state == XenbusState::Connected)
                                 again.push_back(w.id);
                         }
                         if (again.empty()) return {};
                         for (auto id : again) {
                             VBD_TRY_VOID(host.bus.unbind("vbd", id.sysfs_name()));
                             rep.actions.push_back("rebinding " + id.sysfs_name() + " (bound, never Connected)");
                         }
                         VBD_TRY(wait_drained(host, again, opts.drain_timeout));
                         for (const auto& w : VBD_TRY(reconnect(host, again, ro, ctl)))
                             rep.actions.push_back(w.id.sysfs_name() + (w.error.empty() ? ": Connected" : ": " + w.error));
                         return {};
                     },
                     {}, OnFailure::hold, false});
    steps.push_back({"verify", "check every vbd on the bus: Connected frontends have a bound, Connected backend "
                               "and consistent rings; waiting ones are bound; restore drivers_autoprobe to " +
                                   std::string(autoprobe_goal ? "1" : "0"),
                     "none needed",
                     [&]() -> Result<void> {
                         std::string bad;
                         for (const auto& t : targets) {
                             auto v = inv.get(t.id, Detail::summary);
                             RecoverVbd r{t.id, false, {}, {}};
                             if (!v || !v->device_present) {
                                 r.ok = true;
                                 r.state = "gone";
                             } else {
                                 r.state = "backend " + state_name(v->backend_state) + ", frontend " +
                                           state_name(v->frontend_state) + (v->bound ? "" : ", unbound");
                                 bool consistent = std::all_of(v->queues.begin(), v->queues.end(), [&](const QueueState& q) {
                                     return q.snapshot && v->rings && q.snapshot->consistent(v->rings->geometry.size());
                                 });
                                 if (v->detaching()) r.ok = true; // the toolstack's
                                 else if (lost_disk(*v))
                                     r.error = t.journaled ? lost_disk_advice(host, t.id) : "";
                                 else if (v->frontend_state == XenbusState::Connected)
                                     r.error = !v->bound ? "no backend bound"
                                               : v->backend_state != XenbusState::Connected
                                                   ? "backend not Connected: `vbdctl rebind " + std::to_string(t.id.domid) + " " + v->vdev + "`"
                                               : !consistent ? "a ring is inconsistent" : "";
                                 else if (frontend_waiting(*v) && !v->bound)
                                     r.error = "no backend bound while its frontend waits for one";
                                 r.ok = r.error.empty();
                             }
                             if (!r.ok) bad += t.id.sysfs_name() + ": " + r.error + "; ";
                             if (t.journaled || !r.ok) rep.vbds.push_back(std::move(r));
                         }
                         if (VBD_TRY(host.bus.autoprobe()) != autoprobe_goal) {
                             VBD_TRY_VOID(host.bus.set_autoprobe(autoprobe_goal));
                             rep.actions.push_back("restored drivers_autoprobe to " +
                                                   std::string(autoprobe_goal ? "1" : "0"));
                         }
                         if (!bad.empty()) return fail(Errc::failed, "not recovered: " + bad);
                         return {};
                     },
                     {}, OnFailure::hold, false});
    for (const auto& s : steps) rep.plan.push_back({s.name, s.does, s.undo_does});
    if (opts.dry_run) return rep;
    RunLog log{&rep.actions, [&](const PlanRun& failed) {
                   // Whatever failed, drivers_autoprobe goes back: it is bus-wide (netback's vifs too).
                   if (auto a = host.bus.set_autoprobe(autoprobe_goal); !a)
                       rep.actions.push_back("could not restore drivers_autoprobe: " + a.error().message());
                   else
                       rep.actions.push_back("restored drivers_autoprobe to " + std::string(autoprobe_goal ? "1" : "0"));
                   rep.actions.push_back("not recovered: " + failed.error->message() + "; the journal is kept");
               },
               {}, {}};
    auto run = run_steps(host, j, steps, ctl, true, log);
    rep.steps = run.steps;
    rep.module_after = VBD_TRY(host.modules.loaded("xen_blkback"));
    rep.ok = run.ok;
    return rep;
}

} // namespace vbd
