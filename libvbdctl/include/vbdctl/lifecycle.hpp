#pragma once
/// Lifecycle: unbind and bind one vbd, the journal that survives a crash, and recover.

#include <atomic>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vbdctl/health.hpp"
#include "vbdctl/inventory.hpp"

namespace vbd {

/// Module references one bound, connected vbd holds on xen_blkback: one taken by
/// xenbus_dev_probe, one by its blkif until the deferred free (XEN-FACTS.md).
inline constexpr int refs_per_bound_vbd = 2;

/// A step of a mutating command, reported as it starts and ends.
struct ProgressEvent {
    std::string step;   ///< "unbind", "drain", ...
    size_t done = 0;
    size_t total = 0;
    std::string detail;
};

/// How a caller steers a mutating service: progress reports and a stop request (set from
/// a SIGINT/SIGTERM handler) that the service honours at its next safe point.
struct RunControl {
    std::function<void(const ProgressEvent&)> progress;
    const std::atomic<bool>* stop = nullptr;

    bool stopping() const { return stop && stop->load(); }
    void report(const ProgressEvent& e) const {
        if (progress) progress(e);
    }
};

/// Whether unbinding keeps guests connected on this kernel, and why we think so.
struct RebindSupport {
    bool supported = false;
    std::string evidence; ///< "kernel 6.1.0-28-amd64 >= 5.5", "--assume-rebind-support"
};

/// Linux >= 5.5 has blkback's allow_rebind; `assume` accepts a backport on the operator's word.
Result<RebindSupport> rebind_support(Host& host, bool assume);

/// What a journal holds: the mutation in progress, the vbds it concerns, the step reached.
/// A journal of op "unbind" records vbds deliberately left unbound by `vbdctl unbind`.
struct Journal {
    struct Entry {
        VbdId id;
        int64_t unbound_wall_ms = 0; ///< when vbdctl unbound it (0: not yet)
        std::optional<XenbusState> state_before;
    };
    std::string op; ///< "unbind" or "upgrade"
    int step = 0;
    std::string step_name;
    int64_t started_wall_ms = 0;
    std::vector<Entry> vbds;
    // upgrade only
    std::string target_path;
    std::map<std::string, std::string> target_params;
    std::string rollback_path;
    std::map<std::string, std::string> old_params;
    std::optional<std::string> old_srcversion;
    bool autoprobe_before = true;

    /// A fresh journal for op, started now.
    static Journal begin(std::string op, int64_t wall_ms);
    std::string to_text() const;
    static Result<Journal> parse(std::string_view text);
};

/// Reads the journal; nullopt when there is none.
Result<std::optional<Journal>> read_journal(StateDir& dir);
/// Errc::refused naming the unfinished run, when a journal exists (other than `allow_op`).
Result<void> refuse_if_journal(StateDir& dir, std::string_view allow_op = {});

struct UnbindOptions {
    bool assume_rebind = false;
    Millis drain_timeout{30000};
    std::set<std::string> accept_hazards; ///< kernel fixes the operator knows are present
};

struct UnbindResult {
    VbdId id;
    RebindSupport rebind;
    XenbusState backend_state = XenbusState::Unknown;
    int64_t drain_ms = 0;
    std::string drain_evidence; ///< what showed the old instance gone
};

/// Unbinds one vbd after checking it is safe; waits for the old instance to drain.
Result<UnbindResult> unbind_vbd(Host& host, VbdId id, const UnbindOptions& opts,
                                const RunControl& ctl);

struct BindOptions {
    Millis timeout{30000};
};

struct BindResult {
    VbdId id;
    XenbusState backend_state = XenbusState::Unknown;
    bool consistent = false;
    int64_t connect_ms = 0;                ///< from the bind write to Connected
    std::optional<int64_t> unbound_ms;     ///< how long it had no backend, when known
};

/// Binds one unbound vbd and waits (xenstore watch) for InitWait -> Connected, no error
/// node, consistent rings.
Result<BindResult> bind_vbd(Host& host, VbdId id, const BindOptions& opts, const RunControl& ctl);

// ----- building blocks shared with upgrade and recover -----

/// Waits until the module's refcount is at most `target` (the old instances drained);
/// returns the milliseconds it took. It polls (the kernel signals no event for this) and
/// ignores stop requests, since binding before the drain ends is unsafe.
Result<int64_t> wait_refcnt(Host& host, int target, Millis timeout, const RunControl& ctl);

/// Watches every vbd's backend state and error node, runs start() (the binds or the load),
/// then waits until each backend is Connected again: a state write seen after start(), the
/// driver bound, no new error node. Vbds in `initwait_ok` (their frontend never connected)
/// are done at InitWait. Fails a vbd on Closing/Closed or a new error node.
struct ConnectWait {
    VbdId id;
    bool connected = false;
    std::string error;
    int64_t connect_ms = 0;
};
std::vector<ConnectWait> wait_connected(Host& host, const std::vector<VbdId>& ids,
                                        const std::function<Result<void>()>& start,
                                        Millis timeout, const RunControl& ctl,
                                        const std::set<VbdId>& initwait_ok = {});

struct RecoverReport {
    bool had_journal = false;
    std::string op;
    int step = 0;
    std::vector<ConnectWait> vbds;
    std::optional<LoadedModule> module_after;
    std::vector<std::string> actions;
    bool ok = false;
};

/// Finishes an interrupted run safely: a module loaded, every journaled vbd bound and
/// Connected with consistent rings, autoprobe restored; then clears the journal.
Result<RecoverReport> recover(Host& host, const RunControl& ctl, Millis timeout);

} // namespace vbd
