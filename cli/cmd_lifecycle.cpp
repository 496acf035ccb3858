// vbdctl unbind | bind DOMID VBD, and vbdctl recover.

#include <sstream>
#include "try.hpp"

#include "app.hpp"
#include "mutate.hpp"
#include "render.hpp"

namespace vbdcli {

namespace {

struct OneVbdOptions {
    std::string domid, vbd;
    bool yes = false;
    bool dry_run = false;
    bool assume_rebind = false;
    std::vector<std::string> accept_hazards;
    std::string protocol;
    double timeout_s = 30;
    double drain_timeout_s = vbd::default_drain_timeout.count() / 1000.0;
};

vbd::Result<vbd::VbdId> resolve(Context& c, const OneVbdOptions& o) {
    auto d = VBD_TRY(resolve_domid(c, o.domid));
    vbd::Inventory inv(*c.host);
    return inv.resolve(d, o.vbd);
}

using VbdCommand = vbd::Result<vbd::VbdRun> (*)(vbd::Host&, vbd::VbdId, const vbd::VbdOptions&,
                                                const vbd::RunControl&);

// unbind, bind and rebind: the same shape, one renderer.
Reply run_one(Context& c, const OneVbdOptions& o, const char* op, const char* question, VbdCommand fn) {
    auto id = resolve(c, o);
    if (!id) return failure(id.error());
    if (!o.protocol.empty())
        if (auto p = vbd::parse_protocol(o.protocol); !p)
            return failure({vbd::Errc::invalid_argument, "--protocol: " + p.error().what, {}, {}});
    Reply out;
    out.data["domid"] = id->domid;
    out.data["devid"] = id->devid;
    out.data["dry_run"] = o.dry_run;
    if (!o.dry_run)
        if (auto ok = confirm(c, o.yes, std::string(question) + " " + id->sysfs_name() + "?"); !ok)
            return out.fail(ok.error());
    auto ctl = mutation_control(c);
    vbd::VbdOptions opts;
    opts.assume_rebind = o.assume_rebind;
    opts.accept_hazards = {o.accept_hazards.begin(), o.accept_hazards.end()};
    opts.timeout = millis(o.timeout_s);
    opts.drain_timeout = millis(o.drain_timeout_s);
    if (!o.protocol.empty()) opts.protocol = o.protocol;
    opts.dry_run = o.dry_run;
    auto r = fn(*c.host, *id, opts, ctl);
    if (!r) return out.fail(r.error());
    auto& j = out.data;
    j["plan"] = plan_steps_json(r->plan);
    j["steps"] = step_records_json(r->steps);
    out.mutation = !r->steps.empty(); // a step ran: the host may have changed
    j["actions"] = r->actions;
    j["backend_state"] = static_cast<int>(r->backend_state);
    j["drain_ms"] = r->drain_ms;
    j["drain_evidence"] = r->drain_evidence;
    j["connect_ms"] = r->connect_ms;
    j["consistent"] = r->consistent;
    j["unbound_ms"] = r->unbound_ms ? nlohmann::json(*r->unbound_ms) : nlohmann::json(nullptr);
    if (!r->rebind.evidence.empty()) j["rebind_evidence"] = r->rebind.evidence;
    std::ostringstream text;
    std::string name = id->sysfs_name();
    if (o.dry_run) {
        text << op << " " << name << ": every check passed; plan:\n"
             << plan_steps_text(r->plan) << "dry run: nothing changed\n";
    } else {
        for (const auto& a : r->actions) text << "  " << a << "\n";
        if (std::string(op) == "unbind")
            text << name << " unbound: backend state " << vbd::to_string(r->backend_state)
                 << " (the guest keeps its disk; its I/O waits), old instance drained in " << r->drain_ms
                 << " ms\n  drain: " << r->drain_evidence << "\n  evidence of rebind support: " << r->rebind.evidence
                 << "\n  bind it again with: vbdctl bind " << id->domid << " " << o.vbd << "\n";
        else
            text << name << " " << (std::string(op) == "rebind" ? "rebound" : "bound") << ": backend Connected "
                 << r->connect_ms << " ms after the bind, rings consistent"
                 << (r->unbound_ms ? ", without a backend for " + std::to_string(*r->unbound_ms) + " ms" : "") << "\n";
    }
    out.text = text.str();
    return out;
}

struct RecoverCliOptions {
    bool yes = false;
    bool dry_run = false;
    bool from_live = false;
    double timeout_s = 30;
    double drain_timeout_s = vbd::default_drain_timeout.count() / 1000.0;
};

Reply run_recover(Context& c, const RecoverCliOptions& o) {
    Reply out;
    if (!o.from_live) {
        auto j = vbd::read_journal(c.host->state);
        if (!j) return failure(j.error());
        if (!*j) {
            out.data["had_journal"] = false;
            out.text = "nothing to recover: no unfinished run\n";
            return out;
        }
        if (!o.dry_run)
            if (auto ok = confirm(c, o.yes, "Finish the interrupted " + (*j)->op + " (step " +
                                               std::to_string((*j)->step) + " " + (*j)->step_name + ")?");
                !ok)
                return failure(ok.error());
    } else if (!o.dry_run) {
        if (auto ok = confirm(c, o.yes, "Recover every vbd from the live host, without the journal?"); !ok)
            return failure(ok.error());
    }
    auto ctl = mutation_control(c);
    auto r = vbd::recover(*c.host, {millis(o.timeout_s), millis(o.drain_timeout_s), o.from_live, o.dry_run}, ctl);
    if (!r) return failure(r.error());
    auto& j = out.data;
    j["dry_run"] = r->dry_run;
    j["had_journal"] = r->had_journal;
    j["from_live"] = r->from_live;
    j["op"] = r->op;
    j["step"] = r->step;
    j["plan"] = plan_steps_json(r->plan);
    j["steps"] = step_records_json(r->steps);
    out.mutation = !r->steps.empty(); // a step ran: the host may have changed
    j["actions"] = r->actions;
    j["module_after"] = module_json(r->module_after, blkback_param_types(*c.host));
    j["vbds"] = nlohmann::json::array();
    for (const auto& w : r->vbds)
        j["vbds"].push_back({{"domid", w.id.domid}, {"devid", w.id.devid}, {"ok", w.ok}, {"state", w.state},
                             {"error", w.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(w.error)}});
    std::ostringstream text;
    if (r->dry_run) {
        text << "recover would run:\n" << plan_steps_text(r->plan) << "dry run: nothing changed\n";
    } else {
        text << "recovering " << (r->from_live ? "from the live host" : "an interrupted " + r->op + " (step " +
                                                                             std::to_string(r->step) + ")")
             << ":\n";
        for (const auto& a : r->actions) text << "  " << a << "\n";
        for (const auto& v : r->vbds)
            text << "  " << v.id.sysfs_name() << ": " << v.state << (v.ok ? "" : ": " + v.error) << "\n";
        text << (r->ok ? "recovered: every vbd with a Connected frontend is bound, Connected and consistent\n"
                       : "NOT recovered: the journal is kept\n");
    }
    out.text = text.str();
    if (!r->ok && !r->dry_run)
        out.fail({vbd::Errc::failed, "recovery incomplete", {}, look_at(c, "see the lines above", "see vbds[].error")});
    else if (stop_requested())
        out.fail({vbd::Errc::interrupted, "interrupted: stopped at a safe state", {}, {}});
    return out;
}

void add_one_vbd(CLI::App* sub, const std::shared_ptr<OneVbdOptions>& o, bool drains) {
    sub->add_option("DOMID", o->domid, "The guest's domid")->required();
    sub->add_option("VBD", o->vbd, "devid, vdev name (xvda) or vbd-D-N")->required();
    sub->add_flag("-y,--yes", o->yes, "Do not ask for confirmation (required without a terminal)");
    sub->add_flag("-n,--dry-run", o->dry_run, "Run every check and print the plan; change nothing");
    sub->add_option("--timeout", o->timeout_s, "Seconds to wait for Connected")
        ->check(seconds_in(0.1, 3600))
        ->capture_default_str();
    sub->add_option("--drain-timeout", o->drain_timeout_s,
                    drains ? "Seconds to wait for the old instance to drain (past it, nothing is rebound)"
                           : "Seconds to wait for an old instance to drain before binding")
        ->check(seconds_in(1, 3600))
        ->capture_default_str();
    sub->add_option("--protocol", o->protocol,
                    "The guest's ABI (x86_64-abi, x86_32-abi, native) when its frontend has no protocol key: "
                    "written to the frontend before the reconnect");
}

} // namespace

void add_lifecycle(CLI::App& app, Command& cmd) {
    auto u = std::make_shared<OneVbdOptions>();
    auto* unbind = app.add_subcommand("unbind", "Unbind one vbd from xen-blkback; the guest keeps "
                                                "its disk (Linux >= 5.5) and its I/O waits");
    add_one_vbd(unbind, u, true);
    unbind->add_flag("--assume-rebind-support", u->assume_rebind,
                     "Trust that this pre-5.5 kernel has the rebind backport");
    add_accept_hazard(unbind, u->accept_hazards);
    unbind->callback([&cmd, u] {
        cmd.run = [u](Context& c) { return run_one(c, *u, "unbind", "Unbind from xen-blkback", vbd::unbind_vbd); };
    });

    auto b = std::make_shared<OneVbdOptions>();
    auto* bind = app.add_subcommand("bind", "Bind one unbound vbd and wait until it is Connected "
                                            "with consistent rings");
    add_one_vbd(bind, b, false);
    bind->callback([&cmd, b] {
        cmd.run = [b](Context& c) { return run_one(c, *b, "bind", "Bind to xen-blkback", vbd::bind_vbd); };
    });

    auto rb = std::make_shared<OneVbdOptions>();
    auto* rebind = app.add_subcommand("rebind", "Repair a vbd that is bound but not Connected under a Connected "
                                                "frontend: unbind, drain, bind, verify");
    add_one_vbd(rebind, rb, true);
    rebind->add_flag("--assume-rebind-support", rb->assume_rebind,
                     "Trust that this pre-5.5 kernel has the rebind backport");
    add_accept_hazard(rebind, rb->accept_hazards);
    rebind->callback([&cmd, rb] {
        cmd.run = [rb](Context& c) { return run_one(c, *rb, "rebind", "Unbind and bind again", vbd::rebind_vbd); };
    });

    auto r = std::make_shared<RecoverCliOptions>();
    auto* rec = app.add_subcommand("recover", "Finish an interrupted run: a module loaded, every vbd whose "
                                              "frontend is Connected bound and Connected, autoprobe restored");
    rec->add_flag("-y,--yes", r->yes, "Do not ask for confirmation (required without a terminal)");
    rec->add_flag("-n,--dry-run", r->dry_run, "Print what recover would do; change nothing");
    rec->add_flag("--from-live", r->from_live,
                  "Ignore the journal (damaged or lost): rebuild the recovery from the live host");
    rec->add_option("--timeout", r->timeout_s, "Seconds to wait for each connect")
        ->check(seconds_in(0.1, 3600))
        ->capture_default_str();
    rec->add_option("--drain-timeout", r->drain_timeout_s, "Seconds to wait for old instances to drain")
        ->check(seconds_in(1, 3600))
        ->capture_default_str();
    rec->callback([&cmd, r] { cmd.run = [r](Context& c) { return run_recover(c, *r); }; });
}

} // namespace vbdcli
