// vbdctl unbind | bind DOMID VBD, and vbdctl recover.

#include <iostream>

#include "app.hpp"
#include "mutate.hpp"
#include "render.hpp"

namespace vbdcli {

namespace {

struct OneVbdOptions {
    std::string domid, vbd;
    bool yes = false;
    bool assume_rebind = false;
    std::vector<std::string> accept_hazards;
    double timeout_s = 30;
};

vbd::Result<vbd::VbdId> resolve(Context& c, const OneVbdOptions& o) {
    auto d = VBD_TRY(vbd::parse_domid(o.domid));
    vbd::Inventory inv(*c.host);
    return inv.resolve(d, o.vbd);
}

int run_unbind(Context& c, const OneVbdOptions& o) {
    auto id = resolve(c, o);
    if (!id) return report(id.error());
    if (int rc = confirm(c, o.yes, "Unbind " + id->sysfs_name() + " from xen-blkback?"); rc >= 0) return rc;
    auto ctl = mutation_control(c);
    vbd::UnbindOptions opts{o.assume_rebind, vbd::Millis(static_cast<int64_t>(o.timeout_s * 1000)),
                            {o.accept_hazards.begin(), o.accept_hazards.end()}};
    auto r = vbd::unbind_vbd(*c.host, *id, opts, ctl);
    if (c.g.json) {
        auto j = json_header(c);
        j["ok"] = r.has_value();
        j["action"] = "unbind";
        j["domid"] = id->domid;
        j["devid"] = id->devid;
        if (r) {
            j["backend_state"] = static_cast<int>(r->backend_state);
            j["drain_ms"] = r->drain_ms;
            j["drain_evidence"] = r->drain_evidence;
            j["rebind_evidence"] = r->rebind.evidence;
        } else {
            j["error"] = r.error().message();
        }
        print_json(j);
    }
    if (!r) return report(r.error());
    if (!c.g.json)
        std::cout << id->sysfs_name() << " unbound: backend state " << vbd::to_string(r->backend_state)
                  << " (the guest keeps its disk; its I/O waits), old instance drained in "
                  << r->drain_ms << " ms\n  drain: " << r->drain_evidence
                  << "\n  evidence of rebind support: " << r->rebind.evidence
                  << "\n  bind it again with: vbdctl bind " << id->domid << " " << o.vbd << "\n";
    return Exit::ok;
}

int run_bind(Context& c, const OneVbdOptions& o) {
    auto id = resolve(c, o);
    if (!id) return report(id.error());
    if (int rc = confirm(c, o.yes, "Bind " + id->sysfs_name() + " to xen-blkback?"); rc >= 0) return rc;
    auto ctl = mutation_control(c);
    auto r = vbd::bind_vbd(*c.host, *id, {vbd::Millis(static_cast<int64_t>(o.timeout_s * 1000))}, ctl);
    if (c.g.json) {
        auto j = json_header(c);
        j["ok"] = r.has_value();
        j["action"] = "bind";
        j["domid"] = id->domid;
        j["devid"] = id->devid;
        if (r) {
            j["backend_state"] = static_cast<int>(r->backend_state);
            j["consistent"] = r->consistent;
            j["connect_ms"] = r->connect_ms;
            j["unbound_ms"] = r->unbound_ms ? nlohmann::json(*r->unbound_ms) : nlohmann::json(nullptr);
        } else {
            j["error"] = r.error().message();
        }
        print_json(j);
    }
    if (!r) return report(r.error());
    if (!c.g.json)
        std::cout << id->sysfs_name() << " bound: backend Connected " << r->connect_ms
                  << " ms after the bind, rings consistent"
                  << (r->unbound_ms ? ", without a backend for " + std::to_string(*r->unbound_ms) + " ms" : "")
                  << "\n";
    return Exit::ok;
}

struct RecoverOptions {
    bool yes = false;
    double timeout_s = 30;
};

int run_recover(Context& c, const RecoverOptions& o) {
    auto j = vbd::read_journal(c.host->state);
    if (!j) return report(j.error());
    if (!*j) {
        if (c.g.json) {
            auto out = json_header(c);
            out["ok"] = true;
            out["had_journal"] = false;
            print_json(out);
        } else {
            std::cout << "nothing to recover: no unfinished run\n";
        }
        return Exit::ok;
    }
    if (int rc = confirm(c, o.yes, "Finish the interrupted " + (*j)->op + " (step " +
                                       std::to_string((*j)->step) + " " + (*j)->step_name + ")?");
        rc >= 0)
        return rc;
    auto ctl = mutation_control(c);
    auto r = vbd::recover(*c.host, ctl, vbd::Millis(static_cast<int64_t>(o.timeout_s * 1000)));
    if (!r) return report(r.error());
    if (c.g.json) {
        auto out = json_header(c);
        out["ok"] = r->ok;
        out["had_journal"] = r->had_journal;
        out["op"] = r->op;
        out["step"] = r->step;
        out["actions"] = r->actions;
        out["module_after"] = module_json(r->module_after, blkback_param_types(*c.host));
        out["vbds"] = nlohmann::json::array();
        for (const auto& w : r->vbds)
            out["vbds"].push_back({{"domid", w.id.domid}, {"devid", w.id.devid}, {"connected", w.connected},
                                   {"error", w.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(w.error)}});
        print_json(out);
    } else {
        std::cout << "recovering an interrupted " << r->op << " (step " << r->step << "):\n";
        for (const auto& a : r->actions) std::cout << "  " << a << "\n";
        std::cout << (r->ok ? "recovered: every journaled vbd is bound and Connected\n"
                            : "NOT recovered: the journal is kept\n");
    }
    if (!r->ok) std::cerr << "vbdctl: error: recovery incomplete; see above\n";
    return r->ok ? (stop_requested() ? Exit::interrupted : Exit::ok) : Exit::failed;
}

void add_one_vbd(CLI::App* sub, const std::shared_ptr<OneVbdOptions>& o) {
    sub->add_option("DOMID", o->domid, "The guest's domid")->required();
    sub->add_option("VBD", o->vbd, "devid, vdev name (xvda) or vbd-D-N")->required();
    sub->add_flag("-y,--yes", o->yes, "Do not ask for confirmation (required without a terminal)");
    sub->add_option("--timeout", o->timeout_s, "Seconds to wait for drain or Connected")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
}

} // namespace

void add_lifecycle(CLI::App& app, Command& cmd) {
    auto u = std::make_shared<OneVbdOptions>();
    auto* unbind = app.add_subcommand("unbind", "Unbind one vbd from xen-blkback; the guest keeps "
                                                "its disk (Linux >= 5.5) and its I/O waits");
    add_one_vbd(unbind, u);
    unbind->add_flag("--assume-rebind-support", u->assume_rebind,
                     "Trust that this pre-5.5 kernel has the rebind backport");
    add_accept_hazard(unbind, u->accept_hazards);
    unbind->callback([&cmd, u] { cmd.run = [u](Context& c) { return run_unbind(c, *u); }; });

    auto b = std::make_shared<OneVbdOptions>();
    auto* bind = app.add_subcommand("bind", "Bind one unbound vbd and wait until it is Connected "
                                            "with consistent rings");
    add_one_vbd(bind, b);
    bind->callback([&cmd, b] { cmd.run = [b](Context& c) { return run_bind(c, *b); }; });

    auto r = std::make_shared<RecoverOptions>();
    auto* rec = app.add_subcommand("recover", "Finish an interrupted run from its journal: a module "
                                              "loaded, every journaled vbd bound and Connected");
    rec->add_flag("-y,--yes", r->yes, "Do not ask for confirmation (required without a terminal)");
    rec->add_option("--timeout", r->timeout_s, "Seconds to wait for each connect")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    rec->callback([&cmd, r] { cmd.run = [r](Context& c) { return run_recover(c, *r); }; });
}

} // namespace vbdcli
