#pragma once
/// Status: the one-screen summary of a backend domain: kernel and rebind support, the loaded
/// xen-blkback (with what differs from its defaults), vbds by state, rings that are stuck or
/// inconsistent, and whether a run is unfinished or in progress.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vbdctl/health.hpp"
#include "vbdctl/journal.hpp"
#include "vbdctl/kernel_fixes.hpp"
#include "vbdctl/lifecycle.hpp"

namespace vbd {

/// xen-blkback's parameters as the kernel initialises them (Linux 6.1 and 6.12:
/// drivers/block/xen-blkback/blkback.c and xenbus.c), as /sys/module/xen_blkback/parameters
/// shows them after the load: max_queues 0 becomes the number of online CPUs.
std::map<std::string, std::string> blkback_param_defaults(unsigned online_cpus);

struct ParamDifference {
    std::string name;
    std::string value;
    std::string default_value;
};

struct HostStatus {
    std::string kernel_release;
    RebindSupport rebind;
    std::vector<FixVerdict> kernel_fixes;
    std::optional<LoadedModule> module;               ///< nullopt: xen_blkback not loaded
    std::vector<ParamDifference> params_changed;      ///< loaded values that are not the defaults
    std::optional<ModuleFile> module_file;            ///< what modprobe resolves (its signer), if any
    std::string module_file_error;                    ///< why it could not be inspected
    std::optional<bool> autoprobe;                    ///< drivers_autoprobe; nullopt: unreadable
    size_t vbds = 0;
    std::map<std::string, size_t> by_backend_state;   ///< "Connected" -> 5, "absent" -> 0 ...
    size_t bound = 0;
    size_t unbound = 0;                               ///< on the bus without a driver
    std::vector<VbdCheck> failing;                    ///< vbds whose rings are stuck or inconsistent
    RunState run;                                     ///< journal and lock
    /// Problems an operator should act on, one sentence each; empty when healthy.
    std::vector<std::string> problems;
};

/// Gathers the status; rings are sampled as `check` samples them (opts).
Result<HostStatus> host_status(Host& host, const CheckOptions& opts);

} // namespace vbd
