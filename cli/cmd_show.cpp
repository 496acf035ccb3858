// vbdctl show DOMID VBD: everything about one vbd.

#include <sstream>

#include "app.hpp"
#include "render.hpp"
#include "vbdctl/inventory.hpp"

namespace vbdcli {

namespace {

struct ShowOptions {
    std::string domid, vbd;
};

std::string show_text(const vbd::Vbd& v) {
    std::ostringstream out;
    out << v.id.sysfs_name() << " (" << (v.vdev.empty() ? "?" : v.vdev) << ") of domain "
        << v.id.domid << (v.name.empty() ? "" : " (" + v.name + ")") << "\n";
    out << "  backend   " << v.backend_path << "  state " << state_name(v.backend_state) << "\n";
    out << "  frontend  " << v.frontend_path << "  state " << state_name(v.frontend_state) << "\n";
    out << "  sysfs     " << (v.device_present ? (v.bound ? "bound to vbd" : "unbound") : "absent")
        << (v.sysfs_state ? ", state " + *v.sysfs_state : "") << "\n";
    out << "  device    " << (v.physical_device.empty() ? "-" : v.physical_device) << " "
        << v.params << " mode " << (v.mode.empty() ? "-" : v.mode) << "\n";
    if (v.toolstack_disk)
        out << "  toolstack " << v.toolstack_disk->target << " (" << v.toolstack_disk->format
            << ", backend domain " << v.toolstack_disk->backend_domid << ")\n";
    if (v.error_node) out << "  ERROR     " << *v.error_node << "\n";
    if (v.rings)
        out << "  rings     " << vbd::to_string(v.rings->geometry.protocol) << ", "
            << v.rings->queues.size() << " queue(s) of " << v.rings->geometry.pages()
            << " page(s), " << v.rings->geometry.size() << " entries\n";
    for (const auto& q : v.queues) {
        out << "    queue " << q.index << ": ring-ref";
        for (auto r : q.refs.ring_refs) out << " " << r;
        if (q.refs.event_channel) out << ", event-channel " << *q.refs.event_channel;
        if (q.snapshot)
            out << "\n      req_prod " << q.snapshot->req_prod << " req_event " << q.snapshot->req_event
                << " rsp_prod " << q.snapshot->rsp_prod << " rsp_event " << q.snapshot->rsp_event << " pending "
                << q.snapshot->pending()
                << (q.snapshot->consistent(v.rings->geometry.size()) ? " consistent" : " INCONSISTENT");
        else
            out << "\n      ring unreadable: " << q.snapshot_error.value_or("?");
        out << "\n";
    }
    if (!v.statistics.empty()) {
        out << "  statistics";
        for (const auto& [k, n] : v.statistics) out << " " << k << "=" << n;
        out << "\n";
    }
    for (const auto& p : v.problems) out << "  problem   " << p << "\n";
    out << "  backend nodes:\n";
    for (const auto& [k, n] : v.backend_nodes) out << "    " << k << " = " << n << "\n";
    out << "  frontend nodes:\n";
    for (const auto& [k, n] : v.frontend_nodes) out << "    " << k << " = " << n << "\n";
    return out.str();
}

Reply run_show(Context& c, const ShowOptions& o) {
    auto domid = resolve_domid(c, o.domid);
    if (!domid) return failure(domid.error());
    vbd::Inventory inv(*c.host);
    auto id = inv.resolve(*domid, o.vbd);
    if (!id) return failure(id.error());
    auto v = inv.get(*id, vbd::Detail::full);
    if (!v) return failure(v.error());
    Reply out;
    if (c.g.json)
        out.data["vbd"] = vbd_json(*v, true);
    else
        out.text = show_text(*v);
    return out;
}

} // namespace

void add_show(CLI::App& app, Command& cmd) {
    auto o = std::make_shared<ShowOptions>();
    auto* sub = app.add_subcommand("show", "Show everything about one vbd: both ends' xenstore "
                                           "nodes, sysfs, statistics, each queue's ring");
    sub->add_option("DOMID", o->domid, "The guest's domid")->required();
    sub->add_option("VBD", o->vbd, "devid, vdev name (xvda) or vbd-D-N")->required();
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_show(c, *o); }; });
}

} // namespace vbdcli
