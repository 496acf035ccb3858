// vbdctl __complete domids | vbds DOMID | runs | fault-kinds [ARGS]: the values the shell completions offer, read from
// the host chosen with --host. Hidden from --help: it is an interface for
// completions/vbdctl.bash and completions/_vbdctl, not for people.

#include <set>

#include "app.hpp"
#include "vbdctl/inventory.hpp"
#include "vbdctl/sim.hpp"

namespace vbdcli {

namespace {

struct CompleteOptions {
    std::vector<std::string> args;
};

// One value per line on stdout, nothing else there: the shells split on newlines.
Reply print_domids(Context& c) {
    vbd::Inventory inv(*c.host);
    auto vbds = inv.list(std::nullopt);
    if (!vbds) return failure(vbds.error());
    std::set<uint32_t> domids;
    for (const auto& v : *vbds) domids.insert(v.id.domid);
    Reply out;
    for (auto d : domids) out.text += std::to_string(d) + "\n";
    // Their names too, where a shell can take them as one word.
    if (auto names = inv.domain_names())
        for (const auto& [d, name] : *names)
            if (domids.contains(d) && name.find_first_of(" \t") == std::string::npos) out.text += name + "\n";
    return out;
}

Reply print_vbds(Context& c, const std::string& domid_text) {
    auto domid = resolve_domid(c, domid_text);
    if (!domid) return failure(domid.error());
    vbd::Inventory inv(*c.host);
    auto vbds = inv.list(*domid);
    if (!vbds) return failure(vbds.error());
    // The vdev name is what people type; a devid nobody can name is still a valid VBD.
    Reply out;
    for (const auto& v : *vbds) out.text += (v.vdev.empty() ? std::to_string(v.id.devid) : v.vdev) + "\n";
    return out;
}

// The simulator's fault kinds (its one table), optionally only those taking ARGS.
Reply print_fault_kinds(const std::string& args) {
    static const char* names[] = {"none", "vbd", "domid", "seconds", "step"};
    Reply out;
    for (const auto& k : vbd::sim::fault_kinds())
        if (args.empty() || args == names[static_cast<int>(k.args)]) (out.text += k.name) += "\n";
    return out;
}

// The kept runs' ids, newest first, and `last`.
Reply print_runs(Context& c) {
    auto runs = c.host->runs.list();
    if (!runs) return failure(runs.error());
    Reply out;
    out.text = "last\n";
    for (auto r = runs->rbegin(); r != runs->rend(); ++r) out.text += r->id + "\n";
    return out;
}

Reply run_complete(Context& c, const CompleteOptions& o) {
    const auto& a = o.args;
    if (!a.empty() && a[0] == "fault-kinds" && a.size() <= 2) return print_fault_kinds(a.size() == 2 ? a[1] : "");
    if (a.size() == 1 && a[0] == "domids") return print_domids(c);
    if (a.size() == 2 && a[0] == "vbds") return print_vbds(c, a[1]);
    if (a.size() == 1 && a[0] == "runs") return print_runs(c);
    return failure({vbd::Errc::invalid_argument, "unknown completion request", {},
                   "use `__complete domids`, `__complete vbds DOMID`, `__complete runs` or `__complete fault-kinds [vbd|domid|...]`"});
}

} // namespace

void add_complete(CLI::App& app, Command& cmd) {
    auto o = std::make_shared<CompleteOptions>();
    auto* sub = app.add_subcommand("__complete", "Values for shell completion: domids | vbds DOMID | runs");
    sub->group(""); // hidden from --help and from the man page's command list
    sub->add_option("WHAT", o->args, "domids, vbds DOMID, runs or fault-kinds [ARGS]")->required();
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_complete(c, *o); }; });
}

} // namespace vbdcli
