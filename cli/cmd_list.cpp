// vbdctl list [DOMID]: one row per vbd this domain serves.


#include "app.hpp"
#include "render.hpp"
#include "vbdctl/inventory.hpp"

namespace vbdcli {

namespace {

struct ListOptions {
    std::string domid;
};

Reply run_list(Context& c, const ListOptions& o) {
    std::optional<uint32_t> domid;
    if (!o.domid.empty()) {
        auto d = resolve_domid(c, o.domid);
        if (!d) return failure(d.error());
        domid = *d;
    }
    vbd::Inventory inv(*c.host);
    // Each vbd is rendered as it is described: a thousand of them are never held at once.
    if (c.g.json) {
        auto j = envelope(c);
        auto m = c.host->modules.loaded("xen_blkback");
        j["module"] = m ? module_json(*m, blkback_param_types(*c.host)) : nlohmann::json(nullptr);
        auto ap = c.host->bus.autoprobe();
        j["drivers_autoprobe"] = ap ? nlohmann::json(*ap) : nlohmann::json(nullptr);
        JsonListWriter out(j, "vbds");
        // each() fails only before its first vbd, and the writer prints nothing before its
        // first item: an error never follows half a document.
        auto r = inv.each(domid, vbd::Detail::summary, [&](const vbd::Vbd& v) {
            out.add([&](JsonText& item) { put_vbd(item, v, false); });
        });
        if (!r) return failure(r.error());
        out.finish();
        return streamed();
    }
    Table t({"DOMID", "NAME", "DEVID", "VDEV", "BACKEND", "FRONTEND", "BOUND", "PDEV", "MODE",
             "PROTOCOL", "QUEUES", "PENDING"});
    size_t rows = 0;
    std::vector<std::string> problems;
    auto r = inv.each(domid, vbd::Detail::summary, [&](const vbd::Vbd& v) {
        t.add({std::to_string(v.id.domid), v.name.empty() ? "-" : v.name,
               std::to_string(v.id.devid), v.vdev.empty() ? "-" : v.vdev,
               state_name(v.backend_state), state_name(v.frontend_state),
               v.device_present ? (v.bound ? "yes" : "no") : "absent",
               v.physical_device.empty() ? "-" : v.physical_device, v.mode.empty() ? "-" : v.mode,
               v.rings ? std::string(vbd::to_string(v.rings->geometry.protocol)) : "-",
               queues_text(v), v.rings ? std::to_string(v.pending()) : "-"});
        ++rows;
        for (const auto& p : v.problems) problems.push_back(v.id.sysfs_name() + ": " + p);
    });
    if (!r) return failure(r.error());
    for (const auto& p : problems) note(c, p);
    Reply out;
    if (rows)
        out.text = t.str();
    else
        out.text = domid ? "no vbds of domain " + std::to_string(*domid) + " are served by this domain\n"
                         : "no vbds are served by this domain\n";
    return out;
}

} // namespace

void add_list(CLI::App& app, Command& cmd) {
    auto o = std::make_shared<ListOptions>();
    auto* sub = app.add_subcommand("list", "List every vbd this domain serves, one row each");
    sub->add_option("DOMID", o->domid, "Only this guest's vbds");
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_list(c, *o); }; });
}

} // namespace vbdcli
