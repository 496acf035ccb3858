#pragma once
/// Health: per-queue ring consistency and progress, classified as the old xen-ringwatch did.

#include <string>
#include <vector>

#include "vbdctl/inventory.hpp"

namespace vbd {

/// How a ring moved across samples.
enum class Progress {
    idle,    ///< nothing pending in any sample
    busy,    ///< requests pending and responses advancing (or only one sample)
    stuck,   ///< requests pending and no response produced across every sample
    unknown, ///< the ring could not be read
};

std::string_view to_string(Progress p);

/// Classifies samples taken in order; needs >= 2 samples to call a ring stuck.
Progress classify(const std::vector<RingSnapshot>& samples);

/// One queue's verdict.
struct QueueCheck {
    unsigned queue = 0;
    uint32_t ring_size = 0;
    std::vector<RingSnapshot> samples;
    bool consistent = false;
    Progress progress = Progress::unknown;
    std::string reason; ///< why it failed; empty when it passed

    bool ok() const { return consistent && progress != Progress::stuck && reason.empty(); }
};

/// One vbd's verdict.
struct VbdCheck {
    Vbd vbd;
    std::vector<QueueCheck> queues;
    std::string skipped; ///< why no ring was checked (frontend not connected), else empty
    /// What fails the vbd beyond its rings (no backend under a Connected frontend...); the
    /// inventory's own problems (unusable frontend keys) are in vbd.problems.
    std::vector<std::string> problems;

    bool ok() const;
};

struct CheckOptions {
    unsigned samples = 3;
    Millis interval{200};
};

/// Samples every queue of every vbd `samples` times, `interval` apart, and judges each.
Result<std::vector<VbdCheck>> check_rings(Host& host, std::vector<Vbd> vbds,
                                          const CheckOptions& opts);

} // namespace vbd
