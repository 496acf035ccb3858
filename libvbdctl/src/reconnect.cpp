#include "vbdctl/reconnect.hpp"
#include "try.hpp"

#include <algorithm>

namespace vbd {

ConnectLimits connect_limits(const std::map<std::string, std::string>& params, unsigned cpus,
                             bool at_load) {
    ConnectLimits l;
    auto get = [&](const char* k) -> std::optional<std::string> {
        auto it = params.find(k);
        return it == params.end() ? std::nullopt : std::optional(it->second);
    };
    if (auto v = get("max_ring_page_order"))
        if (auto n = parse_uint(*v, max_ring_page_order + 0ull)) l.ring_page_order = static_cast<unsigned>(*n);
    // blkback_init: "0 = online CPUs" is applied once; a later write is used as it is.
    l.queues = at_load ? 0 : cpus;
    if (auto v = get("max_queues"))
        if (auto n = parse_uint(*v, UINT32_MAX)) l.queues = static_cast<unsigned>(*n);
    if (at_load && l.queues == 0) l.queues = cpus;
    if (auto v = get("feature_persistent")) l.persistent = *v == "Y" || *v == "y" || *v == "1" || *v == "on";
    return l;
}

std::vector<ConnectHazard> connect_hazards(const Vbd& v, const ConnectLimits& l) {
    std::vector<ConnectHazard> out;
    if (v.rings) {
        unsigned order = v.rings->geometry.page_order;
        auto queues = static_cast<unsigned>(v.rings->queues.size());
        if (order > l.ring_page_order)
            out.push_back({v.id, "ring-page-order",
                           "frontend ring-page-order " + std::to_string(order) + " exceeds max_ring_page_order " +
                               std::to_string(l.ring_page_order) + ": the connect would fail and close the disk",
                           "load xen-blkback with max_ring_page_order >= " + std::to_string(order)});
        if (queues > l.queues)
            out.push_back({v.id, "queues",
                           "frontend uses " + std::to_string(queues) + " queues, max_queues allows " +
                               std::to_string(l.queues) + ": the connect would fail and close the disk",
                           "set max_queues >= " + std::to_string(queues) +
                               " (/sys/module/xen_blkback/parameters/max_queues, or --param)"});
    }
    if (l.persistent && v.frontend_state == XenbusState::Connected && v.frontend_persistent &&
        !v.backend_persistent)
        out.push_back({v.id, "persistent grants",
                       "its frontend connected while the backend advertised feature-persistent 0 and "
                       "will not renegotiate: a backend with feature_persistent=Y keeps grants the "
                       "frontend expects back, and the guest disables the disk",
                       "keep feature_persistent=N (echo N > /sys/module/xen_blkback/parameters/feature_persistent "
                       "or --param feature_persistent=N); the guest gets persistent grants only when its "
                       "frontend connects anew (reboot, or xl block-detach and block-attach)"});
    return out;
}

Result<std::vector<ConnectHazard>> hazards_now(Host& host, const Vbd& v) {
    auto mod = VBD_TRY(host.modules.loaded("xen_blkback"));
    if (!mod) return std::vector<ConnectHazard>{};
    unsigned cpus = VBD_TRY(host.kernel.online_cpus());
    return connect_hazards(v, connect_limits(mod->params, cpus, false));
}

} // namespace vbd
