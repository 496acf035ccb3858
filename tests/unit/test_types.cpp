// Value types: vdev names <-> devids (Xen docs/misc/vbd-interface.txt), domids, VBD
// arguments, sysfs device names and xenbus states.
//
// The expected values are computed by an independent reference written from the
// encoding table of vbd-interface.txt, not by calling the library:
//
//   1 << 28 | disk << 8 | partition      xvd, disks or partitions 16 onwards
//                                        (disks up to (1<<20)-1, partitions up to 255)
//   202 << 8 | disk << 4 | partition     xvd, disks and partitions up to 15
//   8 << 8 | disk << 4 | partition       sd, disks and partitions up to 15
//   3 << 8 | disk << 6 | partition       hd, disks 0..1, partitions 0..63
//   22 << 8 | (disk-2) << 6 | partition  hd, disks 2..3, partitions 0..63
//   2 << 28 onwards                      reserved

#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vbdctl/types.hpp"

using vbd::Errc;

namespace {

constexpr uint32_t ext = 1u << 28;
constexpr uint32_t max_ext_disk = (1u << 20) - 1;

// Disk letters in shortlex order (a, b, ..., z, aa, ab, ...), advanced like an odometer.
// This is deliberately a different algorithm from the library's arithmetic conversion.
void next_letters(std::string& s) {
    for (size_t i = s.size(); i-- > 0;) {
        if (s[i] != 'z') {
            ++s[i];
            return;
        }
        s[i] = 'a';
    }
    s.insert(s.begin(), 'a');
}

// Letters of one disk by counting names per length (26, 26^2, ...) then writing the offset
// in plain base 26: used only where the odometer would have to run too far.
std::string letters_of(uint32_t disk) {
    uint64_t n = disk;
    size_t len = 1;
    uint64_t block = 26;
    while (n >= block) {
        n -= block;
        block *= 26;
        ++len;
    }
    std::string s(len, 'a');
    for (size_t i = len; i-- > 0;) {
        s[i] = static_cast<char>('a' + n % 26);
        n /= 26;
    }
    return s;
}

std::string with_part(std::string base, uint32_t part) {
    return part == 0 ? base : base + std::to_string(part);
}

uint32_t ref_xvd(uint32_t disk, uint32_t part) {
    if (disk < 16 && part < 16) return (202u << 8) | (disk << 4) | part;
    return ext | (disk << 8) | part;
}

// Counts mismatches of a round trip instead of asserting millions of times, and keeps the
// first one for the failure message.
struct Mismatches {
    uint64_t count = 0;
    uint64_t checked = 0;
    std::string first;
    void add(const std::string& what) {
        if (count++ == 0) first = what;
    }
};

// vdev_to_devid(name) == devid and devid_to_vdev(devid) == name.
void check_pair(Mismatches& m, const std::string& name, uint32_t devid) {
    ++m.checked;
    auto enc = vbd::vdev_to_devid(name);
    if (!enc) {
        m.add(name + ": vdev_to_devid failed: " + enc.error().what);
        return;
    }
    if (*enc != devid) {
        m.add(name + ": vdev_to_devid gave " + std::to_string(*enc) + ", expected " +
              std::to_string(devid));
        return;
    }
    auto dec = vbd::devid_to_vdev(devid);
    if (!dec) {
        m.add(std::to_string(devid) + ": devid_to_vdev gave nullopt, expected " + name);
    } else if (*dec != name) {
        m.add(std::to_string(devid) + ": devid_to_vdev gave " + *dec + ", expected " + name);
    }
}

void xvd_disks(Mismatches& m, uint32_t first, uint32_t last) {
    std::string letters = letters_of(first);
    for (uint64_t d = first; d <= last; ++d, next_letters(letters))
        for (uint32_t p = 0; p <= 255; ++p)
            check_pair(m, with_part("xvd" + letters, p), ref_xvd(static_cast<uint32_t>(d), p));
}

} // namespace

TEST_CASE("reference letters agree with the documented examples") {
    // Guards the reference itself: a wrong reference would make every check meaningless.
    CHECK(letters_of(0) == "a");
    CHECK(letters_of(25) == "z");
    CHECK(letters_of(26) == "aa");
    CHECK(letters_of(536) == "tq"); // vbd-interface.txt: "d536p37  xvdtq37"
    std::string s = "a";
    for (uint32_t d = 0; d < 20000; ++d, next_letters(s)) REQUIRE(s == letters_of(d));
}

TEST_CASE("vdev known values") {
    struct Known {
        const char* name;
        uint32_t devid;
    };
    const Known known[] = {
        {"xvda", 51712},
        {"xvdb", 51728},
        {"xvdb3", 51731},
        {"xvdp15", (202u << 8) | (15u << 4) | 15},
        {"xvdq", 268439552}, // (1<<28)|(16<<8): first disk of the extended encoding
        {"xvda16", ext | 16},  // partition >= 16 forces the extended encoding
        {"xvdtq37", ext | (536u << 8) | 37},
        {"xvdbgqcv255", ext | (max_ext_disk << 8) | 255},
        {"hda", 768},
        {"hdb", 768 + 64},
        {"hdb63", 768 + 64 + 63},
        {"hdc", 5632},
        {"hdd1", 5632 + 64 + 1},
        {"sda", 2048},
        {"sdb", 2064},
        {"sdp15", 2048 + 255},
    };
    for (const auto& k : known) {
        CAPTURE(k.name);
        auto d = vbd::vdev_to_devid(k.name);
        REQUIRE(d.has_value());
        CHECK(*d == k.devid);
        auto n = vbd::devid_to_vdev(k.devid);
        REQUIRE(n.has_value());
        CHECK(*n == k.name);
    }
}

TEST_CASE("xvd round trip over disks 0..4095 and the top 2048 disks with partitions 0..255") {
    Mismatches m;
    xvd_disks(m, 0, 4095);
    // Around the letter-length boundaries (zz/aaa, zzz/aaaa, zzzz/aaaaa).
    xvd_disks(m, 18270, 18290);
    xvd_disks(m, 475250, 475260);
    xvd_disks(m, max_ext_disk - 2047, max_ext_disk);
    INFO("first mismatch: " << m.first);
    CHECK(m.checked == (4096ull + 21 + 11 + 2048) * 256);
    CHECK(m.count == 0);
}

TEST_CASE("sd and hd round trip over their whole ranges") {
    Mismatches m;
    std::string letters = "a";
    for (uint32_t d = 0; d < 16; ++d, next_letters(letters))
        for (uint32_t p = 0; p < 16; ++p)
            check_pair(m, with_part("sd" + letters, p), (8u << 8) | (d << 4) | p);
    letters = "a";
    for (uint32_t d = 0; d < 4; ++d, next_letters(letters))
        for (uint32_t p = 0; p < 64; ++p)
            check_pair(m, with_part("hd" + letters, p),
                       d < 2 ? (3u << 8) | (d << 6) | p : (22u << 8) | ((d - 2) << 6) | p);
    INFO("first mismatch: " << m.first);
    CHECK(m.checked == 16 * 16 + 4 * 64);
    CHECK(m.count == 0);
}

TEST_CASE("every devid of the 16-bit encodings decodes to the reference name") {
    // All 256 values under majors 202 and 8 are valid; majors 3 and 22 hold two hd disks
    // of 64 partitions each, so only their low 128 values are.
    Mismatches m;
    for (uint32_t low = 0; low < 256; ++low) {
        check_pair(m, with_part("xvd" + letters_of(low >> 4), low & 15), (202u << 8) | low);
        check_pair(m, with_part("sd" + letters_of(low >> 4), low & 15), (8u << 8) | low);
        if (low < 128) {
            check_pair(m, with_part("hd" + letters_of(low >> 6), low & 63), (3u << 8) | low);
            check_pair(m, with_part("hd" + letters_of(2 + (low >> 6)), low & 63), (22u << 8) | low);
        }
    }
    INFO("first mismatch: " << m.first);
    CHECK(m.checked == 256 * 2 + 128 * 2);
    CHECK(m.count == 0);
}

// vbd-interface.txt defines 3<<8 for disks 0..1 and 22<<8 for disks 2..3, partitions 0..63:
// the high halves of those majors decode to nothing (a fuzzer once found them as hdc/hde).
TEST_CASE("hd devids beyond two disks per major do not decode") {
    for (uint32_t major : {3u, 22u})
        for (uint32_t low = 128; low < 256; ++low) {
            uint32_t devid = (major << 8) | low;
            CAPTURE(devid);
            auto name = vbd::devid_to_vdev(devid);
            CHECK_FALSE(name.has_value());
            // Whatever it decodes to must at least encode again.
            if (name) CHECK(vbd::vdev_to_devid(*name).has_value());
        }
}

TEST_CASE("extended encoding decodes over sampled disks of the whole 20-bit range") {
    // Every 997th disk over the whole range, with a few partitions each.
    Mismatches m;
    for (uint64_t d = 16; d <= max_ext_disk; d += 997)
        for (uint32_t p : {0u, 1u, 15u, 16u, 200u, 255u}) {
            auto disk = static_cast<uint32_t>(d);
            uint32_t devid = ext | (disk << 8) | p;
            auto dec = vbd::devid_to_vdev(devid);
            ++m.checked;
            std::string want = with_part("xvd" + letters_of(disk), p);
            if (!dec || *dec != want) m.add(std::to_string(devid) + " -> " + dec.value_or("nullopt") + ", expected " + want);
        }
    INFO("first mismatch: " << m.first);
    CHECK(m.checked > 6000);
    CHECK(m.count == 0);
}

TEST_CASE("extended encoding of a small disk decodes to the same name") {
    // (1<<28)|(0<<8)|1 is an alias of xvda1; the name is the same, the devid differs.
    auto n = vbd::devid_to_vdev(ext | 1);
    REQUIRE(n.has_value());
    CHECK(*n == "xvda1");
}

TEST_CASE("reserved and deprecated devids do not decode") {
    for (uint32_t devid : {0u, 1u, 255u, 1u << 8, (7u << 8) | 1, 9u << 8, 201u << 8, 203u << 8,
                           21u << 8, 23u << 8, 0xFFFFu, 0x10000u, (202u << 8) + (1u << 16),
                           2u << 28, (2u << 28) | 51712, 3u << 28, 0xFFFFFFFFu}) {
        CAPTURE(devid);
        CHECK_FALSE(vbd::devid_to_vdev(devid).has_value());
    }
}

TEST_CASE("invalid vdev names are rejected with invalid_argument") {
    const char* bad[] = {
        "",         "xvd",       "xvda0",        "xvda01",     "xvdA",      "xvda-1",
        "sdq",      "hde",       "hda64",        "xvda256",    "../../x",   "vbd-1-x",
        "nvme0n1",  "xvdaaaaaa", "xvdzzzzzzzzz", "xvdbgqcw",   "xvdzzzzz",  "sda16",
        "hdc64",    "xvda1a",    "xvda 1",       " xvda",      "xvda\n",    "XVDA",
        "xvd1",     "hd",        "sd",           "xvda+1",     "xvda99999999999999999999",
        "xvda4294967297",
    };
    for (const char* name : bad) {
        CAPTURE(std::string(name));
        auto r = vbd::vdev_to_devid(name);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == Errc::invalid_argument);
    }
    // An embedded NUL must not cut the name short.
    auto r = vbd::vdev_to_devid(std::string_view("xvda\0", 5));
    CHECK_FALSE(r.has_value());
}

TEST_CASE("parse_domid bounds") {
    CHECK(vbd::parse_domid("0") == 0u);
    CHECK(vbd::parse_domid("1") == 1u);
    CHECK(vbd::parse_domid("32751") == 32751u);
    CHECK(vbd::max_domid == 32751u);
    for (const char* bad : {"32752", "-1", "1x", "", " 1", "1 ", "99999", "+1", "0x10",
                            "18446744073709551616", "4294967297"}) {
        CAPTURE(std::string(bad));
        auto r = vbd::parse_domid(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == Errc::invalid_argument);
    }
}

TEST_CASE("parse_uint") {
    CHECK(vbd::parse_uint("0") == 0u);
    CHECK(vbd::parse_uint("18446744073709551615") == UINT64_MAX);
    CHECK(vbd::parse_uint("255", 255) == 255u);
    for (const char* bad : {"", "256", "-0", "+5", " 5", "5 ", "5\n", "0x5", "18446744073709551616"}) {
        CAPTURE(std::string(bad));
        auto r = vbd::parse_uint(bad, 255);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == Errc::bad_value);
    }
}

TEST_CASE("parse_vbd forms") {
    SUBCASE("devid number") {
        auto r = vbd::parse_vbd(3, "51712");
        REQUIRE(r.has_value());
        CHECK(r->domid == 3u);
        CHECK(r->devid == 51712u);
        auto top = vbd::parse_vbd(3, std::to_string((2u << 28) - 1));
        REQUIRE(top.has_value());
        CHECK(top->devid == (2u << 28) - 1);
    }
    SUBCASE("vdev name") {
        auto r = vbd::parse_vbd(7, "xvdb3");
        REQUIRE(r.has_value());
        CHECK(*r == vbd::VbdId{7, 51731});
        auto q = vbd::parse_vbd(7, "xvdq");
        REQUIRE(q.has_value());
        CHECK(q->devid == ext + (16u << 8));
    }
    SUBCASE("vbd-D-N with matching domid") {
        auto r = vbd::parse_vbd(1, "vbd-1-51728");
        REQUIRE(r.has_value());
        CHECK(*r == vbd::VbdId{1, 51728});
    }
    SUBCASE("vbd-D-N with mismatching domid") {
        auto r = vbd::parse_vbd(2, "vbd-1-51728");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == Errc::invalid_argument);
    }
    SUBCASE("rejects") {
        for (const char* bad : {"", "0", "536870912", "4294967296", "12ab", "vbd-1-x", "vbd-1",
                                "../../x", "nvme0n1", "xvda0", "-5"}) {
            CAPTURE(std::string(bad));
            auto r = vbd::parse_vbd(1, bad);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.error().code == Errc::invalid_argument);
        }
    }
}

TEST_CASE("parse_sysfs_name and VbdId::sysfs_name") {
    auto r = vbd::parse_sysfs_name("vbd-1-51728");
    REQUIRE(r.has_value());
    CHECK(*r == vbd::VbdId{1, 51728});
    CHECK(r->sysfs_name() == "vbd-1-51728");
    auto top = vbd::parse_sysfs_name("vbd-32751-268439552");
    REQUIRE(top.has_value());
    CHECK(*top == vbd::VbdId{32751, 268439552});
    for (uint32_t d : {0u, 5u, 32751u})
        for (uint32_t n : {51712u, 768u, ext | (max_ext_disk << 8) | 255}) {
            vbd::VbdId id{d, n};
            CHECK(vbd::parse_sysfs_name(id.sysfs_name()) == id);
        }
    for (const char* bad : {"", "vbd-", "vbd-1", "vbd-1-", "vbd--1-5", "vbd-1--5", "vif-1-0",
                            "vbd-1-51728x", "vbd-32752-1", "vbd-1-536870912", "VBD-1-2",
                            "vbd-1-2-3", "vbd- 1-2", "xvda"}) {
        CAPTURE(std::string(bad));
        auto e = vbd::parse_sysfs_name(bad);
        REQUIRE_FALSE(e.has_value());
        CHECK(e.error().code == Errc::invalid_argument);
    }
}

TEST_CASE("xenbus state numbers and names both ways") {
    const std::vector<std::string> names = {"Unknown", "Initialising", "InitWait",
                                            "Initialised", "Connected", "Closing",
                                            "Closed", "Reconfiguring", "Reconfigured"};
    for (unsigned i = 0; i < names.size(); ++i) {
        CAPTURE(i);
        auto s = vbd::parse_xenbus_state(std::to_string(i));
        REQUIRE(s.has_value());
        CHECK(static_cast<unsigned>(*s) == i);
        CHECK(vbd::to_string(*s) == names[i]);
        // sysfs writes the name followed by a newline.
        auto n = vbd::parse_xenbus_state_name(names[i] + "\n");
        REQUIRE(n.has_value());
        CHECK(*n == *s);
        auto bare = vbd::parse_xenbus_state_name(names[i]);
        REQUIRE(bare.has_value());
        CHECK(*bare == *s);
    }
    CHECK(vbd::parse_xenbus_state("4") == vbd::XenbusState::Connected);
    for (const char* bad : {"9", "10", "255", "-1", "", "4x", " 4", "Connected"}) {
        CAPTURE(std::string(bad));
        auto r = vbd::parse_xenbus_state(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == vbd::Errc::bad_value);
    }
    for (const char* bad : {"", "connected", "CONNECTED", "Connect", "4", "Bogus\n"}) {
        CAPTURE(std::string(bad));
        auto r = vbd::parse_xenbus_state_name(bad);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == vbd::Errc::bad_value);
    }
    CHECK(vbd::to_string(static_cast<vbd::XenbusState>(9)) == "Invalid");
}
