// Kernel fixes: reading the upstream version behind Debian's release strings, and which
// fixes a version predates.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "vbdctl/kernel_fixes.hpp"

namespace {

std::vector<std::string> missing(const char* release, const char* build = "#1 SMP") {
    auto k = vbd::upstream_version(release, build);
    REQUIRE(k);
    std::vector<std::string> ids;
    for (const auto& m : vbd::missing_fixes(*k)) ids.push_back(m.fix->id);
    return ids;
}

} // namespace

TEST_CASE("Debian's build string gives the upstream version its release hides") {
    auto k = vbd::upstream_version("6.1.0-57-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-20)");
    REQUIRE(k);
    CHECK(k->major == 6);
    CHECK(k->minor == 1);
    CHECK(k->patch == 192);
    CHECK(k->evidence.find("uname -v") != std::string::npos);
    auto r = vbd::upstream_version("5.10.0-rc3-foo", "#7 SMP");
    REQUIRE(r);
    CHECK(r->patch == 0);
    CHECK(r->rc == 3u);
    CHECK_FALSE(vbd::upstream_version("custom", "#1"));
}

TEST_CASE("which fixes a kernel predates") {
    CHECK(missing("6.1.0-57-amd64").empty());
    CHECK(missing("5.10.0") == std::vector<std::string>{"xsa-350", "xsa-371", "single-page-ring"});
    CHECK(missing("5.10.27") == std::vector<std::string>{"xsa-350", "single-page-ring"});
    CHECK(missing("4.14.213") == std::vector<std::string>{"xsa-371", "single-page-ring"});
    CHECK(missing("5.4.119") == std::vector<std::string>{"xsa-350", "xsa-371"});
    CHECK(missing("5.12.0-rc6") == std::vector<std::string>{"single-page-ring"});
    CHECK(missing("5.12.0-rc5") == std::vector<std::string>{"xsa-371", "single-page-ring"});
    // The negotiation bug lived only in 6.0-rc1..rc3.
    CHECK(missing("6.0.0-rc2") == std::vector<std::string>{"persistent-negotiation"});
    CHECK(missing("6.0.0").empty());
    CHECK(missing("5.19.0").empty());
}
