#pragma once
/// What xen-blkback does to a frontend when it connects it (after a bind, a load, a
/// reconnect), from the module's parameters at that moment; and which vbds that would cost
/// their guest the disk. One check for every path that reconnects vbds: upgrade-backend
/// (with the new module's parameters), bind and recover (with the running module's, since
/// max_queues and feature_persistent are writable at runtime and read at every connect).

#include <map>
#include <string>
#include <vector>

#include "vbdctl/inventory.hpp"

namespace vbd {

/// The limits connect_ring() applies, as xen-blkback's parameters give them.
struct ConnectLimits {
    unsigned ring_page_order = max_ring_page_order; ///< max_ring_page_order (0444, clamped to 4)
    unsigned queues = 1;                            ///< max_queues
    bool persistent = true;                         ///< feature_persistent
};

/// Limits from parameter values. A parameter absent from params takes xen-blkback's
/// default. At load, max_queues 0 means the online CPUs; written at runtime, 0 is kept as
/// 0 and fails every frontend's connect.
ConnectLimits connect_limits(const std::map<std::string, std::string>& params, unsigned cpus,
                             bool at_load);

/// One reason a connect would cost a guest its disk.
struct ConnectHazard {
    VbdId id;
    std::string kind;   ///< "persistent grants", "ring-page-order", "queues"
    std::string reason; ///< one sentence, with the values
    std::string hint;   ///< what the operator can do instead
};

/// The hazards of connecting v under limits (empty when it is safe):
/// - ring-page-order / queues: the frontend's ring is larger than the limits allow, so
///   connect_ring() fails and xenbus_dev_fatal closes the device;
/// - persistent grants: blkfront decided at its own connect, when the backend advertised
///   feature-persistent 0, not to use them, and never renegotiates; a backend that turns
///   them on keeps grants mapped that blkfront expects back, and blkfront disables the
///   disk ("backed has not unmapped grant"). Seen on Xen 4.17 with Linux 6.1. Only a
///   Connected frontend is at risk: one still connecting reads the new key.
std::vector<ConnectHazard> connect_hazards(const Vbd& v, const ConnectLimits& limits);

/// The hazards of connecting v under the running xen-blkback's parameters as they are now
/// (/sys/module/xen_blkback/parameters), as a bind or a recover would; empty when the
/// module is not loaded.
Result<std::vector<ConnectHazard>> hazards_now(Host& host, const Vbd& v);

} // namespace vbd
