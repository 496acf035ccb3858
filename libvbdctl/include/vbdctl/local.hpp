#pragma once
/// The real host ("--host local"): this machine's dom0 or driver domain, through
/// libxenstore, sysfs, libkmod, libxengnttab and libxenlight.

#include <memory>
#include <string>

#include "vbdctl/ports.hpp"

namespace vbd {

struct LocalOptions {
    std::string sysfs_root = "/";           ///< where /sys is found (tests use fixture trees)
    std::string state_dir = "/run/vbdctl";  ///< lock, journal, rollback copies
    std::string runs_dir = "/var/lib/vbdctl/runs"; ///< the reports of the last mutating runs
};

class LocalHost {
  public:
    /// Opens every adapter. Errc::not_xen, naming what is missing, when this machine is
    /// not a Xen backend domain (no xenstore, no /sys/bus/xen-backend).
    static Result<std::unique_ptr<LocalHost>> open(const LocalOptions& opts);
    virtual ~LocalHost() = default;
    virtual Host& host() = 0;
};

} // namespace vbd
