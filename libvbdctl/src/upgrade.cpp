#include "vbdctl/upgrade.hpp"
#include "try.hpp"

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
    // A distribution's in-tree module has no srcversion, and the build-id of a gzip file is
    // not read; an untainted loaded module without a srcversion is the kernel's own build,
    // and so is the file in the kernel's own tree.
    if (!m.srcversion && !f.srcversion && m.taint.empty() && f.path.find("/kernel/drivers/") != std::string::npos)
        return "the untainted in-tree module and the in-tree file (neither has a srcversion; the file's build-id is not readable)";
    return std::nullopt;
}

} // namespace

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
    // A dry run only learns whether the lock is free; it takes nothing and creates nothing.
    if (dry_run) {
        auto free = host.state.lock_free();
        check("lock", free.has_value(), free ? "no other vbdctl is changing this host" : free.error().message());
    } else {
        auto lock = host.state.lock();
        check("lock", lock.has_value(), lock ? "no other vbdctl is changing this host" : lock.error().message());
        if (lock) plan.lock = std::move(*lock);
    }
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
    if (!target && opts.module_file)
        return fail(Errc::invalid_argument, "--module-file: " + target.error().message());
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
    // --only names vbds and guests: one that is not here is bad input, refused before anything.
    for (const auto& o : opts.only) {
        if (o.vbd) {
            only.insert(VBD_TRY(inv.resolve(o.domid, *o.vbd)));
            continue;
        }
        bool any = false;
        for (const auto& v : all)
            if (v.id.domid == o.domid) {
                only.insert(v.id);
                any = true;
            }
        if (!any) return fail(Errc::invalid_argument, "--only " + std::to_string(o.domid) + ": domain " +
                                                          std::to_string(o.domid) + " has no vbd here");
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
        // Keys blkback's connect_ring() would fail on: the reload would close the disk.
        if (h.vbd.frontend_state == XenbusState::Connected && !h.vbd.detaching())
            for (const auto& problem : h.vbd.problems)
                check("frontend keys " + name, false,
                      problem + (problem.starts_with("frontend key protocol is absent")
                                     ? "; write it first: `vbdctl unbind " + std::to_string(h.vbd.id.domid) + " " +
                                           h.vbd.vdev + " --protocol ABI` then `vbdctl bind`"
                                     : ""));
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
    plan.target.path = target_path;
    plan.steps = upgrade_steps(host, plan);
    if (plan.noop) {
        std::string id = plan.module_before->srcversion ? "srcversion " + *plan.module_before->srcversion
                         : plan.module_before->build_id ? "build-id " + *plan.module_before->build_id
                                                        : "the same build";
        plan.steps = {{"nothing", "nothing to do: " + target_path + " is the loaded module (" + id +
                                      ") and every parameter keeps its value (--force reloads anyway)",
                       "none needed"}};
    }
    return plan;
}

namespace {

// The running state of one upgrade: its steps, and what they have done so far.
class Runner {
  public:
    Runner(Host& host, UpgradePlan& plan, const RunControl& ctl)
        : host_(host), plan_(plan), ctl_(ctl), inv_(host) {
        j_ = Journal::begin("upgrade", host_.clock.wall_now().count(), plan_.autoprobe_before);
        for (const auto& p : plan_.vbds) {
            j_.vbds.push_back({p.vbd.id, 0, p.vbd.backend_state});
            rep_.vbds.push_back(VbdOutcome{p.vbd.id, p.vbd.vdev, 0, p.vbd.backend_state, false, false, {}, {}});
        }
        unbound_at_.assign(plan_.vbds.size(), Millis(0));
        j_.target_path = plan_.target.path;
        j_.target_params = plan_.params.load;
        j_.rollback_path = plan_.rollback_path;
        j_.old_params = plan_.module_before ? plan_.module_before->params : std::map<std::string, std::string>{};
        j_.old_srcversion = plan_.module_before ? plan_.module_before->srcversion : std::nullopt;
    }

    std::vector<Step> steps();
    UpgradeReport run();

  private:
    Result<void> unbind_all();
    /// Binds and waits. A vbd whose guest lost the disk fails it, unless tolerate_lost (a
    /// rollback: nothing it does gives that disk back, and the others still need theirs).
    Result<void> bind(const std::vector<size_t>& which, bool tolerate_lost = false);
    Result<void> verify(const std::vector<size_t>& which, bool need_progress);
    Result<void> adopt_newcomers();
    Result<void> unload_new();
    Result<void> load_old();
    std::vector<size_t> everyone() const {
        std::vector<size_t> all(plan_.vbds.size());
        for (size_t i = 0; i < all.size(); ++i) all[i] = i;
        return all;
    }
    bool exists(size_t i) { return host_.bus.device(plan_.vbds[i].vbd.id.sysfs_name()).has_value(); }
    /// Whether the toolstack took vbd i away, or is doing so (then it is left alone); dev is
    /// its device as just read.
    bool left_to_toolstack(size_t i, const Result<BusDevice>& dev) {
        if (!dev) return true;
        auto online = host_.xenstore.read(plan_.vbds[i].vbd.backend_path + "/online");
        return online && *online && **online == "0";
    }
    bool left_to_toolstack(size_t i) {
        return left_to_toolstack(i, host_.bus.device(plan_.vbds[i].vbd.id.sysfs_name()));
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
    std::vector<VbdId> unbound_; ///< what this run unbound, for the drain
    std::set<size_t> lost_;       ///< vbds whose guest lost the disk during the run
    bool loaded_new_ = false;
};

Result<void> Runner::unbind_all() {
    // One journal write for the whole step (not one per vbd: that is quadratic in vbds):
    // every vbd counts as unbound from now, which is what recover needs to know.
    int64_t now = host_.clock.wall_now().count();
    for (auto& e : j_.vbds) e.unbound_wall_ms = now;
    VBD_TRY_VOID(host_.state.write_journal(j_.to_text()));
    // All unbinds are issued back to back; the old instances then drain in parallel.
    for (size_t i = 0; i < plan_.vbds.size(); ++i) {
        const auto& v = plan_.vbds[i].vbd;
        auto dev = host_.bus.device(v.id.sysfs_name());
        if (left_to_toolstack(i, dev)) {
            mark_gone(i);
            continue;
        }
        if (!dev->bound()) continue;
        VBD_TRY_VOID(host_.bus.unbind("vbd", v.id.sysfs_name()));
        unbound_at_[i] = host_.clock.now();
        unbound_.push_back(v.id);
        auto st = VBD_TRY(host_.xenstore.read(v.backend_path + "/state"));
        if (v.backend_state == XenbusState::Connected && st && *st != "4")
            return fail(Errc::failed, "GUEST LOST ITS DISK: backend state went to " + *st + " on unbind",
                        v.id.sysfs_name(), lost_disk_advice(host_, v.id));
        ctl_.report({"unbind", i + 1, plan_.vbds.size(), v.id.sysfs_name()});
    }
    return {};
}

Result<void> Runner::bind(const std::vector<size_t>& which, bool tolerate_lost) {
    std::vector<VbdId> ids;
    std::vector<size_t> idx;
    ReconnectOptions ro{plan_.opts.timeout, {}};
    ro.check_rings = false; // every caller verifies the rings of what it bound next
    // A vbd the toolstack took away meanwhile: reconnect leaves it unbound, marked gone below.
    for (size_t i : which) {
        if (!plan_.vbds[i].must_connect) ro.initwait_ok.insert(plan_.vbds[i].vbd.id);
        ids.push_back(plan_.vbds[i].vbd.id);
        idx.push_back(i);
    }
    auto waits = VBD_TRY(reconnect(host_, ids, ro, ctl_));
    std::string errors;
    for (size_t k = 0; k < waits.size(); ++k) {
        size_t i = idx[k];
        auto& out = rep_.vbds[i];
        if (unbound_at_[i].count())
            out.unbound_ms = ((waits[k].connected ? waits[k].connected_at : host_.clock.now()) - unbound_at_[i]).count();
        if (waits[k].connected && waits[k].error.empty()) continue;
        if (left_to_toolstack(i)) {
            mark_gone(i);
            continue;
        }
        out.error = waits[k].error;
        if (waits[k].lost) {
            lost_.insert(i);
            if (tolerate_lost) continue;
        }
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
        if (lost_.contains(i)) continue; // said so already; nothing here changes it
        vbds.push_back(VBD_TRY(inv_.get(plan_.vbds[i].vbd.id, Detail::summary)));
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
    // The bus shows them (an unbound vbd device nobody planned) without a request to
    // xenstored; only those few are read.
    std::set<VbdId> planned;
    for (const auto& p : plan_.vbds) planned.insert(p.vbd.id);
    std::vector<size_t> added;
    for (const auto& name : VBD_TRY(host_.bus.devices())) {
        auto id = parse_sysfs_name(name);
        if (!id || planned.contains(*id)) continue;
        auto dev = host_.bus.device(name);
        if (!dev || dev->bound()) continue;
        auto got = inv_.get(*id, Detail::states);
        if (!got && got.error().code == Errc::not_found) continue; // gone meanwhile
        Vbd v = VBD_TRY(std::move(got));
        bool waiting = v.frontend_state && *v.frontend_state >= XenbusState::Initialising &&
                       *v.frontend_state <= XenbusState::Initialised;
        if (!v.device_present || v.bound || v.detaching() || !waiting) continue;
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

Result<void> Runner::unload_new() {
    // Take every vbd off the new module, let the instances drain, unload it.
    if (!loaded_new_ || !VBD_TRY(host_.modules.loaded("xen_blkback"))) return {};
    std::vector<VbdId> off;
    for (const auto& p : plan_.vbds) {
        auto dev = host_.bus.device(p.vbd.id.sysfs_name());
        if (!dev || !dev->bound()) continue;
        VBD_TRY_VOID(host_.bus.unbind("vbd", dev->name));
        off.push_back(p.vbd.id);
    }
    VBD_TRY(wait_drained(host_, off, plan_.opts.drain_timeout));
    VBD_TRY_VOID(host_.modules.unload("xen_blkback"));
    loaded_new_ = false;
    return {};
}

Result<void> Runner::load_old() {
    if (VBD_TRY(host_.modules.loaded("xen_blkback"))) return {};
    std::string path = !plan_.rollback_path.empty() ? plan_.rollback_path
                       : !plan_.old_path.empty()    ? plan_.old_path
                                                    : plan_.target.path;
    // Bound below, each under a watch, rather than by the load's autoprobe.
    VBD_TRY_VOID(host_.bus.set_autoprobe(false));
    return host_.modules.load(path, j_.old_params);
}

std::vector<Step> Runner::steps() {
    size_t n = plan_.vbds.size();
    const auto& before = plan_.module_before;
    auto srcv = [](const std::optional<std::string>& s) { return s ? " (srcversion " + *s + ")" : std::string(); };
    std::vector<Step> s;
    s.push_back({"plan", "journal the plan (" + std::to_string(n) + " vbds)",
                 "restore drivers_autoprobe to " + std::string(plan_.autoprobe_before ? "1" : "0"),
                 [] { return Result<void>{}; },
                 [this] { return host_.bus.set_autoprobe(plan_.autoprobe_before); },
                 OnFailure::undo, true, /*undo_always=*/true});
    s.push_back({"unbind", "unbind all " + std::to_string(n) + " vbds (guests keep their disks; I/O queues)",
                 "wait for the old instances to drain, bind every vbd again, wait for Connected",
                 [this] { return unbind_all(); },
                 [this]() -> Result<void> {
                     VBD_TRY(wait_drained(host_, unbound_, plan_.opts.drain_timeout));
                     VBD_TRY_VOID(bind(everyone(), true));
                     return verify(everyone(), false);
                 }});
    s.push_back({"drain",
                 "wait until the old instances are gone (driver links and xen_blkback's refcount), at most " +
                     std::to_string(plan_.opts.drain_timeout.count() / 1000) + " s; past that, stop with the vbds "
                     "unbound (recover resumes the wait)",
                 "none needed",
                 [this]() -> Result<void> {
                     auto d = VBD_TRY(wait_drained(host_, unbound_, plan_.opts.drain_timeout));
                     ctl_.report({"drain", 1, 1, d.evidence});
                     return {};
                 },
                 {}, OnFailure::hold});
    s.push_back({"unload", "rmmod xen_blkback" + srcv(before ? before->srcversion : std::nullopt),
                 "load the rollback copy of the old module with its old parameters",
                 [this] { return host_.modules.unload("xen_blkback"); }, [this] { return load_old(); }});
    s.push_back({"load", plan_.target.path + srcv(plan_.target.srcversion) + " with drivers_autoprobe off",
                 "unbind every vbd from the new module, wait for the drain, unload it",
                 [this]() -> Result<void> {
                     VBD_TRY_VOID(host_.bus.set_autoprobe(false));
                     VBD_TRY_VOID(host_.modules.load(plan_.target.path, plan_.params.load));
                     loaded_new_ = true;
                     rep_.reloaded = true;
                     return {};
                 },
                 [this] { return unload_new(); }});
    s.push_back({"bind",
                 std::string(plan_.opts.canary ? "one canary vbd, prove it, then the rest" : "every vbd") +
                     ", waiting for Connected",
                 "none needed (undoing the load unbinds them)",
                 [this]() -> Result<void> {
                     auto all = everyone();
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
                 },
                 {}, OnFailure::undo, false});
    s.push_back({"verify", "every vbd Connected, rings consistent and moving; restore drivers_autoprobe",
                 "none needed",
                 [this]() -> Result<void> {
                     VBD_TRY_VOID(verify(everyone(), true)); // with the vbds that appeared
                     return host_.bus.set_autoprobe(plan_.autoprobe_before);
                 },
                 {}, OnFailure::undo, false});
    return s;
}

UpgradeReport Runner::run() {
    rep_.module_before = plan_.module_before;
    rep_.target_path = plan_.target.path;
    auto steps_ = steps();
    auto t0 = host_.clock.now();
    auto r = run_steps(host_, j_, steps_, ctl_);
    rep_.window_ms = (host_.clock.now() - t0).count();
    rep_.steps = std::move(r.steps);
    rep_.ok = r.ok;
    rep_.interrupted = r.interrupted;
    rep_.held = r.held;
    rep_.rolled_back = !r.ok && !r.held;
    rep_.restored = std::move(r.undo_log);
    if (r.error) {
        std::string step;
        for (const auto& rec : rep_.steps)
            if (!rec.ok && !rec.name.starts_with("undo ")) step = rec.name;
        rep_.failure = (step.empty() ? "" : "step " + step + ": ") + r.error->message();
    }
    if (rep_.rolled_back && r.undone)
        rep_.restored.push_back(lost_.empty() ? "every vbd bound and Connected with consistent rings"
                                              : "every other vbd bound and Connected with consistent rings; " +
                                                    std::to_string(lost_.size()) + " disk(s) lost by their guests (see vbds)");
    rep_.module_after = host_.modules.loaded("xen_blkback").value_or(std::nullopt);
    return rep_;
}

} // namespace

std::vector<StepInfo> upgrade_steps(Host& host, UpgradePlan& plan) {
    RunControl quiet;
    Runner r(host, plan, quiet);
    std::vector<StepInfo> out;
    for (const auto& s : r.steps()) out.push_back({s.name, s.does, s.undo_does});
    return out;
}

UpgradeReport run_upgrade(Host& host, UpgradePlan& plan, const RunControl& ctl) {
    Runner r(host, plan, ctl);
    return r.run();
}

} // namespace vbd
