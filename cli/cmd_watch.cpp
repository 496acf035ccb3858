// vbdctl watch [DOMID [VBD]]: print what happens to vbds as it happens (vbd::EventStream:
// xenstore watches and the kernel's uevents, never polling).

#include <iostream>

#include "app.hpp"
#include "vbdctl/events.hpp"

namespace vbdcli {

namespace {

struct WatchOptions {
    std::string domid, vbd;
    unsigned count = 0;
    double timeout_s = 0;
};

// How a value reads: a state by its name (text) or number (JSON); anything else as it is.
std::string state_text(const std::optional<std::string>& v) {
    if (!v) return "(none)";
    auto s = vbd::parse_xenbus_state(*v);
    return s ? std::string(vbd::to_string(*s)) : *v;
}

nlohmann::json state_json(const std::optional<std::string>& v) {
    if (!v) return nullptr;
    auto s = vbd::parse_xenbus_state(*v);
    return s ? nlohmann::json(static_cast<int>(*s)) : nlohmann::json(*v);
}

std::string event_text(const vbd::VbdEvent& e) {
    using K = vbd::VbdEvent::Kind;
    std::string who = e.vbd ? e.vbd->sysfs_name() : "xen_blkback";
    std::string unbound = e.bound == false ? " (unbound)" : "";
    auto opt = [](const std::optional<std::string>& v) { return v.value_or("(none)"); };
    switch (e.kind) {
    case K::backend_state: return who + " backend state " + state_text(e.previous) + " -> " + state_text(e.value) + unbound;
    case K::frontend_state: return who + " frontend state " + state_text(e.previous) + " -> " + state_text(e.value) + unbound;
    case K::error: return who + " error " + opt(e.previous) + " -> " + opt(e.value) + unbound;
    case K::add: return who + " added to the bus" + unbound;
    case K::remove: return who + " removed from the bus";
    case K::bind: return who + " bound to " + opt(e.value);
    case K::unbind: return who + " unbound from " + opt(e.previous);
    case K::module_add: return who + " loaded (srcversion " + opt(e.value) + ")";
    case K::module_remove: return who + " unloaded (srcversion " + opt(e.previous) + ")";
    }
    return who;
}

nlohmann::json event_json(Context& c, const vbd::VbdEvent& e, vbd::Millis start) {
    using K = vbd::VbdEvent::Kind;
    nlohmann::json j = envelope(c);
    j["time_ms"] = (e.at - start).count();
    j["timestamp"] = timestamp_text(e.wall);
    j["kind"] = vbd::to_string(e.kind);
    j["vbd"] = e.vbd ? nlohmann::json(e.vbd->sysfs_name()) : nlohmann::json(nullptr);
    j["domid"] = e.vbd ? nlohmann::json(e.vbd->domid) : nlohmann::json(nullptr);
    j["devid"] = e.vbd ? nlohmann::json(e.vbd->devid) : nlohmann::json(nullptr);
    j["module"] = e.vbd ? nlohmann::json(nullptr) : nlohmann::json("xen_blkback");
    j["bound"] = e.bound ? nlohmann::json(*e.bound) : nlohmann::json(nullptr);
    bool state = e.kind == K::backend_state || e.kind == K::frontend_state;
    auto value = [&](const std::optional<std::string>& v) -> nlohmann::json {
        if (state) return state_json(v);
        return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    };
    j["previous"] = value(e.previous);
    j["value"] = value(e.value);
    return j;
}

Reply run_watch(Context& c, const WatchOptions& o) {
    auto sel = select_vbds(c, o.domid, o.vbd);
    if (!sel) return failure(sel.error());
    vbd::EventStream events(*c.host, sel->domid, sel->vbd);
    auto watched = events.start();
    if (!watched) return failure(watched.error());
    auto start = c.host->clock.now();
    auto deadline = o.timeout_s > 0 ? start + vbd::Millis(static_cast<int64_t>(o.timeout_s * 1000))
                                    : vbd::Millis(INT64_MAX / 4);
    unsigned printed = 0;
    if (!c.g.json)
        note(c, "watching " + std::to_string(*watched) + " xenstore paths and the kernel's uevents" +
                    (o.timeout_s > 0 ? " for " + std::to_string(o.timeout_s) + " s" : ""));
    while (o.count == 0 || printed < o.count) {
        auto ev = events.next(deadline);
        if (!ev) return failure(ev.error());
        if (!*ev) {
            if (c.host->clock.now() >= deadline) break;
            continue; // a signal woke the wait; the default action of SIGINT/SIGTERM ends us
        }
        if (c.g.json)
            std::cout << event_json(c, **ev, start).dump() << std::endl;
        else
            std::cout << "+" << ((*ev)->at - start).count() << "ms " << event_text(**ev) << std::endl;
        ++printed;
    }
    // The end of the stream is one more line, so a script tells a quiet watch from a lost one.
    if (c.g.json) {
        auto j = envelope(c);
        j["events"] = printed;
        j["ended"] = o.count && printed >= o.count ? "count" : "timeout";
        std::cout << j.dump() << std::endl;
    }
    return streamed();
}

} // namespace

void add_watch(CLI::App& app, Command& cmd) {
    auto o = std::make_shared<WatchOptions>();
    auto* sub = app.add_subcommand("watch", "Print what happens to vbds as it happens: state changes, error "
                                            "nodes, bind, unbind, add, remove, module load and unload "
                                            "(--json: one object per line)");
    sub->add_option("DOMID", o->domid, "Only this guest");
    sub->add_option("VBD", o->vbd, "Only this vbd");
    sub->add_option("--count", o->count, "Stop after N events (0: no limit)")->capture_default_str();
    sub->add_option("--timeout", o->timeout_s, "Stop after S seconds (0: never)")
        ->check(seconds_in(0, 86400.0 * 365))
        ->capture_default_str();
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_watch(c, *o); }; });
}

} // namespace vbdcli
