#pragma once
/// The simulated host ("--host sim[:FILE]"): every port over one model of xenbus, xen-blkback
/// and running guests. With a file, the world persists there across invocations.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vbdctl/ports.hpp"

namespace vbd::sim {

/// Sizes for `sim init`.
struct InitOptions {
    unsigned guests = 0; ///< 0: the built-in default world
    unsigned vbds_per_guest = 2;
    std::string kernel = "6.1.0-sim-amd64";
    /// The domain the simulated host is: 0 (dom0) or a driver domain serving the disks,
    /// which xenstored holds to its per-domain watch quota (128).
    uint32_t backend_domid = 0;
    /// Parameters xen-blkback was loaded with before the guests connected (NAME -> VALUE).
    std::map<std::string, std::string> blkback_params;
    bool builtin_blkback = false; ///< xen-blkback built into the kernel (CONFIG_XEN_BLKDEV_BACKEND=y)
    /// Module files as Debian 13 ships them: /usr/lib/modules, the in-tree one xz-compressed
    /// (libkmod reads its modinfo; its build-id is not readable without decompressing).
    bool compressed_modules = false;
    /// The kernel loads only signed modules, and why ("sig_enforce", "lockdown integrity").
    std::optional<std::string> signature_enforcement;
    /// How long one blkback connect takes in the xenwatch thread (probe to Connected; they
    /// run one after another). Under TCG the lab's dmesg shows 300-700 ms.
    unsigned connect_ms = 4;
};

/// One disk as its guest's blkfront sees it.
struct FrontendView {
    uint32_t devid = 0;
    bool persistent = false; ///< blkfront uses persistent grants (decided at its connect)
    bool disabled = false;   ///< blkfront stopped the disk: the guest has lost it
};

/// A simulated guest: its disks from the inside and what its kernel logged.
struct GuestView {
    uint32_t domid = 0;
    std::string name;
    std::vector<FrontendView> disks;
    std::vector<std::pair<int64_t, std::string>> console; ///< (virtual ms, line)
};

/// A fault injected with `vbdctl sim fault`; fault_kinds() says what each kind means.
struct Fault {
    std::string kind;
    uint32_t domid = 0, devid = 0;
    int step = 0;       ///< --at-step K, or crash-after-step's K
    double seconds = 0; ///< slow-drain
};

/// What a fault kind takes on the command line.
enum class FaultArgs {
    none,    ///< KIND
    vbd,     ///< KIND DOMID VBD
    domid,   ///< KIND DOMID
    seconds, ///< KIND SECONDS
    step,    ///< KIND K (the step number is the argument)
};

/// One row of the fault table: adding a fault kind is adding a row here and its effect in
/// the model.
struct FaultKind {
    std::string_view name;
    FaultArgs args;
    bool at_step;               ///< needs --at-step K: it fires when a run journals step K
    std::string_view summary;   ///< for --help
};

/// Every fault kind the simulator knows.
const std::vector<FaultKind>& fault_kinds();
/// The row for name, or nullptr.
const FaultKind* fault_kind(std::string_view name);

class SimHost {
  public:
    /// Opens the simulated host. With file: loads it, creating the default world there on
    /// first use. Without: a fresh default world that lives as long as this object. A file
    /// that is not a regular file, or is over 1 GiB, is an error; so is a damaged one unless
    /// replacing (`sim init` overwrites it).
    static Result<std::unique_ptr<SimHost>> open(std::optional<std::string> file, bool replacing = false);
    virtual ~SimHost() = default;

    virtual Host& host() = 0;
    /// Replaces the world (needs the lock); saves it.
    virtual Result<void> init(const InitOptions& opts) = 0;
    virtual Result<void> add_fault(const Fault& f) = 0;
    virtual std::vector<Fault> faults() = 0;
    virtual Result<void> clear_faults() = 0;
    /// Every module file the simulated host has, with modinfo.
    virtual std::vector<ModuleFile> module_files() = 0;
    /// Every guest, seen from inside (frontends, console).
    virtual std::vector<GuestView> guests() = 0;
    /// What `echo VALUE > /sys/module/xen_blkback/parameters/NAME` does (needs the lock).
    virtual Result<void> write_param(const std::string& name, const std::string& value) = 0;
    /// Writes the world to its file now (no-op without a file or without the lock).
    virtual Result<void> flush() = 0;
};

} // namespace vbd::sim
