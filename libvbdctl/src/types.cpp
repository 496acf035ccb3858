#include "vbdctl/types.hpp"
#include "try.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "paths.hpp"

namespace vbd {

std::string VbdId::sysfs_name() const {
    return "vbd-" + std::to_string(domid) + "-" + std::to_string(devid);
}

bool valid_xenstore_path(std::string_view path, size_t known) {
    if (path.empty() || path[0] != '/' || path.size() > paths::max_len) return false;
    if (path.size() == 1) return true;
    if (path.back() == '/') return false;
    // One pass from the checked prefix's end; a "//" may straddle it.
    known = std::min(known, path.size());
    char before = known ? path[known - 1] : '\0';
    for (size_t i = known; i < path.size(); before = path[i++])
        if (!paths::path_char(path[i]) || (path[i] == '/' && before == '/')) return false;
    return true;
}

Result<uint64_t> parse_uint(std::string_view text, uint64_t max) {
    if (text.empty() || text.size() > 20) return fail(Errc::bad_value, "not a number: '" + std::string(text) + "'");
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
    if (ec != std::errc{} || p != text.data() + text.size())
        return fail(Errc::bad_value, "not a number: '" + std::string(text) + "'");
    if (v > max)
        return fail(Errc::bad_value,
                    std::to_string(v) + " is out of range (at most " + std::to_string(max) + ")");
    return v;
}

Result<uint32_t> parse_domid(std::string_view text) {
    auto v = parse_uint(text, max_domid);
    if (!v)
        return fail(Errc::invalid_argument,
                    "invalid domid '" + std::string(text) + "': expected a number in 0.." +
                        std::to_string(max_domid));
    return static_cast<uint32_t>(*v);
}

namespace {

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Letters are bijective base 26: a=0, z=25, aa=26, ... (xvdtq is disk 536).
std::optional<uint32_t> letters_to_disk(std::string_view s) {
    if (s.empty() || s.size() > 5) return std::nullopt;
    uint64_t n = 0;
    for (char c : s) {
        if (!is_lower(c)) return std::nullopt;
        n = n * 26 + static_cast<uint64_t>(c - 'a' + 1);
    }
    return static_cast<uint32_t>(n - 1);
}

std::string disk_to_letters(uint32_t disk) {
    std::string out;
    uint64_t n = uint64_t{disk} + 1;
    while (n > 0) {
        n -= 1;
        out.insert(out.begin(), static_cast<char>('a' + n % 26));
        n /= 26;
    }
    return out;
}

constexpr uint32_t ext_flag = 1u << 28;

Result<uint32_t> bad_vdev(std::string_view name, std::string_view why) {
    return fail(Errc::invalid_argument,
                "invalid vdev '" + std::string(name) + "': " + std::string(why),
                {}, "use a devid, a name such as xvda, xvdb3, hda or sdb, or vbd-D-N");
}

} // namespace

Result<uint32_t> vdev_to_devid(std::string_view name) {
    std::string_view prefix;
    for (std::string_view p : {"xvd", "hd", "sd"})
        if (name.starts_with(p)) {
            prefix = p;
            break;
        }
    if (prefix.empty()) return bad_vdev(name, "unknown prefix");
    std::string_view rest = name.substr(prefix.size());
    size_t i = 0;
    while (i < rest.size() && is_lower(rest[i])) ++i;
    auto disk = letters_to_disk(rest.substr(0, i));
    if (!disk) return bad_vdev(name, "no disk letters");
    std::string_view part_text = rest.substr(i);
    uint32_t part = 0;
    if (!part_text.empty()) {
        if (part_text[0] == '0') return bad_vdev(name, "partition must not start with 0");
        for (char c : part_text)
            if (!is_digit(c)) return bad_vdev(name, "trailing characters");
        auto p = parse_uint(part_text, 255);
        if (!p) return bad_vdev(name, "partition out of range");
        part = static_cast<uint32_t>(*p);
    }
    if (prefix == "xvd") {
        if (*disk < 16 && part < 16) return (202u << 8) | (*disk << 4) | part;
        if (*disk >= (1u << 20)) return bad_vdev(name, "disk out of range");
        return ext_flag | (*disk << 8) | part;
    }
    if (prefix == "sd") {
        if (*disk >= 16 || part >= 16) return bad_vdev(name, "sd disks and partitions stop at 15");
        return (8u << 8) | (*disk << 4) | part;
    }
    if (*disk >= 4 || part >= 64) return bad_vdev(name, "hd disks stop at hdd, partitions at 63");
    if (*disk < 2) return (3u << 8) | (*disk << 6) | part;
    return (22u << 8) | ((*disk - 2) << 6) | part;
}

std::optional<std::string> devid_to_vdev(uint32_t devid) {
    auto with_part = [](std::string base, uint32_t part) {
        return part == 0 ? base : base + std::to_string(part);
    };
    if (devid & ext_flag) {
        if (devid >= (2u << 28)) return std::nullopt;
        return with_part("xvd" + disk_to_letters((devid >> 8) & 0xFFFFF), devid & 0xFF);
    }
    switch (devid >> 8) {
    case 202: return with_part("xvd" + disk_to_letters((devid >> 4) & 0xF), devid & 0xF);
    case 8: return with_part("sd" + disk_to_letters((devid >> 4) & 0xF), devid & 0xF);
    // hd majors carry two disks each (partitions 0..63): a low byte of 128+ is undocumented.
    case 3:
        if ((devid & 0xFF) >= 128) return std::nullopt;
        return with_part("hd" + disk_to_letters((devid >> 6) & 0x1), devid & 0x3F);
    case 22:
        if ((devid & 0xFF) >= 128) return std::nullopt;
        return with_part("hd" + disk_to_letters(2 + ((devid >> 6) & 0x1)), devid & 0x3F);
    default: return std::nullopt;
    }
}

Result<VbdId> parse_sysfs_name(std::string_view name) {
    auto bad = [&] {
        return fail(Errc::invalid_argument, "invalid device name '" + std::string(name) + "'", {},
                    "expected vbd-DOMID-DEVID");
    };
    if (!name.starts_with("vbd-")) return bad();
    auto rest = name.substr(4);
    auto dash = rest.find('-');
    if (dash == std::string_view::npos) return bad();
    auto d = parse_uint(rest.substr(0, dash), max_domid);
    auto n = parse_uint(rest.substr(dash + 1), (2u << 28) - 1);
    if (!d || !n) return bad();
    return VbdId{static_cast<uint32_t>(*d), static_cast<uint32_t>(*n)};
}

Result<VbdId> parse_vbd(uint32_t domid, std::string_view text) {
    if (text.empty()) return fail(Errc::invalid_argument, "empty VBD argument");
    if (is_digit(text[0])) {
        auto n = parse_uint(text, (2u << 28) - 1);
        if (!n || *n == 0)
            return fail(Errc::invalid_argument, "invalid devid '" + std::string(text) + "'", {},
                        "a devid is a positive number below 536870912");
        return VbdId{domid, static_cast<uint32_t>(*n)};
    }
    if (text.starts_with("vbd-")) {
        auto id = VBD_TRY(parse_sysfs_name(text));
        if (id.domid != domid)
            return fail(Errc::invalid_argument,
                        std::string(text) + " belongs to domain " + std::to_string(id.domid) +
                            ", not " + std::to_string(domid));
        return id;
    }
    auto devid = VBD_TRY(vdev_to_devid(text));
    return VbdId{domid, devid};
}

namespace {
constexpr std::array<std::string_view, 9> state_names = {
    "Unknown", "Initialising", "InitWait",      "Initialised", "Connected",
    "Closing", "Closed",       "Reconfiguring", "Reconfigured"};
}

std::string_view to_string(XenbusState s) {
    auto i = static_cast<size_t>(s);
    return i < state_names.size() ? state_names[i] : "Invalid";
}

Result<XenbusState> parse_xenbus_state(std::string_view text) {
    auto v = parse_uint(text, state_names.size() - 1);
    if (!v) return fail(Errc::bad_value, "invalid xenbus state '" + std::string(text) + "'");
    return static_cast<XenbusState>(*v);
}

Result<XenbusState> parse_xenbus_state_name(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    for (size_t i = 0; i < state_names.size(); ++i)
        if (state_names[i] == text) return static_cast<XenbusState>(i);
    return fail(Errc::bad_value, "invalid xenbus state name '" + std::string(text) + "'");
}

} // namespace vbd
