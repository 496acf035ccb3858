// The Prometheus text exposition (metrics): each family printed once, with its samples
// together whatever order they came in; label values and HELP escaped as the format says;
// values as integers where they are; and the textfile replaced whole or not at all.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "prometheus.hpp"
#include "temp_dir.hpp"

using vbdcli::Exposition;

namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> entries(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
        out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_CASE("families print once, with their samples together, in the order declared") {
    Exposition e;
    auto a = e.family("x_a", Exposition::Type::gauge, "A");
    auto b = e.family("x_b_total", Exposition::Type::counter, "B");
    auto c = e.family("x_c", Exposition::Type::gauge, "C, no samples");
    e.add(a, {{"k", "1"}}, 1);
    e.add(b, {}, 7);
    e.add(a, {{"k", "2"}, {"q", "0"}}, 0);
    (void)c;
    CHECK(e.samples() == 3);
    CHECK(e.text() == "# HELP x_a A\n# TYPE x_a gauge\nx_a{k=\"1\"} 1\nx_a{k=\"2\",q=\"0\"} 0\n"
                      "# HELP x_b_total B\n# TYPE x_b_total counter\nx_b_total 7\n"
                      "# HELP x_c C, no samples\n# TYPE x_c gauge\n");
    auto j = e.json();
    REQUIRE(j.size() == 3);
    CHECK(j[0]["name"] == "x_a");
    CHECK(j[0]["samples"][1]["labels"]["q"] == "0");
    CHECK(j[0]["samples"][1]["value"].is_number_integer());
    CHECK(j[1]["type"] == "counter");
    CHECK(j[2]["samples"].empty());
}

TEST_CASE("label values and HELP are escaped as the format says") {
    CHECK(vbdcli::escape_label_value("we\"b\\01\nx") == "we\\\"b\\\\01\\nx");
    CHECK(vbdcli::escape_label_value("gäst") == "gäst"); // UTF-8 passes as it is
    CHECK(vbdcli::escape_help("a \"b\" \\ c\nd") == "a \"b\" \\\\ c\\nd");
    Exposition e;
    auto f = e.family("x", Exposition::Type::gauge, "line one\nline two");
    e.add(f, {{"guest", "a\"b"}}, 1);
    CHECK(e.text() == "# HELP x line one\\nline two\n# TYPE x gauge\nx{guest=\"a\\\"b\"} 1\n");
}

TEST_CASE("values: integers as integers, fractions exact and short, special values spelled out") {
    CHECK(vbdcli::format_value(0) == "0");
    CHECK(vbdcli::format_value(4294967295.0) == "4294967295");
    CHECK(vbdcli::format_value(-3) == "-3");
    CHECK(vbdcli::format_value(0.4) == "0.4");
    CHECK(vbdcli::format_value(0.125) == "0.125");
    CHECK(vbdcli::format_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(vbdcli::format_value(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(vbdcli::format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
}

TEST_CASE("replace_file puts the whole text in place, readable by others, and nothing else") {
    TempDir d;
    auto p = vbdcli::replace_file(d.path.string(), "vbdctl.prom", "first\n");
    REQUIRE(p);
    CHECK(*p == (d.path / "vbdctl.prom").string());
    CHECK(read(*p) == "first\n");
    struct stat st {};
    REQUIRE(::stat(p->c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);
    // A second write replaces the file whole; a trailing slash on DIR is no second slash.
    auto again = vbdcli::replace_file(d.path.string() + "/", "vbdctl.prom", "second\n");
    REQUIRE(again);
    CHECK(*again == *p);
    CHECK(read(*p) == "second\n");
    CHECK(entries(d.path) == std::vector<std::string>{"vbdctl.prom"});
}

TEST_CASE("replace_file that cannot finish leaves the directory as it was") {
    TempDir d;
    fs::create_directory(d.path / "vbdctl.prom"); // the rename over it fails (EISDIR)
    auto p = vbdcli::replace_file(d.path.string(), "vbdctl.prom", "text\n");
    REQUIRE_FALSE(p);
    CHECK(p.error().code == vbd::Errc::io);
    CHECK(p.error().object == (d.path / "vbdctl.prom").string());
    CHECK(entries(d.path) == std::vector<std::string>{"vbdctl.prom"});
    CHECK(fs::is_directory(d.path / "vbdctl.prom"));

    auto missing = vbdcli::replace_file((d.path / "nope").string(), "vbdctl.prom", "text\n");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == vbd::Errc::io);
    CHECK(missing.error().object == (d.path / "nope").string());
}
