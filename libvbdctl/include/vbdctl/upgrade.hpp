#pragma once
/// upgrade-backend: reload xen-blkback under every vbd this domain serves, planned and
/// preflighted first, journaled before every step, rolled back on any failure.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vbdctl/lifecycle.hpp"
#include "vbdctl/params.hpp"
#include "vbdctl/steps.hpp"

namespace vbd {

/// `--only DOMID[:VBD]`, resolved against the inventory during planning.
struct OnlySpec {
    uint32_t domid = 0;
    std::optional<std::string> vbd;
};

struct UpgradeOptions {
    std::optional<std::string> module_file;         ///< else what modprobe resolves
    std::map<std::string, std::string> params;      ///< --param NAME=VALUE: override the carried values
    bool reset_params = false;                      ///< carry nothing over from the running module
    std::vector<OnlySpec> only;                     ///< gate and verify only these vbds
    bool canary = false;
    bool assume_rebind = false;
    bool allow_no_rollback = false;                 ///< --without-rollback: proceed without a rollback copy
    bool force = false;                             ///< reload even when nothing would change
    bool force_vermagic = false;
    std::set<std::string> accept_hazards;           ///< --accept-hazard: kernel fixes known present
    Millis timeout{30000};                          ///< per connect wait
    Millis drain_timeout = default_drain_timeout;
    unsigned samples = 3;                           ///< ring samples in pre/postflight
    Millis interval{100};
};

/// One preflight verdict. A failed blocking check refuses the upgrade before any change.
struct PreflightCheck {
    std::string name;
    bool ok = false;
    std::string detail;
};

struct PlannedVbd {
    Vbd vbd;
    bool gated = true;        ///< in --only (or no --only): must be Connected and not stuck
    bool must_connect = true; ///< expected Connected after the reload
    std::string note;
};

/// Everything decided before the first change. Holds the lock while it lives.
struct UpgradePlan {
    UpgradeOptions opts;
    std::vector<PreflightCheck> checks;
    std::vector<PlannedVbd> vbds;
    std::optional<LoadedModule> module_before;
    std::string old_path;      ///< the loaded module's file, when identified
    std::string rollback_path; ///< our copy of it (empty in a dry run or when impossible)
    ModuleFile target;
    ParamPlan params;          ///< what the new module is loaded with, and what changes
    bool noop = false;         ///< the target is the loaded module with the same values: run nothing
    bool autoprobe_before = true;
    std::vector<StepInfo> steps; ///< what running it would do (and --dry-run prints)
    std::unique_ptr<Lock> lock;

    bool refused() const;
};

struct VbdOutcome {
    VbdId id;
    std::string vdev;
    int64_t unbound_ms = 0;
    std::optional<XenbusState> backend_state;
    bool consistent = false;
    bool gone = false; ///< the guest or the disk went away during the run
    std::string note;  ///< "appeared during the run", "detached during the run: ..."
    std::string error;
};

struct UpgradeReport {
    bool ok = false;
    bool interrupted = false;
    bool rolled_back = false;
    bool held = false;     ///< stopped where undoing would be unsafe (a drain past its limit)
    bool reloaded = false; ///< a new module instance was loaded (the host changed)
    std::string failure;
    std::vector<std::string> restored;
    std::vector<StepRecord> steps;
    std::vector<VbdOutcome> vbds;
    int64_t window_ms = 0;
    std::optional<LoadedModule> module_before, module_after;
    std::string target_path;
};

/// Runs every preflight check and builds the plan; changes nothing (with dry_run it also
/// takes no rollback copy and releases the lock). A plan with `noop` set must not be run.
/// Errors: Errc::invalid_argument for bad parameters, else only for broken hosts.
Result<UpgradePlan> plan_upgrade(Host& host, const UpgradeOptions& opts, bool dry_run);

/// Carries out a plan that was not refused. Never returns with a guest's vbd unbound
/// unless recovery itself failed, in which case the journal stays for `vbdctl recover`.
UpgradeReport run_upgrade(Host& host, UpgradePlan& plan, const RunControl& ctl);

/// The steps of running plan, as --dry-run shows them (running executes the same list).
std::vector<StepInfo> upgrade_steps(Host& host, UpgradePlan& plan);

} // namespace vbd
