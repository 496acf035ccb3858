#pragma once
/// Re-attaching vbds to xen-blkback: the one place that decides when the old instances are
/// gone, binds, and waits for Connected. Every command that binds (bind, rebind, recover,
/// upgrade-backend and its rollback) goes through here.

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "vbdctl/inventory.hpp"

namespace vbd {

/// Module references one bound, connected vbd holds on xen_blkback: one taken by
/// xenbus_dev_probe, one by its blkif until the deferred free (XEN-FACTS.md).
inline constexpr int refs_per_bound_vbd = 2;

/// Progress of a mutating command: a step beginning (done = its number, total = the plan's
/// steps, detail = what it does) or ending (detail = its error, empty when it succeeded), or
/// an item within the current step (a vbd unbound, bound, connected: done of total).
struct ProgressEvent {
    enum class Kind { step, step_end, item };
    std::string step;   ///< "unbind", "drain", ...
    size_t done = 0;
    size_t total = 0;
    std::string detail;
    Kind kind = Kind::item;
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

/// Default limit on waiting for unbound instances to drain (`--drain-timeout`).
inline constexpr Millis default_drain_timeout{60000};

/// How the old instances were seen gone.
struct Drained {
    int64_t ms = 0;
    std::string evidence;
};

/// Waits until the old instances of the unbound vbds `ids` are gone, by both signals: each
/// device's driver link is gone, and xen_blkback's refcount is down to what the vbds still
/// bound hold (refs_per_bound_vbd each). It polls the refcount (the kernel raises no event
/// for a deferred free) and ignores stop requests: binding before it ends is unsafe. On
/// timeout it fails with Errc::timeout and nothing has been bound.
[[nodiscard]] Result<Drained> wait_drained(Host& host, const std::vector<VbdId>& ids, Millis timeout);

/// One vbd's end of a reconnect.
struct Reattached {
    VbdId id;
    bool connected = false;   ///< reached its goal: Connected (or InitWait when allowed)
    bool consistent = false;  ///< every ring passes blkback's re-attach check (when checked)
    std::string error;        ///< why not, with what to do
    bool lost = false;        ///< the guest lost the disk (a side went Closing/Closed): only the toolstack helps
    int64_t connect_ms = 0;
    Millis connected_at{0};   ///< host.clock.now() when it was seen reaching its goal
};

struct ReconnectOptions {
    /// For each vbd: the wait gives up once no vbd has connected for this long. The kernel
    /// connects vbds one after the other (xenwatch), so the last of many waits for them all.
    Millis timeout{30000};
    std::set<VbdId> initwait_ok; ///< vbds whose frontend never connected: InitWait is their goal
    /// Map each connected vbd's rings and check them. Off only for a caller whose next step
    /// checks every ring itself (upgrade-backend's and recover's verify): checking twice
    /// only keeps the command running after the guests have their disks back.
    bool check_rings = true;
};

/// Binds each vbd of ids that is unbound (the others are only waited for; one whose device
/// is gone, or that the toolstack is detaching (online 0), is left alone with an error),
/// watching each one's backend state node and the error tree (the whole backend tree instead when there
/// are more vbds than half a driver domain's watch quota), until each backend is Connected
/// with no new error node and (unless opts.check_rings is off) consistent rings.
/// Fails a vbd on Closing/Closed or a new error node. A watch error is an error.
[[nodiscard]] Result<std::vector<Reattached>> reconnect(Host& host, const std::vector<VbdId>& ids,
                                                        const ReconnectOptions& opts, const RunControl& ctl);

/// What happened to a vbd whose backend went Closing or Closed under a frontend that was
/// Connected: the guest has lost the disk, and only the toolstack gives it back. Says so,
/// with the commands (libxl's vdev and target when it knows them).
std::string lost_disk_advice(Host& host, VbdId id);

} // namespace vbd
