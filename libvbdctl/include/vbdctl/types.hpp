#pragma once
/// Value types parsed once at the edge: domids, vbd ids, vdev names, xenbus states.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vbdctl/error.hpp"

namespace vbd {

/// Highest domid a guest can have (DOMID_FIRST_RESERVED - 1).
inline constexpr uint32_t max_domid = 0x7FEF;

/// A vbd as the backend sees it: the frontend's domain and the device id in xenstore.
struct VbdId {
    uint32_t domid = 0;
    uint32_t devid = 0;

    /// The xen-backend bus device name, "vbd-D-N".
    std::string sysfs_name() const;
    auto operator<=>(const VbdId&) const = default;
};

/// Parses a domid (decimal, 0..32751). Anything else is Errc::invalid_argument.
Result<uint32_t> parse_domid(std::string_view text);

/// Encodes a Linux/Xen vdev name (xvda, xvdb3, xvdaa, hda, sdb2) as a devid, following
/// Xen's docs/misc/vbd-interface.txt. Errc::invalid_argument for anything else.
Result<uint32_t> vdev_to_devid(std::string_view name);

/// Decodes a devid into its vdev name; nullopt for reserved or deprecated encodings.
std::optional<std::string> devid_to_vdev(uint32_t devid);

/// Parses what a user gives as VBD for guest `domid`: a devid number, a vdev name, or the
/// sysfs form "vbd-D-N" (whose D must equal domid).
Result<VbdId> parse_vbd(uint32_t domid, std::string_view text);

/// Parses the sysfs device name "vbd-D-N".
Result<VbdId> parse_sysfs_name(std::string_view name);

/// Parses an unsigned decimal number as xenstore and sysfs write them (no sign, no spaces,
/// no leading garbage), checking it against max. Errc::bad_value on failure.
Result<uint64_t> parse_uint(std::string_view text, uint64_t max = UINT64_MAX);

/// xenstored's rule for an absolute node path: "/" or '/'-separated non-empty components of
/// [A-Za-z0-9-_@], at most 3072 characters (XENSTORE_ABS_PATH_MAX); it answers EINVAL otherwise.
/// known: the length of a prefix already checked, as part of a valid path that shares it
/// (a sorted listing checks each path's new part only).
bool valid_xenstore_path(std::string_view path, size_t known = 0);

/// Xenbus states (xen/include/public/io/xenbus.h).
enum class XenbusState : uint8_t {
    Unknown = 0,
    Initialising = 1,
    InitWait = 2,
    Initialised = 3,
    Connected = 4,
    Closing = 5,
    Closed = 6,
    Reconfiguring = 7,
    Reconfigured = 8,
};

/// "Connected" for XenbusState::Connected.
std::string_view to_string(XenbusState s);

/// Parses the xenstore `state` value ("4").
Result<XenbusState> parse_xenbus_state(std::string_view text);

/// Parses the sysfs `state` attribute, a state name ("Connected").
Result<XenbusState> parse_xenbus_state_name(std::string_view text);

} // namespace vbd
