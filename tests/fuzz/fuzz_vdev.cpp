// libFuzzer target: vdev names, devids, VBD arguments and sysfs device names.
//
// Properties (a violation aborts, which libFuzzer reports with the input):
// - vdev_to_devid(s) succeeds => devid_to_vdev(devid) == s (names are canonical), and the
//   devid is one of the documented encodings.
// - devid_to_vdev(n) == name => vdev_to_devid(name) succeeds and maps back to the same name
//   (the 1<<28 encoding may alias a small disk, so the devid itself may differ).
// - parse_vbd / parse_sysfs_name results round-trip through VbdId::sysfs_name().
// - every failure is Errc::invalid_argument.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "vbdctl/types.hpp"

namespace {

[[noreturn]] void violated(const char* what, std::string_view input) {
    std::fprintf(stderr, "property violated: %s (input '%.*s')\n", what,
                 static_cast<int>(input.size()), input.data());
    std::abort();
}

bool documented_encoding(uint32_t devid) {
    if (devid & (1u << 28)) return devid < (2u << 28);
    switch (devid >> 8) {
    case 202: case 8: return true;
    case 3: case 22: return (devid & 0xFF) < 128; // two hd disks of 64 minors per major
    default: return false;
    }
}

// Devids under majors 3 and 22 with a minor >= 128 are undocumented and must not decode.
bool undocumented_hd(uint32_t devid) {
    return (devid & (1u << 28)) == 0 && ((devid >> 8) == 3 || (devid >> 8) == 22) &&
           (devid & 0xFF) >= 128;
}

void check_devid(uint32_t devid, std::string_view input) {
    if (undocumented_hd(devid)) {
        if (vbd::devid_to_vdev(devid)) violated("an undocumented hd devid decodes", input);
        return;
    }
    auto name = vbd::devid_to_vdev(devid);
    if (!name) {
        if (documented_encoding(devid)) violated("a documented devid does not decode", input);
        return;
    }
    auto again = vbd::vdev_to_devid(*name);
    if (!again) violated("a decoded name does not encode", input);
    if (vbd::devid_to_vdev(*again) != name) violated("a decoded name does not round-trip", input);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view s(reinterpret_cast<const char*>(data), size);

    if (auto d = vbd::vdev_to_devid(s)) {
        if (!documented_encoding(*d)) violated("vdev_to_devid gave an undocumented devid", s);
        auto back = vbd::devid_to_vdev(*d);
        if (!back || *back != s) violated("vdev_to_devid/devid_to_vdev round trip", s);
    } else if (d.error().code != vbd::Errc::invalid_argument) {
        violated("vdev_to_devid failed with another code than invalid_argument", s);
    }

    // The input's first four bytes as a devid, and a few derived values.
    uint32_t devid = 0;
    std::memcpy(&devid, data, size < 4 ? size : 4);
    check_devid(devid, s);
    check_devid(devid & 0x1FFFFFFFu, s);
    check_devid((devid & 0xFFFFu), s);

    uint32_t domid = size > 0 ? data[0] % 8 : 1;
    if (auto v = vbd::parse_vbd(domid, s)) {
        if (v->domid != domid) violated("parse_vbd changed the domid", s);
        // The number form rejects devid 0 (the vbd-D-N form accepts "vbd-D-0": reported as
        // an inconsistency, not asserted here).
        if (v->devid == 0 && s[0] >= '0' && s[0] <= '9') violated("parse_vbd accepted devid 0", s);
        auto again = vbd::parse_sysfs_name(v->sysfs_name());
        if (!again || *again != *v) violated("parse_vbd result does not round-trip", s);
    } else if (v.error().code != vbd::Errc::invalid_argument) {
        violated("parse_vbd failed with another code than invalid_argument", s);
    }

    if (auto id = vbd::parse_sysfs_name(s)) {
        if (id->domid > vbd::max_domid) violated("parse_sysfs_name accepted a reserved domid", s);
        auto again = vbd::parse_sysfs_name(id->sysfs_name());
        if (!again || *again != *id) violated("parse_sysfs_name does not round-trip", s);
    }

    if (auto d = vbd::parse_domid(s)) {
        if (*d > vbd::max_domid) violated("parse_domid out of range", s);
        if (std::to_string(*d).size() > s.size()) violated("parse_domid invented digits", s);
    } else if (d.error().code != vbd::Errc::invalid_argument) {
        violated("parse_domid failed with another code than invalid_argument", s);
    }
    return 0;
}
