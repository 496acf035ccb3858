#pragma once
// Xenstore paths of one vbd, built only from parsed ids (never from raw input).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "vbdctl/types.hpp"

namespace vbd::paths {

/// What valid_xenstore_path accepts: characters, besides "/" rules, and the length.
inline constexpr std::array<bool, 256> chars = [] {
    std::array<bool, 256> t{};
    for (char c : std::string_view("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/_@"))
        t[static_cast<unsigned char>(c)] = true;
    return t;
}();
inline bool path_char(char c) { return chars[static_cast<unsigned char>(c)]; }
inline constexpr size_t max_len = 3072;

inline std::string domain(uint32_t domid) { return "/local/domain/" + std::to_string(domid); }
inline std::string backend_vbd_root(uint32_t backend) { return domain(backend) + "/backend/vbd"; }
inline std::string backend(uint32_t backend, VbdId id) {
    return backend_vbd_root(backend) + "/" + std::to_string(id.domid) + "/" +
           std::to_string(id.devid);
}
inline std::string frontend(VbdId id) {
    return domain(id.domid) + "/device/vbd/" + std::to_string(id.devid);
}
/// xenbus_dev_error/xenbus_dev_fatal's tree of every vbd this backend serves.
inline std::string error_root(uint32_t backend) { return domain(backend) + "/error/backend/vbd"; }
/// Where xenbus_dev_fatal() leaves its message for this device.
inline std::string error_node(uint32_t backend, VbdId id) {
    return error_root(backend) + "/" + std::to_string(id.domid) + "/" + std::to_string(id.devid) + "/error";
}

} // namespace vbd::paths
