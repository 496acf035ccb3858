// vbdctl watch [DOMID [VBD]]: print backend/frontend state changes and error nodes as
// xenstore reports them (watches, never polling).

#include <iostream>
#include <map>
#include <set>

#include "app.hpp"
#include "vbdctl/inventory.hpp"

namespace vbdcli {

namespace {

struct WatchOptions {
    std::string domid, vbd;
    unsigned count = 0;
    double timeout_s = 0;
};

// Which vbd and which end a changed path belongs to, parsed from the path's fixed shape.
struct Where {
    vbd::VbdId id;
    std::string what; // backend_state, frontend_state, error
};

std::optional<Where> classify_path(const std::string& path, uint32_t self) {
    auto tail_ids = [](std::string_view rest) -> std::optional<std::pair<uint32_t, uint32_t>> {
        auto slash = rest.find('/');
        if (slash == std::string_view::npos) return std::nullopt;
        auto d = vbd::parse_uint(rest.substr(0, slash), vbd::max_domid);
        auto rest2 = rest.substr(slash + 1);
        auto slash2 = rest2.find('/');
        auto n = vbd::parse_uint(rest2.substr(0, slash2), UINT32_MAX);
        if (!d || !n) return std::nullopt;
        return std::pair{static_cast<uint32_t>(*d), static_cast<uint32_t>(*n)};
    };
    std::string be = "/local/domain/" + std::to_string(self) + "/backend/vbd/";
    std::string err = "/local/domain/" + std::to_string(self) + "/error/backend/vbd/";
    if (path.starts_with(be) && path.ends_with("/state")) {
        if (auto ids = tail_ids(std::string_view(path).substr(be.size())))
            return Where{{ids->first, ids->second}, "backend_state"};
    } else if (path.starts_with(err) && path.ends_with("/error")) {
        if (auto ids = tail_ids(std::string_view(path).substr(err.size())))
            return Where{{ids->first, ids->second}, "error"};
    } else if (path.starts_with("/local/domain/") && path.ends_with("/state") &&
               path.find("/device/vbd/") != std::string::npos) {
        std::string_view rest = std::string_view(path).substr(14);
        auto slash = rest.find('/');
        auto d = vbd::parse_uint(rest.substr(0, slash), vbd::max_domid);
        auto pos = rest.find("/device/vbd/");
        auto n_text = rest.substr(pos + 12);
        auto n = vbd::parse_uint(n_text.substr(0, n_text.find('/')), UINT32_MAX);
        if (d && n) return Where{{static_cast<uint32_t>(*d), static_cast<uint32_t>(*n)}, "frontend_state"};
    }
    return std::nullopt;
}

Reply run_watch(Context& c, const WatchOptions& o) {
    vbd::Inventory inv(*c.host);
    auto self = inv.self_domid();
    if (!self) return failure(self.error());
    auto sel = select_vbds(c, o.domid, o.vbd);
    if (!sel) return failure(sel.error());
    const auto& domid = sel->domid;
    const auto& only = sel->vbd;
    auto& xs = c.host->xenstore;
    std::string be_root = "/local/domain/" + std::to_string(*self) + "/backend/vbd";
    std::string err_root = "/local/domain/" + std::to_string(*self) + "/error/backend/vbd";
    std::vector<std::string> paths;
    if (only) {
        paths = {be_root + "/" + std::to_string(only->domid) + "/" + std::to_string(only->devid),
                 "/local/domain/" + std::to_string(only->domid) + "/device/vbd/" + std::to_string(only->devid),
                 err_root + "/" + std::to_string(only->domid) + "/" + std::to_string(only->devid)};
    } else {
        paths = {domid ? be_root + "/" + std::to_string(*domid) : be_root,
                 domid ? err_root + "/" + std::to_string(*domid) : err_root};
        auto vbds = inv.list(domid);
        if (!vbds) return failure(vbds.error());
        std::set<uint32_t> doms;
        for (const auto& v : *vbds) doms.insert(v.id.domid);
        if (domid) doms.insert(*domid);
        for (uint32_t d : doms) paths.push_back("/local/domain/" + std::to_string(d) + "/device/vbd");
    }
    for (const auto& p : paths)
        if (auto r = xs.watch(p, "vbdctl-watch"); !r) return failure(r.error());

    // What each value was when we started, so only real changes are printed.
    std::map<std::string, std::optional<std::string>> last;
    std::vector<vbd::VbdId> known;
    if (only) {
        known.push_back(*only);
    } else if (auto vbds = inv.list(domid)) {
        for (const auto& v : *vbds) known.push_back(v.id);
    }
    for (auto id : known)
        for (const auto& p : {be_root + "/" + std::to_string(id.domid) + "/" + std::to_string(id.devid) + "/state",
                              "/local/domain/" + std::to_string(id.domid) + "/device/vbd/" + std::to_string(id.devid) + "/state",
                              err_root + "/" + std::to_string(id.domid) + "/" + std::to_string(id.devid) + "/error"}) {
            auto v = xs.read(p);
            last[p] = v ? *v : std::nullopt;
        }
    std::map<vbd::VbdId, bool> bound;
    auto start = c.host->clock.now();
    auto deadline = o.timeout_s > 0 ? start + vbd::Millis(static_cast<int64_t>(o.timeout_s * 1000))
                                    : vbd::Millis(INT64_MAX / 4);
    unsigned printed = 0;
    if (!c.g.json)
        note(c, "watching " + std::to_string(paths.size()) + " xenstore paths" +
                    (o.timeout_s > 0 ? " for " + std::to_string(o.timeout_s) + " s" : ""));
    while (o.count == 0 || printed < o.count) {
        auto ev = xs.wait(deadline);
        if (!ev) return failure(ev.error());
        if (!*ev) break; // timeout
        const std::string& path = (*ev)->path;
        auto where = classify_path(path, *self);
        if (!where) continue;
        if (only && where->id != *only) continue;
        auto value = xs.read(path);
        std::optional<std::string> now_val = value ? *value : std::nullopt;
        auto prev = last.contains(path) ? last[path] : std::optional<std::string>{};
        last[path] = now_val;
        auto dev = c.host->bus.device(where->id.sysfs_name());
        bool is_bound = dev && dev->bound();
        bool bound_changed = bound.contains(where->id) && bound[where->id] != is_bound;
        bound[where->id] = is_bound;
        if (prev == now_val && !bound_changed) continue;
        auto t = (c.host->clock.now() - start).count();
        auto pretty = [&](const std::optional<std::string>& v) -> std::string {
            if (!v) return "(none)";
            if (where->what == "error") return *v;
            auto s = vbd::parse_xenbus_state(*v);
            return s ? std::string(vbd::to_string(*s)) : *v;
        };
        if (c.g.json) {
            nlohmann::json j = envelope(c);
            j["time_ms"] = t;
            j["domid"] = where->id.domid;
            j["devid"] = where->id.devid;
            j["what"] = where->what;
            j["bound"] = is_bound;
            auto num = [&](const std::optional<std::string>& v) -> nlohmann::json {
                if (!v) return nullptr;
                if (where->what == "error") return *v;
                auto s = vbd::parse_xenbus_state(*v);
                return s ? nlohmann::json(static_cast<int>(*s)) : nlohmann::json(*v);
            };
            j["value"] = num(now_val);
            j["previous"] = num(prev);
            std::cout << j.dump() << std::endl;
        } else {
            std::cout << "+" << t << "ms " << where->id.sysfs_name() << " "
                      << (where->what == "backend_state"    ? "backend state"
                          : where->what == "frontend_state" ? "frontend state"
                                                            : "error")
                      << " " << pretty(prev) << " -> " << pretty(now_val)
                      << (is_bound ? "" : " (unbound)") << std::endl;
        }
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
    auto* sub = app.add_subcommand("watch", "Print vbd state changes and error nodes as they "
                                            "happen (xenstore watches; --json: one object per line)");
    sub->add_option("DOMID", o->domid, "Only this guest");
    sub->add_option("VBD", o->vbd, "Only this vbd");
    sub->add_option("--count", o->count, "Stop after N changes (0: no limit)")->capture_default_str();
    sub->add_option("--timeout", o->timeout_s, "Stop after S seconds (0: never)")
        ->check(seconds_in(0, 86400.0 * 365))
        ->capture_default_str();
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_watch(c, *o); }; });
}

} // namespace vbdcli
