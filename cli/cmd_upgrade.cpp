// vbdctl upgrade-backend: reload xen-blkback under running guests.

#include <algorithm>
#include "try.hpp"
#include <iostream>
#include <sstream>

#include "app.hpp"
#include "mutate.hpp"
#include "render.hpp"
#include "vbdctl/upgrade.hpp"

namespace vbdcli {

namespace {

struct UpgradeCliOptions {
    std::string module_file;
    std::vector<std::string> params, only, accept_hazards;
    bool canary = false, dry_run = false, yes = false, assume_rebind = false, force_vermagic = false,
         reset_params = false, force = false, without_rollback = false;
    double timeout_s = 30;
    double drain_timeout_s = vbd::default_drain_timeout.count() / 1000.0;
};

vbd::Result<vbd::UpgradeOptions> to_options(Context& c, const UpgradeCliOptions& o) {
    vbd::UpgradeOptions u;
    if (!o.module_file.empty()) u.module_file = o.module_file;
    for (const auto& p : o.params) {
        auto eq = p.find('=');
        std::string name = p.substr(0, eq);
        bool name_ok = eq != std::string::npos && !name.empty() &&
                       name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
        if (!name_ok)
            return vbd::fail(vbd::Errc::invalid_argument, "invalid --param '" + p + "'", {},
                             "use NAME=VALUE, e.g. max_ring_page_order=4");
        u.params[name] = p.substr(eq + 1);
    }
    for (const auto& s : o.only) {
        auto colon = s.find(':');
        auto d = VBD_TRY(resolve_domid(c, s.substr(0, colon)));
        vbd::OnlySpec spec{d, std::nullopt};
        if (colon != std::string::npos) {
            spec.vbd = s.substr(colon + 1);
            if (spec.vbd->empty())
                return vbd::fail(vbd::Errc::invalid_argument, "invalid --only '" + s + "'", {}, "use DOMID or DOMID:VBD");
        }
        u.only.push_back(spec);
    }
    u.reset_params = o.reset_params;
    u.canary = o.canary;
    u.assume_rebind = o.assume_rebind;
    u.allow_no_rollback = o.without_rollback;
    u.force = o.force;
    u.accept_hazards = {o.accept_hazards.begin(), o.accept_hazards.end()};
    u.force_vermagic = o.force_vermagic;
    u.timeout = millis(o.timeout_s);
    u.drain_timeout = millis(o.drain_timeout_s);
    return u;
}

nlohmann::json typed_params(const std::map<std::string, std::string>& values,
                            const std::vector<vbd::ModuleParam>& types) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : values) {
        auto t = std::find_if(types.begin(), types.end(), [&](const auto& p) { return p.name == k; });
        j[k] = param_json(t == types.end() ? "" : t->type, v);
    }
    return j;
}

nlohmann::json plan_json(const vbd::UpgradePlan& p) {
    nlohmann::json j;
    j["preflight"] = nlohmann::json::array();
    for (const auto& c : p.checks)
        j["preflight"].push_back({{"check", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    j["plan"] = plan_steps_json(p.steps);
    j["param_changes"] = nlohmann::json::array();
    for (const auto& c : p.params.changes)
        j["param_changes"].push_back({{"name", c.name}, {"type", c.type},
                                      {"before", param_json(c.type, c.before)},
                                      {"after", param_json(c.type, c.after)},
                                      {"source", vbd::to_string(c.source)}});
    j["target"] = {{"path", p.target.path},
                   {"srcversion", p.target.srcversion ? nlohmann::json(*p.target.srcversion) : nlohmann::json(nullptr)},
                   {"version", p.target.version ? nlohmann::json(*p.target.version) : nlohmann::json(nullptr)},
                   {"vermagic", p.target.vermagic},
                   {"params", typed_params(p.params.load, p.target.params)}};
    j["planned_vbds"] = nlohmann::json::array();
    for (const auto& v : p.vbds)
        j["planned_vbds"].push_back({{"domid", v.vbd.id.domid}, {"devid", v.vbd.id.devid},
                                     {"vdev", v.vbd.vdev}, {"gated", v.gated},
                                     {"note", v.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.note)}});
    return j;
}

std::string plan_text(const vbd::UpgradePlan& p) {
    std::ostringstream out;
    out << "preflight:\n";
    for (const auto& c : p.checks)
        out << "  " << (c.ok ? "ok    " : "FAIL  ") << c.name << ": " << c.detail << "\n";
    out << "parameters:" << (p.params.changes.empty() ? " every value carried over\n" : "\n");
    for (const auto& c : p.params.changes)
        out << "  " << c.name << ": " << c.before.value_or("(not loaded)") << " -> "
                  << c.after.value_or("the module's default")
                  << (c.source == vbd::ParamSource::reset ? " (--reset-params)" : " (" + std::string(vbd::to_string(c.source)) + ")")
                  << "\n";
    out << "plan:\n";
    out << plan_steps_text(p.steps);
    for (const auto& v : p.vbds)
        if (!v.note.empty()) out << "  note: " << v.vbd.id.sysfs_name() << " " << v.note << "\n";
    return out.str();
}

std::string srcv(const std::optional<vbd::LoadedModule>& m) {
    if (!m) return "(not loaded)";
    return m->srcversion.value_or("(none: in-tree)");
}

Reply run_upgrade(Context& c, const UpgradeCliOptions& o) {
    auto opts = to_options(c, o);
    if (!opts) return failure(opts.error());
    // A signal during the preflight ends the command before any change.
    auto ctl = mutation_control(c);
    auto plan = vbd::plan_upgrade(*c.host, *opts, o.dry_run);
    if (!plan) return failure(plan.error());
    if (stop_requested()) return failure({vbd::Errc::interrupted, "interrupted during the preflight: nothing changed", {}, {}});
    Reply out;
    out.data = plan_json(*plan);
    out.data["module_before"] = module_json(plan->module_before, plan->target.params);
    out.data["noop"] = plan->noop;
    out.data["dry_run"] = o.dry_run;
    out.data["refused"] = plan->refused();
    out.data["changed"] = false;
    if (o.dry_run || plan->refused() || plan->noop) {
        out.text = plan_text(*plan);
        if (plan->refused())
            return out.fail({vbd::Errc::refused, "upgrade refused before any change", {},
                             look_at(c, "see the FAIL lines", "see the preflight[] entries with ok false")});
        out.text += plan->noop ? "nothing to do: nothing changed\n" : "dry run: nothing changed\n";
        return out;
    }
    // The operator sees the plan before being asked.
    if (!c.g.json && c.g.verbosity >= 0) std::cout << plan_text(*plan) << std::flush;
    if (auto ok = confirm(c, o.yes, "Reload xen-blkback under " + std::to_string(plan->vbds.size()) + " vbds?"); !ok)
        return out.fail(ok.error());
    auto r = vbd::run_upgrade(*c.host, *plan, ctl);
    auto& j = out.data;
    j["changed"] = r.reloaded;
    j["interrupted"] = r.interrupted;
    j["rolled_back"] = r.rolled_back;
    j["held"] = r.held;
    j["restored"] = r.restored;
    j["steps"] = step_records_json(r.steps);
    out.mutation = !r.steps.empty(); // a step ran: the host may have changed
    j["vbds"] = nlohmann::json::array();
    for (const auto& v : r.vbds)
        j["vbds"].push_back({{"domid", v.id.domid}, {"devid", v.id.devid}, {"vdev", v.vdev},
                             {"unbound_ms", v.unbound_ms},
                             {"backend_state", v.backend_state ? nlohmann::json(static_cast<int>(*v.backend_state)) : nlohmann::json(nullptr)},
                             {"consistent", v.consistent}, {"gone", v.gone},
                             {"note", v.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.note)},
                             {"error", v.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.error)}});
    j["window_ms"] = r.window_ms;
    j["module_after"] = module_json(r.module_after, plan->target.params);
    j["target_path"] = r.target_path;
    std::ostringstream text;
    for (const auto& s : r.steps)
        text << "step " << s.number << " " << s.name << ": " << (s.ok ? "ok" : "FAILED") << " in " << s.ms << " ms"
             << (s.detail.empty() ? "" : " (" + s.detail + ")") << "\n";
    Table t({"DOMID", "VDEV", "UNBOUND_MS", "BACKEND", "RINGS", "NOTE"});
    for (const auto& v : r.vbds)
        t.add({std::to_string(v.id.domid), v.vdev.empty() ? std::to_string(v.id.devid) : v.vdev,
               std::to_string(v.unbound_ms), state_name(v.backend_state), v.consistent ? "consistent" : "-",
               !v.error.empty() ? v.error : !v.note.empty() ? v.note : v.gone ? "guest gone" : ""});
    text << t.str() << "window: " << r.window_ms << " ms\n"
         << "module before: srcversion " << srcv(r.module_before) << "\n"
         << "module after:  srcversion " << srcv(r.module_after) << " from " << r.target_path << "\n";
    for (const auto& s : r.restored) text << "restored: " << s << "\n";
    out.text = text.str();
    if (r.interrupted)
        return out.fail({vbd::Errc::interrupted,
                         std::string("interrupted: stopped at a safe state") +
                             (r.rolled_back ? " (rolled back)" : " (finished the binds)"),
                         {}, {}});
    if (!r.ok)
        return out.fail({vbd::Errc::failed,
                         "upgrade failed: " + r.failure + (r.rolled_back ? "; rolled back" : "") +
                             (r.held ? "; stopped there, with nothing rebound: the journal is kept" : ""),
                         {}, r.held ? "run `vbdctl recover`" : look_at(c, "see the steps above", "see steps[] and vbds[]")});
    return out;
}

} // namespace

void add_upgrade(CLI::App& app, Command& cmd) {
    auto o = std::make_shared<UpgradeCliOptions>();
    auto* sub = app.add_subcommand("upgrade-backend",
                                   "Reload xen-blkback (optionally another build or new parameters) "
                                   "under every vbd this domain serves, with preflight, journal and rollback");
    sub->add_option("--module-file", o->module_file, "Load this xen-blkback.ko (default: what modprobe resolves)");
    sub->add_option("--param", o->params, "NAME=VALUE for the new module (repeatable); wins over the "
                                          "running module's values and modprobe.d's options, which are kept");
    sub->add_flag("--reset-params", o->reset_params, "Do not carry the running module's parameter values "
                                                     "over: load the module's defaults (plus modprobe.d and --param)");
    sub->add_option("--only", o->only, "DOMID[:VBD]: gate and verify only these vbds (repeatable); "
                                       "every vbd is still rebound, as the module cannot unload otherwise");
    sub->add_flag("--canary", o->canary, "Bind one vbd first and prove it before binding the rest");
    sub->add_flag("-n,--dry-run", o->dry_run, "Print the preflight and the plan; change nothing");
    sub->add_flag("-y,--yes", o->yes, "Do not ask for confirmation");
    sub->add_flag("--force", o->force, "Reload even when the target is the loaded module and no parameter changes");
    sub->add_flag("--without-rollback", o->without_rollback,
                  "Proceed when no copy of the loaded module can be kept for a rollback");
    sub->add_flag("--assume-rebind-support", o->assume_rebind, "Trust that this pre-5.5 kernel has the rebind backport");
    sub->add_flag("--force-vermagic", o->force_vermagic, "Load a module whose vermagic differs from the running kernel's");
    add_accept_hazard(sub, o->accept_hazards);
    sub->add_option("--timeout", o->timeout_s, "Seconds to wait for each vbd to reconnect")
        ->check(seconds_in(0.1, 3600))
        ->capture_default_str();
    sub->add_option("--drain-timeout", o->drain_timeout_s,
                    "Seconds to wait for the old instances to drain; past it the run stops with the vbds "
                    "unbound (nothing is rebound early) and `vbdctl recover` resumes the wait")
        ->check(seconds_in(1, 3600))
        ->capture_default_str();
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_upgrade(c, *o); }; });
}

} // namespace vbdcli
