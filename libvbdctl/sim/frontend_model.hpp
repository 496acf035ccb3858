#pragma once
// The simulated guests: their names, their consoles, and each disk's blkfront, doing what
// drivers/block/xen-blkfront.c does when its backend changes state (XEN-FACTS.md): it
// connects once and decides about persistent grants then; when the backend goes Closing
// under a connected disk it closes its own end and the guest has lost that disk; when a
// grant it expected back stays mapped it stops the disk for good.
//
// The model changes xenstore itself; what blkfront does later (in xenwatch, after the guest
// reacts) it returns for the kernel's event loop (World) to schedule.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vbdctl/sim.hpp"
#include "vbdctl/types.hpp"
#include "xenstore_model.hpp"

namespace vbd::sim {

/// One line of a guest's kernel log, as its console shows it.
struct ConsoleLine {
    int64_t at = 0;
    std::string text;
};

struct Guest {
    std::string name;
    bool running = true;
    std::vector<ConsoleLine> console; ///< what the guest's kernel logged (bounded)
};

/// One disk's blkfront.
struct Blkfront {
    /// Decided once, at the frontend's own connect (its parameter && the backend's key then),
    /// and kept across backend rebinds.
    bool persistent = false;
    /// The disk stopped for good (a grant left mapped, or the backend closed under it).
    bool disabled = false;
    /// A running blkfront that drives its frontend through the states (a guest created
    /// during the simulation); the built-in world's frontends start Connected.
    bool live = false;
};

/// Something blkfront does after the guest's reaction time.
enum class FrontendStep { none, init, connect, close };

class FrontendModel {
  public:
    // --- guests
    void add_guest(uint32_t domid, const std::string& name);
    bool has_guest(uint32_t domid) const { return guests_.contains(domid); }
    bool running(uint32_t domid) const;
    /// The name of a running guest.
    std::optional<std::string> name(uint32_t domid) const;
    void log(uint32_t domid, int64_t now, std::string text);
    /// The domain is gone: its guest and every blkfront it had.
    void destroy(uint32_t domid);
    /// The guest's disks as blkfront sees them (devids given by the bus) and its console.
    GuestView view(uint32_t domid, const std::vector<uint32_t>& devids) const;
    std::vector<uint32_t> domids() const;

    // --- blkfront, per disk (devices named as on the bus: vbd-D-N)
    Blkfront& blkfront(const std::string& dev) { return blkfronts_[dev]; }
    const Blkfront* find(const std::string& dev) const;
    void forget(const std::string& dev) { blkfronts_.erase(dev); }

    /// The backend wrote InitWait: a live frontend still Initialising will publish its rings.
    FrontendStep backend_initwait(const XenstoreModel& xs, const std::string& dev, const std::string& fe) const;
    /// The backend wrote Closing (xenbus_dev_fatal): blkfront_closing marks a connected disk
    /// dead and closes its end.
    FrontendStep backend_closing(XenstoreModel& xs, VbdId id, const std::string& fe, int64_t now);
    /// The backend wrote Connected: a frontend at Initialised runs blkfront_connect; a
    /// connected one only re-reads the size, and one that disabled its disk trips a BUG.
    FrontendStep backend_connected(const XenstoreModel& xs, VbdId id, const std::string& fe, const std::string& be,
                                   int64_t now);
    /// blkfront_connect: the one moment it decides about persistent grants.
    void connect(XenstoreModel& xs, const std::string& dev, const std::string& fe, const std::string& be);
    /// The frontend closes its end (Closing, then Closed).
    void close(XenstoreModel& xs, const std::string& fe);
    /// blkif_completion met a grant the backend kept mapped: the disk stops for good.
    void grant_left_mapped(VbdId id, int64_t now, uint32_t gref);

    void to_json(nlohmann::json& j) const; ///< the guests (blkfronts are a text section)
    void guests_from_json(const nlohmann::json& j); ///< throws nlohmann::json::exception
    std::string blkfronts_section() const;
    [[nodiscard]] bool load_blkfronts(std::string_view text);

  private:
    std::map<uint32_t, Guest> guests_;
    std::map<std::string, Blkfront> blkfronts_;
};

} // namespace vbd::sim
