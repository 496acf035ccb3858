#pragma once
/// Upstream fixes that unbinding, rebinding and reloading xen-blkback rely on, and which of
/// them the running kernel predates. The version is a hint, not proof: distributions
/// backport fixes without changing it, so an operator who knows the kernel has a fix names
/// it (--accept-hazard ID) and goes on.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "vbdctl/error.hpp"
#include "vbdctl/ports.hpp"

namespace vbd {

/// An upstream kernel version; rc set for a release candidate ("6.0.0-rc3").
struct KernelVersion {
    unsigned major = 0, minor = 0, patch = 0;
    std::optional<unsigned> rc;
    std::string evidence; ///< where it was read ("uname -v: Debian 6.1.192-3")

    /// Orders versions; a release candidate comes before its release.
    auto key() const { return std::tuple(major, minor, patch, rc.value_or(~0u)); }
};

/// The upstream version behind a release and build string: Debian's "Debian X.Y.Z-N" in
/// `uname -v` when present (its `uname -r` says 6.1.0 for every 6.1.y), else the leading
/// X.Y[.Z][-rcN] of `uname -r`; nullopt when neither parses.
std::optional<KernelVersion> upstream_version(std::string_view release, std::string_view build);

/// One fix, with the first mainline release that has it and the stable releases it was
/// backported to (XEN-FACTS.md, "Kernel fixes that rebind and reload rely on").
struct KernelFix {
    std::string id;      ///< what --accept-hazard takes ("xsa-350")
    std::string title;   ///< the upstream commit's subject
    std::string without; ///< what happens on a kernel without it
    KernelVersion mainline;
    std::vector<KernelVersion> stable;
    std::optional<KernelVersion> introduced; ///< kernels before it never had the bug
};

/// The table, oldest fix first.
const std::vector<KernelFix>& kernel_fixes();

/// A fix the running kernel's version predates, with the sentence that says so.
struct MissingFix {
    const KernelFix* fix = nullptr;
    std::string detail;
};

/// The fixes v predates: not in its mainline release, and not in a known stable backport of
/// its own series.
std::vector<MissingFix> missing_fixes(const KernelVersion& v);

/// One verdict per fix for a preflight: the missing ones (accepted when `accepted` names
/// them), or one line that all are present or that the version cannot be told.
struct FixVerdict {
    std::string name; ///< "kernel fixes" or "kernel fix ID"
    bool ok = false;
    std::string detail;
};
Result<std::vector<FixVerdict>> check_kernel_fixes(Kernel& kernel, const std::set<std::string>& accepted);

} // namespace vbd
