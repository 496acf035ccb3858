#include "vbdctl/events.hpp"

#include <utility>
#include <vector>

#include "vbdctl/inventory.hpp"
#include "paths.hpp"
#include "try.hpp"

namespace vbd {

namespace {

constexpr std::string_view token = "vbdctl-events";
constexpr std::string_view blkback = "xen_blkback";

/// The components of path after prefix, when it has exactly n of them.
std::optional<std::vector<std::string_view>> components(std::string_view path, std::string_view prefix, size_t n) {
    if (!path.starts_with(prefix)) return std::nullopt;
    std::vector<std::string_view> out;
    std::string_view rest = path.substr(prefix.size());
    while (!rest.empty()) {
        auto slash = rest.find('/');
        out.push_back(rest.substr(0, slash));
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    if (out.size() != n) return std::nullopt;
    return out;
}

std::optional<VbdId> id_of(std::string_view domid, std::string_view devid) {
    auto d = parse_uint(domid, max_domid);
    auto n = parse_uint(devid, UINT32_MAX);
    if (!d || !n) return std::nullopt;
    return VbdId{static_cast<uint32_t>(*d), static_cast<uint32_t>(*n)};
}

} // namespace

std::string_view to_string(VbdEvent::Kind k) {
    switch (k) {
    case VbdEvent::Kind::backend_state: return "backend_state";
    case VbdEvent::Kind::frontend_state: return "frontend_state";
    case VbdEvent::Kind::error: return "error";
    case VbdEvent::Kind::add: return "add";
    case VbdEvent::Kind::remove: return "remove";
    case VbdEvent::Kind::bind: return "bind";
    case VbdEvent::Kind::unbind: return "unbind";
    case VbdEvent::Kind::module_add: return "module_add";
    case VbdEvent::Kind::module_remove: return "module_remove";
    }
    return "?";
}

EventStream::EventStream(Host& host, std::optional<uint32_t> domid, std::optional<VbdId> only)
    : host_(host), domid_(only ? std::optional(only->domid) : domid), only_(only) {}

bool EventStream::selected(VbdId id) const {
    if (only_) return id == *only_;
    return !domid_ || id.domid == *domid_;
}

Result<void> EventStream::watch(const std::string& path) {
    VBD_TRY_VOID(host_.xenstore.watch(path, token));
    ++watched_;
    return {};
}

Result<void> EventStream::watch_frontends(uint32_t domid) {
    if (!frontend_domains_.insert(domid).second) return {};
    if (only_) return watch(paths::frontend(*only_));
    return watch(paths::domain(domid) + "/device/vbd");
}

Result<size_t> EventStream::start() {
    Inventory inv(host_);
    self_ = VBD_TRY(inv.self_domid());
    // Uevents first: nothing that happens while the watches are set up is missed.
    VBD_TRY_VOID(host_.events.subscribe());
    std::vector<VbdId> known;
    if (only_) {
        known.push_back(*only_);
        VBD_TRY_VOID(watch(paths::backend(self_, *only_)));
        VBD_TRY_VOID(watch(paths::error_root(self_) + "/" + std::to_string(only_->domid) + "/" +
                           std::to_string(only_->devid)));
    } else {
        std::string suffix = domid_ ? "/" + std::to_string(*domid_) : "";
        VBD_TRY_VOID(watch(paths::backend_vbd_root(self_) + suffix));
        VBD_TRY_VOID(watch(paths::error_root(self_) + suffix));
        known = VBD_TRY(inv.vbd_ids(domid_));
        if (domid_) VBD_TRY_VOID(watch_frontends(*domid_));
    }
    for (VbdId id : known) {
        VBD_TRY_VOID(watch_frontends(id.domid));
        for (const auto& p : {paths::backend(self_, id) + "/state", paths::frontend(id) + "/state",
                              paths::error_node(self_, id)})
            last_[p] = VBD_TRY(host_.xenstore.read(p));
    }
    srcversion_ = VBD_TRY(srcversion());
    return watched_;
}

std::optional<bool> EventStream::bound(VbdId id) {
    auto dev = host_.bus.device(id.sysfs_name());
    if (!dev) return std::nullopt; // gone from the bus
    return dev->bound();
}

Result<std::optional<std::string>> EventStream::srcversion() {
    auto m = VBD_TRY(host_.modules.loaded(blkback));
    if (!m) return std::optional<std::string>{};
    return m->srcversion;
}

Result<std::optional<VbdEvent>> EventStream::from_watch(const WatchEvent& w) {
    using K = VbdEvent::Kind;
    std::optional<VbdId> id;
    K kind{};
    auto be = components(w.path, paths::backend_vbd_root(self_) + "/", 3);
    auto err = components(w.path, paths::error_root(self_) + "/", 3);
    auto fe = components(w.path, "/local/domain/", 5);
    if (be && (*be)[2] == "state") {
        id = id_of((*be)[0], (*be)[1]);
        kind = K::backend_state;
    } else if (err && (*err)[2] == "error") {
        id = id_of((*err)[0], (*err)[1]);
        kind = K::error;
    } else if (fe && (*fe)[1] == "device" && (*fe)[2] == "vbd" && (*fe)[4] == "state") {
        id = id_of((*fe)[0], (*fe)[3]);
        kind = K::frontend_state;
    }
    if (!id || !selected(*id)) return std::optional<VbdEvent>{};
    auto value = VBD_TRY(host_.xenstore.read(w.path));
    auto& last = last_[w.path];
    if (last == value) return std::optional<VbdEvent>{};
    VbdEvent e{kind, {}, {}, id, last, value, bound(*id)};
    last = value;
    return std::optional(std::move(e));
}

Result<std::optional<VbdEvent>> EventStream::from_uevent(const DeviceEvent& d) {
    using K = VbdEvent::Kind;
    const std::optional<VbdEvent> none;
    if (d.subsystem == "module") {
        if (d.name != blkback) return none;
        if (d.action == "add") {
            srcversion_ = VBD_TRY(srcversion());
            return VbdEvent{K::module_add, {}, {}, std::nullopt, std::nullopt, srcversion_, std::nullopt};
        }
        if (d.action == "remove")
            return VbdEvent{K::module_remove, {}, {}, std::nullopt, std::exchange(srcversion_, std::nullopt),
                            std::nullopt, std::nullopt};
        return none;
    }
    if (d.subsystem != "xen-backend") return none;
    auto id = parse_sysfs_name(d.name);
    if (!id || !selected(*id)) return none; // vif-*, another guest's
    VbdEvent e{K::add, {}, {}, *id, std::nullopt, std::nullopt, bound(*id)};
    if (d.action == "add") {
        // A guest created while watching: its frontend's state is of interest too.
        VBD_TRY_VOID(watch_frontends(id->domid));
    } else if (d.action == "remove") {
        e.kind = K::remove;
        e.bound = false;
    } else if (d.action == "bind") {
        e.kind = K::bind;
        e.value = d.driver.empty() ? std::optional<std::string>("vbd") : d.driver;
        e.bound = true;
    } else if (d.action == "unbind") {
        e.kind = K::unbind;
        e.previous = "vbd"; // the only backend driver of vbd devices (the uevent names none)
        e.bound = false;
    } else {
        return none;
    }
    return e;
}

Result<std::optional<VbdEvent>> EventStream::next(Millis deadline) {
    while (true) {
        auto got = VBD_TRY(host_.events.wait(deadline));
        if (!got) return std::optional<VbdEvent>{};
        std::optional<VbdEvent> e;
        if (const auto* w = std::get_if<WatchEvent>(&*got)) {
            if (w->token != token) continue;
            e = VBD_TRY(from_watch(*w));
        } else {
            e = VBD_TRY(from_uevent(std::get<DeviceEvent>(*got)));
        }
        if (!e) continue;
        e->at = host_.clock.now();
        e->wall = host_.clock.wall_now();
        return e;
    }
}

} // namespace vbd
