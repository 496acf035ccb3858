#pragma once
/// Shared-ring geometry and snapshots (xen/include/public/io/ring.h, blkif.h).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "vbdctl/error.hpp"

namespace vbd {

/// The blkif ABI a frontend speaks; it fixes the size of one ring entry.
enum class Protocol : uint8_t { x86_32, x86_64 };

/// The xenstore spelling: "x86_32-abi", "x86_64-abi".
std::string_view to_string(Protocol p);

/// Parses a frontend's `protocol` value; an absent key means the backend default
/// (x86_32 on x86), so pass nullopt for it.
Result<Protocol> parse_protocol(std::optional<std::string_view> text);

/// Bytes in one request/response union entry for the ABI (108 for x86_32, 112 for x86_64).
unsigned entry_bytes(Protocol p);

/// Largest ring-page-order the protocol allows (XENBUS_MAX_RING_GRANT_ORDER).
inline constexpr unsigned max_ring_page_order = 4;

/// Pages and ABI of one queue's ring, and the entry count that follows from them.
struct RingGeometry {
    Protocol protocol = Protocol::x86_64;
    unsigned page_order = 0; ///< pages = 1 << page_order

    unsigned pages() const { return 1u << page_order; }
    /// __RING_SIZE: entries that fit after the 64-byte header, rounded down to a power of 2.
    uint32_t size() const;
};

/// The four shared indices at the head of page 0 of a ring, as read at one moment.
struct RingSnapshot {
    uint32_t req_prod = 0;
    uint32_t req_event = 0;
    uint32_t rsp_prod = 0;
    uint32_t rsp_event = 0;

    /// Requests the frontend produced that have no response yet, wrap-safe.
    uint32_t pending() const { return req_prod - rsp_prod; }
    /// blkback's re-attach rule: (uint32_t)(req_prod - rsp_prod) <= size.
    bool consistent(uint32_t size) const { return pending() <= size; }
    bool operator==(const RingSnapshot&) const = default;
};

/// Decodes a ring header from the first 16 bytes of page 0 (little-endian, as x86 stores it).
RingSnapshot decode_ring_header(const unsigned char* page0);

} // namespace vbd
