#pragma once
/// Lifecycle: unbind and bind one vbd, the journal that survives a crash, and recover.

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vbdctl/health.hpp"
#include "vbdctl/inventory.hpp"
#include "vbdctl/journal.hpp"
#include "vbdctl/reattach.hpp"
#include "vbdctl/steps.hpp"

namespace vbd {

/// Whether unbinding keeps guests connected on this kernel, and why we think so.
struct RebindSupport {
    bool supported = false;
    std::string evidence; ///< "kernel 6.1.0-28-amd64 >= 5.5", "--assume-rebind-support"
};

/// Linux >= 5.5 has blkback's allow_rebind; `assume` accepts a backport on the operator's word.
Result<RebindSupport> rebind_support(Host& host, bool assume);

/// How a caller runs unbind, bind and rebind of one vbd.
struct VbdOptions {
    bool assume_rebind = false;
    std::set<std::string> accept_hazards;     ///< kernel fixes the operator knows are present
    Millis timeout{30000};                    ///< the wait for Connected
    Millis drain_timeout = default_drain_timeout;
    /// The ABI of a Connected frontend that has no `protocol` key: written to the frontend
    /// (and said so) before blkback reconnects it, since blkback would assume x86_32-abi.
    std::optional<std::string> protocol;
    bool dry_run = false;                     ///< check and plan, change nothing
};

/// What an unbind, bind or rebind of one vbd did (or, in a dry run, would do).
struct VbdRun {
    VbdId id;
    std::string op;
    bool dry_run = false;
    std::vector<StepInfo> plan;
    std::vector<StepRecord> steps;
    RebindSupport rebind;
    XenbusState backend_state = XenbusState::Unknown;
    std::vector<std::string> actions;   ///< changes beyond the op itself (a protocol written)
    int64_t drain_ms = 0;
    std::string drain_evidence;         ///< what showed the old instance gone
    int64_t connect_ms = 0;
    bool consistent = false;
    std::optional<int64_t> unbound_ms;  ///< how long it had no backend, when known
};

/// Unbinds one Connected vbd after checking it is safe; waits for the old instance to drain.
/// The vbd is journaled as deliberately unbound until `vbdctl bind` or `recover`.
[[nodiscard]] Result<VbdRun> unbind_vbd(Host& host, VbdId id, const VbdOptions& opts, const RunControl& ctl);

/// Binds one unbound vbd (after its old instance drained) and waits for Connected with
/// consistent rings.
[[nodiscard]] Result<VbdRun> bind_vbd(Host& host, VbdId id, const VbdOptions& opts, const RunControl& ctl);

/// Repairs a vbd that is bound but not Connected under a Connected frontend: unbind, drain,
/// bind, verify. A vbd whose backend went Closing or Closed has lost its disk: refused, with
/// the toolstack commands that give it back.
[[nodiscard]] Result<VbdRun> rebind_vbd(Host& host, VbdId id, const VbdOptions& opts, const RunControl& ctl);

struct RecoverOptions {
    Millis timeout{30000};
    Millis drain_timeout = default_drain_timeout;
    bool from_live = false; ///< ignore the journal: rebuild the recovery from the live host
    bool dry_run = false;
};

struct RecoverVbd {
    VbdId id;
    bool ok = false;
    std::string state; ///< "Connected", "InitWait (frontend not connected)", ...
    std::string error; ///< what is wrong and what to do
};

struct RecoverReport {
    bool had_journal = false;
    bool from_live = false;
    bool dry_run = false;
    std::string op;
    int step = 0;
    std::string step_name;
    std::vector<StepInfo> plan;
    std::vector<StepRecord> steps;
    std::vector<RecoverVbd> vbds;
    std::optional<LoadedModule> module_after;
    std::vector<std::string> actions;
    bool ok = false;
};

/// Finishes an interrupted run: a module loaded, the old instances drained, every vbd
/// device whose frontend is Connected or waiting bound, Connected ones Connected with
/// consistent rings, drivers_autoprobe as it was before the run. Verifies the live host,
/// not only what it did: ok only when all of that holds; then it clears the journal.
[[nodiscard]] Result<RecoverReport> recover(Host& host, const RecoverOptions& opts, const RunControl& ctl);

} // namespace vbd
