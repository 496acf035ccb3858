// vbdctl show DOMID VBD: everything about one vbd.

#include <iostream>

#include "app.hpp"
#include "render.hpp"
#include "vbdctl/inventory.hpp"

namespace vbdcli {

namespace {

struct ShowOptions {
    std::string domid, vbd;
};

void print_text(const vbd::Vbd& v) {
    std::cout << v.id.sysfs_name() << " (" << (v.vdev.empty() ? "?" : v.vdev) << ") of domain "
              << v.id.domid << (v.name.empty() ? "" : " (" + v.name + ")") << "\n";
    std::cout << "  backend   " << v.backend_path << "  state " << state_name(v.backend_state) << "\n";
    std::cout << "  frontend  " << v.frontend_path << "  state " << state_name(v.frontend_state) << "\n";
    std::cout << "  sysfs     " << (v.device_present ? (v.bound ? "bound to vbd" : "unbound") : "absent")
              << (v.sysfs_state ? ", state " + *v.sysfs_state : "") << "\n";
    std::cout << "  device    " << (v.physical_device.empty() ? "-" : v.physical_device) << " "
              << v.params << " mode " << (v.mode.empty() ? "-" : v.mode) << "\n";
    if (v.toolstack_disk)
        std::cout << "  toolstack " << v.toolstack_disk->target << " (" << v.toolstack_disk->format
                  << ", backend domain " << v.toolstack_disk->backend_domid << ")\n";
    if (v.error_node) std::cout << "  ERROR     " << *v.error_node << "\n";
    if (v.rings)
        std::cout << "  rings     " << vbd::to_string(v.rings->geometry.protocol) << ", "
                  << v.rings->queues.size() << " queue(s) of " << v.rings->geometry.pages()
                  << " page(s), " << v.rings->geometry.size() << " entries\n";
    for (const auto& q : v.queues) {
        std::cout << "    queue " << q.index << ": ring-ref";
        for (auto r : q.refs.ring_refs) std::cout << " " << r;
        if (q.refs.event_channel) std::cout << ", event-channel " << *q.refs.event_channel;
        if (q.snapshot)
            std::cout << "\n      req_prod " << q.snapshot->req_prod << " req_event "
                      << q.snapshot->req_event << " rsp_prod " << q.snapshot->rsp_prod
                      << " rsp_event " << q.snapshot->rsp_event << " pending "
                      << q.snapshot->pending()
                      << (q.snapshot->consistent(v.rings->geometry.size()) ? " consistent"
                                                                            : " INCONSISTENT");
        else
            std::cout << "\n      ring unreadable: " << q.snapshot_error.value_or("?");
        std::cout << "\n";
    }
    if (!v.statistics.empty()) {
        std::cout << "  statistics";
        for (const auto& [k, n] : v.statistics) std::cout << " " << k << "=" << n;
        std::cout << "\n";
    }
    for (const auto& p : v.problems) std::cout << "  problem   " << p << "\n";
    std::cout << "  backend nodes:\n";
    for (const auto& [k, n] : v.backend_nodes) std::cout << "    " << k << " = " << n << "\n";
    std::cout << "  frontend nodes:\n";
    for (const auto& [k, n] : v.frontend_nodes) std::cout << "    " << k << " = " << n << "\n";
}

int run_show(Context& c, const ShowOptions& o) {
    auto domid = vbd::parse_domid(o.domid);
    if (!domid) return report(domid.error());
    vbd::Inventory inv(*c.host);
    auto id = inv.resolve(*domid, o.vbd);
    if (!id) return report(id.error());
    auto v = inv.get(*id, vbd::Detail::full);
    if (!v) return report(v.error());
    if (c.g.json) {
        auto j = json_header(c);
        j["vbd"] = vbd_json(*v, true);
        print_json(j);
    } else {
        print_text(*v);
    }
    return Exit::ok;
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
