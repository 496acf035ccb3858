#pragma once
/// Inventory: every vbd this backend domain serves, joined from xenstore (both ends),
/// sysfs and the rings themselves.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vbdctl/ports.hpp"
#include "vbdctl/ring.hpp"
#include "vbdctl/types.hpp"

namespace vbd {

/// One queue's ring as the frontend published it.
struct QueueRefs {
    std::vector<uint32_t> ring_refs; ///< grant refs of pages 0..N-1
    std::optional<uint32_t> event_channel;
};

/// A frontend's ring layout, read with blkback's own rules.
struct FrontendRings {
    RingGeometry geometry;
    std::vector<QueueRefs> queues;
};

/// Reads one frontend node relative to the frontend directory ("queue-0/ring-ref").
using NodeLookup = std::function<std::optional<std::string>(const std::string& relpath)>;

/// Parses the frontend's ring keys as blkback's connect_ring() does: `protocol`,
/// `ring-page-order` (present: ring-ref0..N-1; absent: ring-ref), `multi-queue-num-queues`
/// (> 1: keys under queue-Q/). Malformed or missing values are Errc::bad_value.
Result<FrontendRings> parse_frontend_rings(const NodeLookup& frontend);

/// One queue of a vbd with its latest ring snapshot.
struct QueueState {
    unsigned index = 0;
    QueueRefs refs;
    std::optional<RingSnapshot> snapshot;
    std::optional<std::string> snapshot_error; ///< why the ring could not be read
};

/// Everything known about one vbd.
struct Vbd {
    VbdId id;
    std::string vdev;        ///< "xvda", or "" for an undecodable devid
    std::string name;        ///< the guest's name, or ""
    uint32_t backend_domid = 0;
    std::string backend_path;
    std::string frontend_path;
    std::optional<XenbusState> backend_state;
    std::optional<XenbusState> frontend_state;
    bool device_present = false; ///< on the xen-backend bus
    bool bound = false;          ///< the device has a driver
    std::optional<std::string> sysfs_state;
    std::string physical_device; ///< backend `physical-device`, "MAJ:MIN" (hex)
    std::string mode;
    std::string params; ///< full detail only
    std::string type;   ///< full detail only
    std::optional<FrontendRings> rings; ///< nullopt when the frontend has not published them
    std::vector<QueueState> queues;
    std::map<std::string, uint64_t> statistics; ///< blkback's counters while bound; Detail::full only
    /// Both ends' `feature-persistent` keys as the other end reads them (xenbus_read_unsigned:
    /// absent or not a number is 0): what blkfront saw when it connected, what blkback sees.
    bool backend_persistent = false;
    bool frontend_persistent = false;
    bool online = true; ///< backend `online`; 0 while the toolstack detaches the disk
    std::optional<std::string> error_node; ///< text of error/backend/vbd/D/N/error
    std::vector<std::string> problems;     ///< malformed values met, one sentence each
    std::optional<ToolstackDisk> toolstack_disk;        ///< full detail only: the configured disk
    std::map<std::string, std::string> backend_nodes;  ///< full detail only
    std::map<std::string, std::string> frontend_nodes; ///< full detail only

    /// Requests pending on all queues at the last snapshot.
    uint64_t pending() const {
        uint64_t n = 0;
        for (const auto& q : queues)
            if (q.snapshot) n += q.snapshot->pending();
        return n;
    }

    /// The toolstack is taking this disk away: `xl block-detach` writes online 0, then
    /// Closing. Never unbind or rebind it; leave it to the toolstack. (Closing with online 1
    /// is blkback's own fatal error, not a detach.)
    bool detaching() const { return !online; }

    bool connected() const {
        return backend_state == XenbusState::Connected &&
               frontend_state == XenbusState::Connected;
    }
};

enum class Detail {
    states,  ///< the ends' nodes and states and the device, no ring mapped (whom to bind)
    summary, ///< what `list` needs: also each ring's snapshot
    full,    ///< also every xenstore node of both ends and blkback's statistics (`show`)
};

/// Finds and describes vbds. Reads only; never changes the host.
class Inventory {
  public:
    explicit Inventory(Host& host) : host_(host) {}

    /// This domain's domid (xenstore `domid`, 0 when absent).
    Result<uint32_t> self_domid();
    /// Every vbd served here, optionally only guest domid's, ordered by (domid, devid).
    Result<std::vector<Vbd>> list(std::optional<uint32_t> domid, Detail detail = Detail::summary);
    /// The same vbds, handed to f one at a time so a long list is never held whole. It fails
    /// only before the first call (finding the vbds); describing one never fails.
    Result<void> each(std::optional<uint32_t> domid, Detail detail, const std::function<void(const Vbd&)>& f);
    /// One vbd; Errc::not_found when this domain does not serve it.
    Result<Vbd> get(VbdId id, Detail detail = Detail::full);
    /// Resolves a user's DOMID argument: digits are a domid; anything else a domain's name,
    /// as the toolstack knows it (the xenstore name as fallback). Errc::invalid_argument when
    /// it is malformed, when no domain has that name, or when several do.
    Result<uint32_t> resolve_domain(std::string_view text);
    /// The name of every domain the toolstack lists (xenstore's /local/domain otherwise),
    /// with its domid; domains without a name are left out.
    Result<std::vector<std::pair<uint32_t, std::string>>> domain_names();
    /// Resolves a user's VBD argument (devid, vdev, vbd-D-N) against what exists;
    /// Errc::invalid_argument when it is malformed or names no vbd here.
    Result<VbdId> resolve(uint32_t domid, std::string_view vbd_text);
    /// Re-reads only the ring snapshots of an already described vbd.
    void refresh_rings(Vbd& vbd);

    /// The vbds under this domain's backend directory (domid's only, when given), ordered by
    /// (domid, devid): their ids alone, without reading them.
    Result<std::vector<VbdId>> vbd_ids(std::optional<uint32_t> domid);
    /// Whether xenbus's error tree of the vbds backend domain self serves exists: usually
    /// it does not, and one request says so for every vbd.
    Result<bool> any_errors(uint32_t self);

  private:
    Result<std::vector<VbdId>> ids(uint32_t self, std::optional<uint32_t> domid);
    /// With errors false, the vbd's error node is known absent and not read.
    Vbd describe(uint32_t backend_domid, VbdId id, Detail detail, bool errors = true);
    std::string guest_name(uint32_t domid);

    Host& host_;
    std::optional<uint32_t> self_;
    std::map<uint32_t, std::string> names_;
};

} // namespace vbd
