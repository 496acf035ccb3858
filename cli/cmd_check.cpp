// vbdctl check [DOMID [VBD]]: ring consistency and stuck detection per queue.

#include "app.hpp"
#include "render.hpp"
#include "vbdctl/health.hpp"

namespace vbdcli {

namespace {

struct CheckCliOptions {
    std::string domid, vbd;
    unsigned samples = 3;
    unsigned interval_ms = 200;
};

Reply run_check(Context& c, const CheckCliOptions& o) {
    vbd::Inventory inv(*c.host);
    std::vector<vbd::Vbd> vbds;
    auto sel = select_vbds(c, o.domid, o.vbd);
    if (!sel) return failure(sel.error());
    if (sel->vbd) {
        auto v = inv.get(*sel->vbd, vbd::Detail::summary);
        if (!v) return failure(v.error());
        vbds.push_back(std::move(*v));
    } else {
        auto all = inv.list(sel->domid);
        if (!all) return failure(all.error());
        vbds = std::move(*all);
    }
    auto checks = vbd::check_rings(*c.host, std::move(vbds),
                                   {o.samples, vbd::Millis(o.interval_ms)});
    if (!checks) return failure(checks.error());
    size_t failed = 0;
    for (const auto& ch : *checks) failed += !ch.ok();
    Reply out;
    if (failed)
        out.fail({vbd::Errc::failed,
                  "check failed: " + std::to_string(failed) + " of " + std::to_string(checks->size()) + " vbds", {},
                  look_at(c, "see the FAIL lines", "see vbds[] with ok false")});
    if (c.g.json) {
        out.data["samples"] = o.samples;
        out.data["interval_ms"] = o.interval_ms;
        out.data["vbds"] = nlohmann::json::array();
        for (const auto& ch : *checks) out.data["vbds"].push_back(check_json(ch));
        return out;
    }
    Table t({"DOMID", "VDEV", "QUEUE", "SIZE", "PENDING", "PROGRESS", "RESULT"});
    for (const auto& ch : *checks) {
        std::string vdev = ch.vbd.vdev.empty() ? std::to_string(ch.vbd.id.devid) : ch.vbd.vdev;
        for (const auto* list : {&ch.vbd.problems, &ch.problems})
            for (const auto& p : *list) t.add({std::to_string(ch.vbd.id.domid), vdev, "-", "-", "-", "-", "FAIL: " + p});
        if (!ch.skipped.empty()) {
            t.add({std::to_string(ch.vbd.id.domid), vdev, "-", "-", "-", "-", "skipped: " + ch.skipped});
            continue;
        }
        for (const auto& q : ch.queues)
            t.add({std::to_string(ch.vbd.id.domid), vdev, std::to_string(q.queue),
                   std::to_string(q.ring_size),
                   q.samples.empty() ? "-" : std::to_string(q.samples.back().pending()),
                   std::string(vbd::to_string(q.progress)), q.ok() ? "ok" : "FAIL: " + q.reason});
    }
    out.text = t.str();
    return out;
}

} // namespace

void add_check(CLI::App& app, Command& cmd) {
    auto o = std::make_shared<CheckCliOptions>();
    auto* sub = app.add_subcommand(
        "check", "Check ring consistency (req_prod - rsp_prod <= size) and progress per queue; "
                 "exit 1 if any fails");
    sub->add_option("DOMID", o->domid, "Only this guest");
    sub->add_option("VBD", o->vbd, "Only this vbd (devid, vdev or vbd-D-N)");
    add_sampling(sub, o->samples, o->interval_ms);
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_check(c, *o); }; });
}

} // namespace vbdcli
