#pragma once
/// Events: what happens to vbds, as one ordered stream: each end's state and blkback's error
/// node (xenstore watches), and the kernel's uevents: a vbd added to or removed from the
/// xen-backend bus, bound or unbound (an unbind writes nothing to xenstore), the xen_blkback
/// module added or removed. What `vbdctl watch` shows.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "vbdctl/ports.hpp"
#include "vbdctl/types.hpp"

namespace vbd {

struct VbdEvent {
    enum class Kind { backend_state, frontend_state, error, add, remove, bind, unbind, module_add, module_remove };
    Kind kind = Kind::backend_state;
    Millis at{0};             ///< Clock::now() when it was received
    Millis wall{0};           ///< Clock::wall_now() then
    std::optional<VbdId> vbd; ///< nullopt for the module's events
    /// Before and after, nullopt where there is nothing: a state as xenstore holds it ("4"),
    /// the error node's text, the driver (bind: value "vbd"; unbind: previous), the module's
    /// srcversion (module_add: value; module_remove: previous).
    std::optional<std::string> previous, value;
    std::optional<bool> bound; ///< for a vbd: whether a backend driver has it, just after
};
std::string_view to_string(VbdEvent::Kind k);

/// The events of every vbd this backend domain serves, of one guest's, or of one vbd.
class EventStream {
  public:
    EventStream(Host& host, std::optional<uint32_t> domid, std::optional<VbdId> only);
    /// Sets the xenstore watches, subscribes to uevents and notes every watched value as it
    /// is now (only changes are events). Returns how many xenstore paths it watches.
    Result<size_t> start();
    /// The next event, waiting until deadline (a Clock time); nullopt on timeout or when a
    /// signal interrupted the wait.
    Result<std::optional<VbdEvent>> next(Millis deadline);

  private:
    bool selected(VbdId id) const;
    Result<void> watch(const std::string& path);
    Result<void> watch_frontends(uint32_t domid);
    Result<std::optional<VbdEvent>> from_watch(const WatchEvent& w);
    Result<std::optional<VbdEvent>> from_uevent(const DeviceEvent& d);
    std::optional<bool> bound(VbdId id);
    /// The loaded xen_blkback's srcversion; nullopt when it is not loaded or has none.
    Result<std::optional<std::string>> srcversion();

    Host& host_;
    std::optional<uint32_t> domid_;
    std::optional<VbdId> only_;
    uint32_t self_ = 0;
    size_t watched_ = 0;
    std::set<uint32_t> frontend_domains_; ///< guests whose device/vbd directory is watched
    std::map<std::string, std::optional<std::string>> last_; ///< each watched node's last value
    std::optional<std::string> srcversion_; ///< the loaded xen_blkback's, for its removal
};

} // namespace vbd
