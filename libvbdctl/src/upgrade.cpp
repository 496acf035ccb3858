#include "vbdctl/upgrade.hpp"

#include "vbdctl/kernel_fixes.hpp"
#include "vbdctl/reconnect.hpp"

#include <algorithm>
#include <set>

namespace vbd {

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
    return s;
}

// How we know file f is the build that is loaded as m; nullopt when we cannot tell.
std::optional<std::string> same_module(const LoadedModule& m, const ModuleFile& f) {
    if (m.srcversion && f.srcversion)
        return *m.srcversion == *f.srcversion ? std::optional<std::string>("same srcversion") : std::nullopt;
    if (m.build_id && f.build_id)
        return *m.build_id == *f.build_id ? std::optional<std::string>("same build-id") : std::nullopt;
    // A distribution's in-tree module has no srcversion, and a compressed file's build-id
    // cannot be read without decompressing it; an untainted loaded module without a
    // srcversion is the kernel's own build, and so is the file in the kernel's own tree.
    if (!m.srcversion && !f.srcversion && m.taint.empty() && f.path.find("/kernel/drivers/") != std::string::npos)
        return "the untainted in-tree module and the in-tree file (neither has a srcversion; the file's build-id is not readable)";
    return std::nullopt;
}

} // namespace

std::string_view step_name(int step) {
    switch (step) {
    case step_plan: return "plan";
    case step_unbind: return "unbind";
    case step_drain: return "drain";
    case step_unload: return "unload";
    case step_load: return "load";
    case step_bind: return "bind";
    case step_verify: return "verify";
    case step_rollback: return "rollback";
    default: return "?";
    }
}

bool UpgradePlan::refused() const {
    return std::any_of(checks.begin(), checks.end(), [](const PreflightCheck& c) { return !c.ok; });
}

Result<UpgradePlan> plan_upgrade(Host& host, const UpgradeOptions& opts, bool dry_run) {
    UpgradePlan plan;
    plan.opts = opts;
    auto check = [&](std::string name, bool ok, std::string detail) {
        plan.checks.push_back({std::move(name), ok, std::move(detail)});
        return ok;
    };
    auto lock = host.state.lock();
    check("lock", lock.has_value(), lock ? "no other vbdctl is changing this host" : lock.error().message());
    // A dry run only learns whether the lock is free; it must not own the host meanwhile.
    if (lock && !dry_run) plan.lock = std::move(*lock);
    if (lock) lock->reset();
    auto jr = refuse_if_journal(host.state);
    check("journal", jr.has_value(), jr ? "no unfinished run" : jr.error().message());

    auto rebind = VBD_TRY(rebind_support(host, opts.assume_rebind));
    check("rebind support", rebind.supported, rebind.evidence);
    for (auto& f : VBD_TRY(check_kernel_fixes(host.kernel, opts.accept_hazards)))
        check(std::move(f.name), f.ok, std::move(f.detail));

    plan.module_before = VBD_TRY(host.modules.loaded("xen_blkback"));
    check("module loaded", plan.module_before.has_value(),
          plan.module_before ? "xen_blkback loaded, refcnt " + std::to_string(plan.module_before->refcnt)
                             : "xen_blkback is not loaded: nothing to upgrade (modprobe xen-blkback)");
    if (plan.module_before && plan.module_before->builtin)
        check("module built in", false,
              "xen-blkback is built into this kernel (no refcnt in /sys/module/xen_blkback): it cannot be "
              "unloaded, so it cannot be reloaded or upgraded; unbind and bind still work");
    auto release = VBD_TRY(host.kernel.release());

    // Which file is the loaded module? Its copy is what a rollback loads.
    auto candidates = VBD_TRY(host.modules.files("xen_blkback"));
    std::optional<ModuleFile> reference;
    std::string identified_by;
    for (const auto& c : candidates) {
        auto f = host.modules.inspect(c);
        if (!f) continue;
        if (!reference) reference = *f;
        auto how = plan.module_before ? same_module(*plan.module_before, *f) : std::nullopt;
        if (how) {
            plan.old_path = c;
            identified_by = *how;
            reference = *f;
            break;
        }
    }

    std::string target_path = opts.module_file ? *opts.module_file
                              : candidates.empty() ? "xen-blkback (modprobe finds no file)"
                                                   : candidates.front();
    auto target = host.modules.inspect(target_path);
    if (!target) {
        check("module file", false, target.error().message());
    } else {
        plan.target = *target;
        bool ok = check("module name", target->name == "xen_blkback",
                        target_path + " is module " + target->name +
                            (target->name == "xen_blkback" ? "" : ", not xen_blkback"));
        std::string vm = trim(target->vermagic);
        bool release_ok = vm.starts_with(release + " ");
        bool vm_ok = release_ok && (!reference || vm == trim(reference->vermagic));
        if (!vm_ok && opts.force_vermagic)
            check("vermagic", true, "'" + vm + "' forced (--force-vermagic) on kernel " + release);
        else if (ok)
            check("vermagic", vm_ok,
                  vm_ok ? "'" + vm + "' matches the running kernel"
                        : "'" + vm + "' does not match the running kernel (" + release +
                              (reference ? ", '" + trim(reference->vermagic) + "'" : "") + ")");
        // The kernel would refuse an unsigned module only at load, with every vbd unbound.
        auto enforced = VBD_TRY(host.kernel.signature_enforcement());
        std::string signer = target->signer ? "signed by " + *target->signer +
                                                  (target->sig_key ? " (key " + *target->sig_key + ")" : "")
                                            : "unsigned";
        if (target->signer)
            check("signature", true, signer + "; the kernel checks it against its keyring at load");
        else
            check("signature", !enforced,
                  enforced ? signer + ", and this kernel loads only signed modules (" + *enforced +
                                 "): sign it with a key the kernel trusts"
                           : signer + ": this kernel does not enforce signatures (loading it taints the kernel)");
        // A bad value from any source is bad input: refuse before anything else (exit 2).
        auto config = VBD_TRY(host.modules.config_options("xen_blkback"));
        plan.params = VBD_TRY(plan_params(plan.module_before, *target, {opts.params, opts.reset_params, config}));
    }

    // What the new module will impose on every frontend when it connects it.
    unsigned cpus = VBD_TRY(host.kernel.online_cpus());
    auto limits = connect_limits(target ? plan.params.load : opts.params, cpus, true);

    Inventory inv(host);
    auto all = VBD_TRY(inv.list(std::nullopt));
    std::set<VbdId> only;
    for (const auto& o : opts.only) {
        if (o.vbd) {
            auto id = inv.resolve(o.domid, *o.vbd);
            if (!id) {
                check("--only " + std::to_string(o.domid) + ":" + *o.vbd, false, id.error().message());
                continue;
            }
            only.insert(*id);
        } else {
            bool any = false;
            for (const auto& v : all)
                if (v.id.domid == o.domid) {
                    only.insert(v.id);
                    any = true;
                }
            check("--only " + std::to_string(o.domid), any,
                  any ? "selected" : "domain " + std::to_string(o.domid) + " has no vbd here");
        }
    }
    std::vector<Vbd> present;
    for (auto& v : all)
        if (v.device_present) present.push_back(std::move(v));
    auto health = VBD_TRY(check_rings(host, present, {std::max(2u, opts.samples), opts.interval}));
    // kind -> reason -> the vbds it applies to, so a shared reason is said once.
    std::map<std::string, std::map<std::string, std::pair<std::string, std::string>>> hazards;
    unsigned max_order = 0, max_q = 0;
    for (auto& h : health) {
        PlannedVbd p;
        p.vbd = h.vbd;
        p.gated = opts.only.empty() || only.contains(h.vbd.id);
        p.must_connect = h.vbd.connected();
        const std::string name = h.vbd.id.sysfs_name();
        if (h.vbd.rings) {
            max_order = std::max(max_order, h.vbd.rings->geometry.page_order);
            max_q = std::max(max_q, static_cast<unsigned>(h.vbd.rings->queues.size()));
        }
        // Every vbd is reconnected, whatever --only says.
        for (const auto& z : connect_hazards(h.vbd, limits)) {
            auto& [vbds, hint] = hazards[z.kind][z.reason];
            vbds += (vbds.empty() ? "" : ", ") + name;
            hint = z.hint;
        }
        for (const auto& q : h.queues) {
            // An inconsistent ring fails blkback's re-attach check: refuse whatever --only says.
            if (!q.consistent && !q.samples.empty())
                check("ring " + name + " q" + std::to_string(q.queue), false, q.reason);
            else if (p.gated && q.progress == Progress::stuck)
                check("ring " + name + " q" + std::to_string(q.queue), false, q.reason);
        }
        if (h.vbd.detaching())
            check("detaching " + name, false,
                  "the toolstack is detaching it (online " + std::string(h.vbd.online ? "1" : "0") +
                      ", backend " + std::string(h.vbd.backend_state ? to_string(*h.vbd.backend_state) : "absent") +
                      "): the module cannot be reloaded under it; wait until the toolstack has removed it");
        if (!h.vbd.connected())
            p.note = "not Connected (backend " +
                     std::string(h.vbd.backend_state ? to_string(*h.vbd.backend_state) : "absent") +
                     ", frontend " +
                     std::string(h.vbd.frontend_state ? to_string(*h.vbd.frontend_state) : "absent") +
                     "): rebound and left in that state";
        else if (!p.gated)
            p.note = "outside --only: rebound, checked for consistency only";
        if (!h.vbd.bound) p.note += std::string(p.note.empty() ? "" : "; ") + "currently unbound: will be bound";
        plan.vbds.push_back(std::move(p));
    }
    auto verdict = [&](const char* kind, std::string ok_detail) {
        auto it = hazards.find(kind);
        if (it == hazards.end()) return check(kind, true, std::move(ok_detail));
        std::string detail;
        for (const auto& [reason, who] : it->second)
            detail += (detail.empty() ? "" : "; ") + who.first + ": " + reason + " (" + who.second + ")";
        return check(kind, false, detail);
    };
    verdict("ring-page-order", "new max_ring_page_order " + std::to_string(limits.ring_page_order) +
                                   ", frontends use up to " + std::to_string(max_order));
    verdict("queues", "new max_queues allows " + std::to_string(limits.queues) + ", frontends use up to " +
                          std::to_string(max_q));
    verdict("persistent grants",
            std::string("new feature_persistent ") + (limits.persistent ? "Y" : "N") +
                ": no connected frontend would see persistent grants turned on under it");

    // The module already loaded, with the same values: a reload would only stall every guest.
    plan.noop = !opts.force && plan.module_before && target && same_module(*plan.module_before, *target) &&
                !plan.module_before->builtin && plan.params.changes.empty();
    if (plan.old_path.empty()) {
        check("rollback", opts.allow_no_rollback || plan.noop,
              "rollback impossible: no module file matches the loaded xen_blkback (srcversion/build-id)" +
                  std::string(plan.noop ? "; not needed, nothing to do"
                              : opts.allow_no_rollback ? "; proceeding because of --without-rollback"
                                                       : "; pass --without-rollback to proceed without"));
    } else if (dry_run || plan.refused() || plan.noop) {
        check("rollback", true, "would keep a copy of " + plan.old_path + " (" + identified_by + ") in " +
                                    host.state.path() + "/rollback");
    } else {
        auto copy = host.modules.keep_copy(plan.old_path, host.state.path() + "/rollback");
        check("rollback", copy.has_value(),
              copy ? "copy of " + plan.old_path + " (" + identified_by + ") kept at " + *copy
                   : copy.error().message());
        if (copy) plan.rollback_path = *copy;
    }
    plan.autoprobe_before = VBD_TRY(host.bus.autoprobe());
    size_t n = plan.vbds.size();
    plan.steps = {
        "1 plan: journal the plan (" + std::to_string(n) + " vbds)",
        "2 unbind: unbind all " + std::to_string(n) + " vbds (guests keep their disks; I/O queues)",
        "3 drain: wait for the old instances' in-flight I/O (xen_blkback refcount to 0)",
        "4 unload: rmmod xen_blkback" + (plan.module_before && plan.module_before->srcversion
                                            ? " (srcversion " + *plan.module_before->srcversion + ")"
                                            : ""),
        "5 load: " + target_path + (plan.target.srcversion ? " (srcversion " + *plan.target.srcversion + ")" : "") +
            " with drivers_autoprobe off",
        std::string("6 bind: ") + (opts.canary ? "one canary vbd, prove it, then the rest" : "every vbd") +
            ", waiting for Connected",
        "7 verify: every vbd Connected, rings consistent and moving; restore drivers_autoprobe",
    };
    plan.target.path = target_path;
    if (plan.noop) {
        std::string id = plan.module_before->srcversion ? "srcversion " + *plan.module_before->srcversion
                         : plan.module_before->build_id ? "build-id " + *plan.module_before->build_id
                                                        : "the same build";
        plan.steps = {"nothing to do: " + target_path + " is the loaded module (" + id +
                      ") and every parameter keeps its value (--force reloads anyway)"};
    }
    return plan;
}

namespace {

// The running state of one upgrade: what has been done, so a rollback knows what to undo.
class Runner {
  public:
    Runner(Host& host, UpgradePlan& plan, const RunControl& ctl)
        : host_(host), plan_(plan), ctl_(ctl), inv_(host) {}

    UpgradeReport run();

  private:
    Result<void> journal(int step);
    void record(int step, bool ok, int64_t ms, std::string detail) {
        rep_.steps.push_back({step, std::string(step_name(step)), ok, ms, std::move(detail)});
    }
    Result<void> unbind_all();
    Result<void> bind(const std::vector<size_t>& which);
    Result<void> verify(const std::vector<size_t>& which, bool need_progress);
    void rollback(const std::string& why);
    Result<void> adopt_newcomers();
    bool exists(size_t i) { return host_.bus.device(plan_.vbds[i].vbd.id.sysfs_name()).has_value(); }
    /// Whether the toolstack took vbd i away, or is doing so (then it is left alone).
    bool left_to_toolstack(size_t i) {
        if (!exists(i)) return true;
        auto online = host_.xenstore.read(plan_.vbds[i].vbd.backend_path + "/online");
        return online && *online && **online == "0";
    }
    void mark_gone(size_t i) {
        auto& out = rep_.vbds[i];
        out.gone = true;
        if (!exists(i)) return;
        out.note = "detached during the run: left to the toolstack";
        auto st = host_.xenstore.read(plan_.vbds[i].vbd.backend_path + "/state");
        if (st && *st) out.backend_state = parse_xenbus_state(**st).value_or(XenbusState::Unknown);
    }

    Host& host_;
    UpgradePlan& plan_;
    const RunControl& ctl_;
    Inventory inv_;
    UpgradeReport rep_;
    Journal j_;
    std::vector<Millis> unbound_at_;
    bool loaded_new_ = false;
    Millis window_start_{0};
};

Result<void> Runner::journal(int step) {
    j_.step = step;
    j_.step_name = std::string(step_name(step));
    ctl_.report({j_.step_name, 0, plan_.vbds.size(), ""});
    return host_.state.write_journal(j_.to_text());
}

Result<void> Runner::unbind_all() {
    // All unbinds are issued back to back; the old instances then drain in parallel.
    for (size_t i = 0; i < plan_.vbds.size(); ++i) {
        const auto& v = plan_.vbds[i].vbd;
        if (left_to_toolstack(i)) {
            mark_gone(i);
            continue;
        }
        auto dev = host_.bus.device(v.id.sysfs_name());
        if (!dev || !dev->bound()) continue;
        VBD_TRY_VOID(host_.bus.unbind("vbd", v.id.sysfs_name()));
        unbound_at_[i] = host_.clock.now();
        j_.vbds[i].unbound_wall_ms = host_.clock.wall_now().count();
        auto st = host_.xenstore.read(v.backend_path + "/state");
        if (v.backend_state == XenbusState::Connected && st && *st && **st != "4")
            return fail(Errc::failed, "GUEST LOST ITS DISK: backend state went to " + **st + " on unbind",
                        v.id.sysfs_name());
        ctl_.report({"unbind", i + 1, plan_.vbds.size(), v.id.sysfs_name()});
    }
    return {};
}

Result<void> Runner::bind(const std::vector<size_t>& which) {
    std::vector<VbdId> ids;
    std::vector<size_t> idx;
    std::set<VbdId> initwait_ok;
    for (size_t i : which) {
        if (left_to_toolstack(i)) { // the guest or the disk went away: nothing to give back
            mark_gone(i);
            continue;
        }
        if (!plan_.vbds[i].must_connect) initwait_ok.insert(plan_.vbds[i].vbd.id);
        auto dev = host_.bus.device(plan_.vbds[i].vbd.id.sysfs_name());
        if (dev && dev->bound()) continue;
        ids.push_back(plan_.vbds[i].vbd.id);
        idx.push_back(i);
    }
    auto waits = wait_connected(
        host_, ids,
        [&]() -> Result<void> {
            for (auto id : ids) VBD_TRY_VOID(host_.bus.bind("vbd", id.sysfs_name()));
            return {};
        },
        plan_.opts.timeout, ctl_, initwait_ok);
    std::string errors;
    for (size_t k = 0; k < waits.size(); ++k) {
        size_t i = idx[k];
        auto& out = rep_.vbds[i];
        if (unbound_at_[i].count()) out.unbound_ms = (host_.clock.now() - unbound_at_[i]).count();
        if (waits[k].connected) continue;
        if (left_to_toolstack(i)) {
            mark_gone(i);
            continue;
        }
        out.error = waits[k].error;
        errors += ids[k].sysfs_name() + ": " + waits[k].error + "; ";
    }
    if (!errors.empty()) return fail(Errc::failed, "reconnect failed: " + errors);
    return {};
}

Result<void> Runner::verify(const std::vector<size_t>& which, bool need_progress) {
    std::vector<Vbd> vbds;
    std::vector<size_t> idx;
    for (size_t i : which) {
        if (left_to_toolstack(i)) {
            mark_gone(i);
            continue;
        }
        auto v = inv_.get(plan_.vbds[i].vbd.id, Detail::summary);
        if (!v) return std::unexpected(v.error());
        vbds.push_back(std::move(*v));
        idx.push_back(i);
    }
    auto checks = VBD_TRY(check_rings(host_, vbds, {std::max(2u, plan_.opts.samples), plan_.opts.interval}));
    std::string errors;
    for (size_t k = 0; k < checks.size(); ++k) {
        auto& out = rep_.vbds[idx[k]];
        const auto& c = checks[k];
        out.backend_state = c.vbd.backend_state;
        out.consistent = std::all_of(c.queues.begin(), c.queues.end(),
                                     [](const QueueCheck& q) { return q.consistent; });
        bool had_pending = false;
        for (const auto& q : plan_.vbds[idx[k]].vbd.queues)
            had_pending |= q.snapshot && q.snapshot->pending() > 0;
        std::string why;
        if (plan_.vbds[idx[k]].must_connect && !c.vbd.connected()) why = "not Connected";
        else if (!out.consistent) why = "ring inconsistent";
        else if (need_progress && had_pending && plan_.vbds[idx[k]].gated)
            for (const auto& q : c.queues)
                if (q.progress == Progress::stuck) why = "no I/O progress: " + q.reason;
        if (!why.empty()) {
            out.error = why;
            errors += c.vbd.id.sysfs_name() + ": " + why + "; ";
        }
    }
    if (!errors.empty()) return fail(Errc::failed, "postflight failed: " + errors);
    return {};
}

Result<void> Runner::adopt_newcomers() {
    // A guest created while the module was out (or autoprobe off) has vbd devices nobody
    // binds: bind each unbound one whose frontend waits for a backend, in this run.
    std::set<VbdId> planned;
    for (const auto& p : plan_.vbds) planned.insert(p.vbd.id);
    auto all = VBD_TRY(inv_.list(std::nullopt));
    std::vector<size_t> added;
    for (auto& v : all) {
        bool waiting = v.frontend_state && *v.frontend_state >= XenbusState::Initialising &&
                       *v.frontend_state <= XenbusState::Initialised;
        if (planned.contains(v.id) || !v.device_present || v.bound || v.detaching() || !waiting) continue;
        added.push_back(plan_.vbds.size());
        rep_.vbds.push_back(VbdOutcome{v.id, v.vdev, 0, v.backend_state, false, false, "appeared during the run", {}});
        j_.vbds.push_back({v.id, 0, v.backend_state});
        unbound_at_.push_back(Millis(0));
        // Its frontend has not connected yet: bound and waiting (InitWait) is its goal.
        plan_.vbds.push_back(PlannedVbd{std::move(v), false, false, "appeared during the run"});
    }
    if (added.empty()) return {};
    ctl_.report({"bind", 0, added.size(), "vbds that appeared during the run"});
    VBD_TRY_VOID(host_.state.write_journal(j_.to_text()));
    return bind(added);
}

void Runner::rollback(const std::string& why) {
    rep_.failure = why;
    rep_.rolled_back = true;
    auto t0 = host_.clock.now();
    (void)journal(step_rollback);
    auto loaded = host_.modules.loaded("xen_blkback");
    bool new_loaded = loaded && *loaded && loaded_new_;
    if (new_loaded) {
        // Take every vbd off the new module, let it drain, unload it.
        for (size_t i = 0; i < plan_.vbds.size(); ++i) {
            auto dev = host_.bus.device(plan_.vbds[i].vbd.id.sysfs_name());
            if (dev && dev->bound()) (void)host_.bus.unbind("vbd", dev->name);
        }
        if (auto d = wait_refcnt(host_, 0, plan_.opts.drain_timeout, ctl_); !d) {
            rep_.restored.push_back("the new module did not drain: " + d.error().message());
            return;
        }
        if (auto u = host_.modules.unload("xen_blkback"); !u) {
            rep_.restored.push_back("could not unload the new module: " + u.error().message());
            return;
        }
        rep_.restored.push_back("unloaded the new module");
        loaded = host_.modules.loaded("xen_blkback");
    }
    (void)host_.bus.set_autoprobe(false);
    if (loaded && !*loaded) {
        std::string path = !plan_.rollback_path.empty() ? plan_.rollback_path
                           : !plan_.old_path.empty()    ? plan_.old_path
                                                        : plan_.target.path;
        auto params = plan_.module_before ? plan_.module_before->params : std::map<std::string, std::string>{};
        if (auto r = host_.modules.load(path, params); !r) {
            rep_.restored.push_back("could not load " + path + ": " + r.error().message());
            return;
        }
        rep_.restored.push_back("loaded " + path + " with its old parameters");
    }
    std::vector<size_t> all(plan_.vbds.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    auto b = bind(all);
    (void)host_.bus.set_autoprobe(plan_.autoprobe_before);
    auto v = b ? verify(all, false) : Result<void>(std::unexpected(b.error()));
    rep_.restored.push_back(v ? "every vbd bound and Connected with consistent rings"
                              : "rebinding left problems: " + v.error().message());
    record(step_rollback, v.has_value(), (host_.clock.now() - t0).count(), v ? "restored" : v.error().message());
    if (v) (void)host_.state.clear_journal();
    else rep_.restored.push_back("the journal is kept: run `vbdctl recover`");
}

UpgradeReport Runner::run() {
    rep_.module_before = plan_.module_before;
    rep_.target_path = plan_.target.path;
    unbound_at_.assign(plan_.vbds.size(), Millis(0));
    j_ = Journal::begin("upgrade", host_.clock.wall_now().count());
    for (const auto& p : plan_.vbds) {
        j_.vbds.push_back({p.vbd.id, 0, p.vbd.backend_state});
        rep_.vbds.push_back(VbdOutcome{p.vbd.id, p.vbd.vdev, 0, p.vbd.backend_state, false, false, {}, {}});
    }
    j_.target_path = plan_.target.path;
    j_.target_params = plan_.params.load;
    j_.rollback_path = plan_.rollback_path;
    j_.old_params = plan_.module_before ? plan_.module_before->params : std::map<std::string, std::string>{};
    j_.old_srcversion = plan_.module_before ? plan_.module_before->srcversion : std::nullopt;
    j_.autoprobe_before = plan_.autoprobe_before;

    auto timed = [&](int step, auto&& fn) -> Result<void> {
        if (auto r = journal(step); !r) return r;
        auto t0 = host_.clock.now();
        auto r = fn();
        record(step, r.has_value(), (host_.clock.now() - t0).count(), r ? "" : r.error().message());
        return r;
    };
    auto stop_check = [&]() -> Result<void> {
        if (ctl_.stopping()) {
            rep_.interrupted = true;
            return fail(Errc::interrupted, "interrupted by a signal");
        }
        return {};
    };

    if (auto r = timed(step_plan, [] { return Result<void>{}; }); !r) {
        rep_.failure = r.error().message();
        return rep_;
    }
    window_start_ = host_.clock.now();
    std::vector<size_t> all(plan_.vbds.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;

    auto before_load = [&]() -> Result<void> {
        VBD_TRY_VOID(stop_check());
        VBD_TRY_VOID(timed(step_unbind, [&] { return unbind_all(); }));
        VBD_TRY_VOID(stop_check());
        VBD_TRY_VOID(timed(step_drain, [&]() -> Result<void> {
            VBD_TRY(wait_refcnt(host_, 0, plan_.opts.drain_timeout, ctl_));
            return {};
        }));
        VBD_TRY_VOID(stop_check());
        VBD_TRY_VOID(timed(step_unload, [&] { return host_.modules.unload("xen_blkback"); }));
        VBD_TRY_VOID(stop_check());
        return timed(step_load, [&]() -> Result<void> {
            // Bind each vbd ourselves, under a watch, instead of letting the load probe them.
            VBD_TRY_VOID(host_.bus.set_autoprobe(false));
            VBD_TRY_VOID(host_.modules.load(plan_.target.path, plan_.params.load));
            loaded_new_ = true;
            rep_.reloaded = true;
            return {};
        });
    };
    if (auto r = before_load(); !r) {
        rollback(r.error().message());
        rep_.window_ms = (host_.clock.now() - window_start_).count();
        rep_.module_after = host_.modules.loaded("xen_blkback").value_or(std::nullopt);
        return rep_;
    }
    // From here on the new module is in: a stop request finishes the binds (nearest safe state).
    auto after_load = [&]() -> Result<void> {
        VBD_TRY_VOID(timed(step_bind, [&]() -> Result<void> {
            if (plan_.opts.canary && !all.empty()) {
                // The canary: a gated, connected vbd, preferably one with I/O in flight.
                size_t c = all.front();
                for (size_t i : all)
                    if (plan_.vbds[i].gated && plan_.vbds[i].must_connect) {
                        c = i;
                        if (plan_.vbds[i].vbd.pending() > 0) break;
                    }
                VBD_TRY_VOID(bind({c}));
                VBD_TRY_VOID(verify({c}, true));
                ctl_.report({"canary", 1, 1, plan_.vbds[c].vbd.id.sysfs_name() + " proven"});
            }
            VBD_TRY_VOID(bind(all));
            return adopt_newcomers();
        }));
        return timed(step_verify, [&]() -> Result<void> {
            std::vector<size_t> everyone(plan_.vbds.size()); // with the vbds that appeared
            for (size_t i = 0; i < everyone.size(); ++i) everyone[i] = i;
            VBD_TRY_VOID(verify(everyone, true));
            return host_.bus.set_autoprobe(plan_.autoprobe_before);
        });
    };
    if (auto r = after_load(); !r) {
        rollback(r.error().message());
        rep_.window_ms = (host_.clock.now() - window_start_).count();
        rep_.module_after = host_.modules.loaded("xen_blkback").value_or(std::nullopt);
        return rep_;
    }
    rep_.window_ms = (host_.clock.now() - window_start_).count();
    rep_.module_after = host_.modules.loaded("xen_blkback").value_or(std::nullopt);
    if (auto c = host_.state.clear_journal(); !c) {
        rep_.failure = c.error().message();
        return rep_;
    }
    rep_.ok = true;
    rep_.interrupted = ctl_.stopping();
    return rep_;
}

} // namespace

UpgradeReport run_upgrade(Host& host, UpgradePlan& plan, const RunControl& ctl) {
    Runner r(host, plan, ctl);
    return r.run();
}

} // namespace vbd
