#include "vbdctl/health.hpp"

namespace vbd {

std::string_view to_string(Progress p) {
    switch (p) {
    case Progress::idle: return "idle";
    case Progress::busy: return "busy";
    case Progress::stuck: return "stuck";
    case Progress::unknown: break;
    }
    return "unknown";
}

Progress classify(const std::vector<RingSnapshot>& samples) {
    if (samples.empty()) return Progress::unknown;
    bool any_pending = false, all_pending = true, responded = false;
    for (size_t i = 0; i < samples.size(); ++i) {
        bool pending = samples[i].pending() != 0;
        any_pending |= pending;
        all_pending &= pending;
        if (i > 0 && samples[i].rsp_prod != samples[i - 1].rsp_prod) responded = true;
    }
    if (!any_pending && !responded) return Progress::idle;
    // xen-ringwatch's STCK: work outstanding the whole time and the backend answered none.
    if (samples.size() >= 2 && all_pending && !responded) return Progress::stuck;
    return Progress::busy;
}

bool VbdCheck::ok() const {
    if (!vbd.problems.empty() || !problems.empty()) return false;
    for (const auto& q : queues)
        if (!q.ok()) return false;
    return true;
}

Result<std::vector<VbdCheck>> check_rings(Host& host, std::vector<Vbd> vbds,
                                          const CheckOptions& opts) {
    std::vector<VbdCheck> out;
    out.reserve(vbds.size());
    for (auto& v : vbds) {
        VbdCheck c;
        c.vbd = std::move(v);
        if (c.vbd.frontend_state != XenbusState::Connected || !c.vbd.rings) {
            c.skipped = "frontend is " +
                        std::string(c.vbd.frontend_state ? to_string(*c.vbd.frontend_state)
                                                         : "absent") +
                        ": no ring to check";
            if (c.vbd.frontend_state == XenbusState::Connected)
                c.skipped = "frontend is Connected but its ring keys are unusable";
        }
        if (c.vbd.frontend_state == XenbusState::Connected && c.vbd.device_present) {
            if (!c.vbd.bound)
                c.problems.push_back("no backend bound: the guest's requests wait in its ring (`vbdctl bind`)");
            else if (c.vbd.backend_state != XenbusState::Connected && c.vbd.online)
                c.problems.push_back(
                    "backend is " + std::string(c.vbd.backend_state ? to_string(*c.vbd.backend_state) : "absent") +
                    " under a Connected frontend: the guest's I/O is not served" +
                    (c.vbd.backend_state == XenbusState::Closing || c.vbd.backend_state == XenbusState::Closed
                         ? std::string(" and the guest has lost the disk (re-attach it with xl block-detach/block-attach)")
                         : std::string(" (`vbdctl rebind` repairs it)")));
        }
        out.push_back(std::move(c));
    }
    Inventory inv(host);
    unsigned n = std::max(1u, opts.samples);
    std::vector<std::vector<std::vector<RingSnapshot>>> samples(out.size());
    for (unsigned s = 0; s < n; ++s) {
        if (s > 0) host.clock.sleep_for(opts.interval);
        for (size_t i = 0; i < out.size(); ++i) {
            auto& c = out[i];
            if (!c.skipped.empty()) continue;
            if (s > 0) inv.refresh_rings(c.vbd);
            samples[i].resize(c.vbd.queues.size());
            for (size_t q = 0; q < c.vbd.queues.size(); ++q)
                if (c.vbd.queues[q].snapshot) samples[i][q].push_back(*c.vbd.queues[q].snapshot);
        }
    }
    for (size_t i = 0; i < out.size(); ++i) {
        auto& c = out[i];
        if (!c.skipped.empty()) continue;
        uint32_t size = c.vbd.rings->geometry.size();
        for (size_t q = 0; q < c.vbd.queues.size(); ++q) {
            QueueCheck qc;
            qc.queue = static_cast<unsigned>(q);
            qc.ring_size = size;
            qc.samples = std::move(samples[i][q]);
            if (qc.samples.empty()) {
                qc.reason = "ring unreadable: " +
                            c.vbd.queues[q].snapshot_error.value_or("no snapshot");
                out[i].queues.push_back(std::move(qc));
                continue;
            }
            qc.consistent = true;
            for (const auto& s : qc.samples)
                if (!s.consistent(size)) {
                    qc.consistent = false;
                    qc.reason = "inconsistent: req_prod - rsp_prod = " +
                                std::to_string(s.pending()) + " exceeds ring size " +
                                std::to_string(size) + " (req_prod " + std::to_string(s.req_prod) +
                                ", rsp_prod " + std::to_string(s.rsp_prod) + ")";
                    break;
                }
            qc.progress = classify(qc.samples);
            if (!c.vbd.bound && c.vbd.device_present && qc.progress == Progress::stuck) {
                // Nobody serves it: waiting is what its requests should do.
                qc.progress = Progress::unknown;
                qc.reason = "no backend bound: " + std::to_string(qc.samples.back().pending()) +
                            " requests wait for one";
            } else if (qc.consistent && qc.progress == Progress::stuck)
                qc.reason = "stuck: " + std::to_string(qc.samples.back().pending()) +
                            " requests pending and no response in " +
                            std::to_string(qc.samples.size()) + " samples over " +
                            std::to_string(opts.interval.count() * (qc.samples.size() - 1)) + " ms";
            c.queues.push_back(std::move(qc));
        }
    }
    return out;
}

} // namespace vbd
