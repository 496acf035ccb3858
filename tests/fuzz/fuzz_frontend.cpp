// libFuzzer target: parse_frontend_rings over a frontend directory built from the input,
// plus the value parsers it relies on (parse_uint, parse_protocol, xenbus states).
//
// Input format: lines "key=value" (the first '=' splits; later lines win). Every value is
// also fed to the value parsers.
//
// Properties: no crash or sanitizer report; a successful parse is self-consistent
// (1..256 queues, each with exactly 1 << page_order refs read from keys that exist, order
// <= 4, a power-of-two ring size); every failure is Errc::bad_value.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "vbdctl/inventory.hpp"
#include "vbdctl/ring.hpp"
#include "vbdctl/types.hpp"

namespace {

[[noreturn]] void violated(const char* what) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
}

void check_values(std::string_view v) {
    if (auto n = vbd::parse_uint(v)) {
        if (v.empty() || v.size() > 20) violated("parse_uint accepted an impossible length");
        for (char c : v)
            if (c < '0' || c > '9') violated("parse_uint accepted a non-digit");
    } else if (n.error().code != vbd::Errc::bad_value) {
        violated("parse_uint failed with another code than bad_value");
    }
    if (auto n = vbd::parse_uint(v, 255); n && *n > 255) violated("parse_uint ignored max");

    if (auto p = vbd::parse_protocol(v)) {
        if (vbd::to_string(*p) != v) violated("parse_protocol accepted a non-canonical name");
    } else if (p.error().code != vbd::Errc::bad_value) {
        violated("parse_protocol failed with another code than bad_value");
    }

    if (auto st = vbd::parse_xenbus_state(v)) {
        if (static_cast<unsigned>(*st) > 8) violated("parse_xenbus_state out of range");
        if (vbd::to_string(*st) == "Invalid") violated("parse_xenbus_state gave an unnamed state");
    } else if (st.error().code != vbd::Errc::bad_value) {
        violated("parse_xenbus_state failed with another code than bad_value");
    }
    if (auto st = vbd::parse_xenbus_state_name(v)) {
        auto again = vbd::parse_xenbus_state_name(vbd::to_string(*st));
        if (!again || *again != *st) violated("parse_xenbus_state_name does not round-trip");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::map<std::string, std::string> nodes;
    while (!in.empty()) {
        auto nl = in.find('\n');
        std::string_view line = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
        auto eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        nodes[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
        check_values(line.substr(eq + 1));
    }

    size_t lookups = 0;
    vbd::NodeLookup lookup = [&](const std::string& rel) -> std::optional<std::string> {
        ++lookups;
        auto it = nodes.find(rel);
        if (it == nodes.end()) return std::nullopt;
        return it->second;
    };
    auto r = vbd::parse_frontend_rings(lookup);
    if (!r) {
        if (r.error().code != vbd::Errc::bad_value) violated("failure with another code than bad_value");
        if (r.error().what.empty()) violated("failure without a message");
        return 0;
    }
    const auto& g = r->geometry;
    if (g.page_order > vbd::max_ring_page_order) violated("page order above the maximum");
    uint32_t sz = g.size();
    if (!std::has_single_bit(sz) || sz < 32 || sz > 512) violated("ring size out of range");
    if (r->queues.empty() || r->queues.size() > 256) violated("queue count out of range");
    if (r->queues.size() > 1 && !nodes.contains("multi-queue-num-queues"))
        violated("several queues without multi-queue-num-queues");
    for (size_t q = 0; q < r->queues.size(); ++q) {
        const auto& refs = r->queues[q].ring_refs;
        if (refs.size() != g.pages()) violated("ring-ref count differs from 1 << page_order");
        std::string dir = r->queues.size() > 1 ? "queue-" + std::to_string(q) + "/" : "";
        bool by_order = nodes.contains("ring-page-order");
        for (size_t i = 0; i < refs.size(); ++i) {
            std::string key = dir + (by_order ? "ring-ref" + std::to_string(i) : "ring-ref");
            auto it = nodes.find(key);
            if (it == nodes.end()) violated("a ring ref came from a key that does not exist");
            // Leading zeros are accepted, as blkback's "%u" scanf accepts them.
            auto v = vbd::parse_uint(it->second, UINT32_MAX);
            if (!v || *v != refs[i]) violated("a ring ref differs from its key");
        }
    }
    if (lookups > 5 + 256 * 20) violated("too many lookups");
    return 0;
}
