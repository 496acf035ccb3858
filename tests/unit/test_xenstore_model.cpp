// The simulated xenstored: nodes loaded as indexed text plus an overlay of changes must
// behave as one tree, and survive save and load.

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "vbdctl/types.hpp"
#include "xenstore_model.hpp"

namespace {

using vbd::sim::XenstoreModel;

// A model loaded from a nodes section (and an optional log section), as World::load does.
vbd::Result<XenstoreModel> from_text(const std::string& nodes, const std::string& log = "", uint64_t seq = 0) {
    std::string file = "HEAD\n" + nodes + log;
    return XenstoreModel::load(vbd::sim::FileBytes(file), 5, nodes.size(), 5 + nodes.size(), log.size(), seq);
}

std::string saved(const XenstoreModel& m) {
    std::string scratch, out;
    for (auto p : m.nodes_section(scratch)) out += p;
    return out;
}

const std::string tree = "/a\t\n"
                         "/a/b\t1\n"
                         "/a/b/c\tdeep\n"
                         "/a/d\ttwo\\tfields\n"
                         "/e\t\n";

} // namespace

TEST_CASE("loaded nodes read, list and exist as a tree") {
    auto m = from_text(tree);
    REQUIRE(m);
    CHECK(m->read("/a/b") == "1");
    CHECK(m->read("/a/d") == "two\tfields");
    CHECK_FALSE(m->read("/a/x"));
    CHECK(m->exists("/a/b/c"));
    CHECK(m->directory("/a") == std::vector<std::string>{"b", "d"});
    CHECK(m->directory("/") == std::vector<std::string>{"a", "e"});
    CHECK_FALSE(m->directory("/nope"));
}

TEST_CASE("changes over loaded nodes: writes, parents, removal of a mixed subtree") {
    auto m = from_text(tree);
    REQUIRE(m);
    m->write("/a/b", "2");
    m->write("/a/new/leaf", "x\ny\\z");
    CHECK(m->read("/a/b") == "2");
    CHECK(m->read("/a/new") == ""); // a parent created empty, as xenstored does
    CHECK(m->directory("/a") == std::vector<std::string>{"b", "d", "new"});
    m->remove("/a/b"); // a loaded node, its loaded child
    m->remove("/a/new"); // a written node and its written child
    CHECK_FALSE(m->exists("/a/b/c"));
    CHECK_FALSE(m->exists("/a/new/leaf"));
    CHECK(m->directory("/a") == std::vector<std::string>{"d"});
    m->write("/a/b/c", "back");
    CHECK(m->read("/a/b") == "");
    CHECK(m->directory("/a/b") == std::vector<std::string>{"c"});
    CHECK(m->seq() == 5);
}

TEST_CASE("save then load gives the same tree, escapes and all") {
    auto m = from_text(tree);
    REQUIRE(m);
    m->write("/a/new/leaf", "x\ny\\z\t");
    m->remove("/a/b");
    m->write("/0first", "sorted before /a");
    std::string text = saved(*m);
    auto again = from_text(text);
    REQUIRE(again);
    CHECK(again->read("/a/new/leaf") == "x\ny\\z\t");
    CHECK(again->read("/a/d") == "two\tfields");
    CHECK_FALSE(again->exists("/a/b"));
    CHECK_FALSE(again->exists("/a/b/c"));
    CHECK(again->directory("/") == std::vector<std::string>{"0first", "a", "e"});
    CHECK(saved(*again) == text); // nothing changed: the loaded lines, as they are
}

TEST_CASE("a damaged nodes section is refused, never half-read") {
    for (std::string bad : std::vector<std::string>{"/b\t1\n/a\t2\n", // out of order
                            "/a\t1\n/a\t2\n",       // twice
                            "/a 1\n",               // no tab
                            "/a\t1",                // no final newline
                            "/a\tend\\\n",          // a dangling escape
                            "/a b\t1\n",            // not a xenstore path
                            "/a\t1\t2\n",          // a raw tab in the value
                            "/a/b\t1\n/a\t2\n",     // a key before the longer one it prefixes
                            "/a\tx\\\t\n",          // an escaped raw tab
                            "/a\tx\\\n/b\t1\n",     // a dangling escape mid-section
                            "a\t1\n",               // not absolute
                            "\t1\n",                // no key
                            "/a/\t1\n",             // a trailing slash
                            "/local/domain/1/backend/x\t1\n/local/domain/0/backend/x\t2\n", // out of order in a later word
                            "/" + std::string(3072, 'x') + "\t1\n"}) { // too long
        CAPTURE(bad);
        auto m = from_text(bad);
        REQUIRE_FALSE(m);
        CHECK(m.error().code == vbd::Errc::bad_value);
    }
}

TEST_CASE("the change log is bounded and says when a watcher must rescan") {
    auto m = from_text("", "7\t/a\n8\t/b\n", 8);
    REQUIRE(m);
    auto since = m->changes_since(7);
    REQUIRE(since.size() == 1);
    CHECK(since[0].second == "/b");
    for (int i = 0; i < 5000; ++i) m->write("/n", std::to_string(i));
    auto behind = m->changes_since(0);
    CHECK(behind.front() == std::pair<uint64_t, std::string>{0, "/"});
    CHECK(behind.size() == 4097);
    CHECK(behind.back().first == m->seq());
}

TEST_CASE("paths xenstored refuses") {
    for (std::string p : std::vector<std::string>{"", "a", "/a/", "//a", "/a b", "/a\tb", "/a\\b", "/" + std::string(3072, 'x')})
        CHECK_FALSE(vbd::valid_xenstore_path(p));
    for (const char* p : {"/", "/local/domain/0/backend/vbd/1/51712", "/a-b_c@d"}) CHECK(vbd::valid_xenstore_path(p));
}

TEST_CASE("a path checked past a known prefix is still checked where the prefix ends") {
    // "/a/" is a prefix of the valid "/a/b": a "//" or bad character just after it is caught.
    CHECK_FALSE(vbd::valid_xenstore_path("/a//c", 3));
    CHECK_FALSE(vbd::valid_xenstore_path("/a/ c", 3));
    CHECK_FALSE(vbd::valid_xenstore_path("/a/c/", 3));
    CHECK_FALSE(vbd::valid_xenstore_path("/a/" + std::string(3070, 'x'), 3));
    CHECK(vbd::valid_xenstore_path("/a/c", 3));
    CHECK(vbd::valid_xenstore_path("/a/c", 99));
}

TEST_CASE("a damaged key after a valid one with the same prefix is refused at load") {
    CHECK(from_text("/a\t1\n/a/b\t2\n"));
    CHECK_FALSE(from_text("/a\t1\n/a//b\t2\n"));
    CHECK_FALSE(from_text("/a\t1\n/a/b c\t2\n"));
    CHECK_FALSE(from_text("/a/b\t1\n/a/b/\t2\n"));
    CHECK_FALSE(from_text("/a\t1\n/a/" + std::string(3070, 'x') + "\t2\n"));
    CHECK(from_text("/\t\n/a\tx\\\\y\\tz\n/a/" + std::string(3069, 'x') + "\t2\n"));
}

TEST_CASE("keys that part inside a word of their shared prefix are told apart") {
    // Keys are compared eight bytes at a time: these differ in the middle of the second word.
    auto m = from_text("/local/domain/0/backend/a\t0\n/local/domain/1/backend/a\t1\n/local/domain/2/backend/a\t2\n");
    REQUIRE(m);
    for (char d : {'0', '1', '2'}) CHECK(m->read(std::string("/local/domain/") + d + "/backend/a") == std::string(1, d));
    CHECK_FALSE(m->read("/local/domain/3/backend/a"));
    CHECK_FALSE(m->read("/local/domain/1/backend/b"));
}

TEST_CASE("lookups find every node of a long section, between and past its marks") {
    // Keys /k/000 ... /k/299 (every other number), many search marks apart.
    std::string nodes = "/k\t\n";
    for (int i = 0; i < 600; i += 2) {
        char key[16];
        std::snprintf(key, sizeof key, "/k/%03d", i);
        nodes += std::string(key) + "\tv" + std::to_string(i) + "\n";
    }
    auto m = from_text(nodes);
    REQUIRE(m);
    for (int i = 0; i < 600; ++i) {
        char key[16];
        std::snprintf(key, sizeof key, "/k/%03d", i);
        if (i % 2) CHECK_FALSE(m->read(key));
        else CHECK(m->read(key) == "v" + std::to_string(i));
    }
    CHECK_FALSE(m->read("/a"));
    CHECK_FALSE(m->read("/z"));
    CHECK(m->directory("/k")->size() == 300);
    m->remove("/k/100");
    m->write("/k/101", "new");
    CHECK_FALSE(m->read("/k/100"));
    CHECK(m->read("/k/101") == "new");
    CHECK(m->directory("/k")->size() == 300);
}

TEST_CASE("read_many finds what read finds, in the order asked, over loaded and changed nodes") {
    // Keys /k/000 ... /k/299 and a far-away /z/...: some asked for keys are many lines apart,
    // past where the walk from the last one gives up and searches again.
    std::string nodes = "/k\t\n";
    for (int i = 0; i < 300; ++i) {
        char key[16];
        std::snprintf(key, sizeof key, "/k/%03d", i);
        nodes += std::string(key) + "\tv" + std::to_string(i) + "\n";
    }
    nodes += "/z\t\n/z/a\tx\\ty\n";
    auto m = from_text(nodes);
    REQUIRE(m);
    m->write("/k/005", "changed");
    m->remove("/k/007");
    m->write("/k/0055", "added");
    std::vector<std::string_view> keys = {"299", "005", "000", "007", "0055", "006", "x", "150", "001", "030"};
    auto many = m->read_many("/k", keys);
    REQUIRE(many.size() == keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
        CAPTURE(keys[i]);
        CHECK(many[i] == m->read("/k/" + std::string(keys[i])));
    }
    CHECK(many[1] == "changed");
    CHECK_FALSE(many[3]);
    CHECK(many[4] == "added");
    CHECK(many[5] == "v6");
    std::vector<std::string_view> z = {"a", "b"};
    auto zs = m->read_many("/z", z);
    CHECK(zs[0] == "x\ty");
    CHECK_FALSE(zs[1]);
    CHECK(m->read_many("/none", z) == std::vector<std::optional<std::string>>(2));
}
