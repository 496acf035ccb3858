// JSON written as text as it is produced (JsonText) must be exactly what print_json prints
// for the same document: list --json writes its vbds that way and show/check build them.

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "json_out.hpp"
#include "render.hpp"

using nlohmann::json;
using vbdcli::JsonDoc;
using vbdcli::JsonText;

namespace {

// The same members, into a document printed by dump and as text, `depth` levels down.
template <class F> void same_both_ways(F fill, size_t depth) {
    json doc = json::object();
    JsonDoc d(doc);
    fill(d);
    std::string expected;
    vbdcli::put_nested(expected, doc, depth);
    std::string text;
    JsonText t(text, depth);
    fill(t);
    t.end();
    CHECK(text == expected);
}

vbd::Vbd sample(int variant) {
    vbd::Vbd v;
    v.id = {7, 51712};
    v.vdev = "xvda";
    v.name = variant == 1 ? "gäst \"q\" \\ \x01\x1f\x7f\b\f\n\r\t" : "guest7";
    v.backend_path = "/local/domain/0/backend/vbd/7/51712";
    v.frontend_path = "/local/domain/7/device/vbd/51712";
    v.backend_state = vbd::XenbusState::Connected;
    if (variant != 2) v.frontend_state = vbd::XenbusState::Connected;
    v.bound = variant != 2;
    v.device_present = true;
    v.physical_device = "fd:3";
    v.mode = "w";
    if (variant == 1) v.problems = {"one", "two \"quoted\""};
    if (variant == 2) v.error_node = "2 mapping ring";
    if (variant != 2) {
        vbd::FrontendRings r;
        r.geometry.page_order = 2;
        r.queues.resize(variant == 1 ? 2 : 1);
        r.queues[0].ring_refs = {8, 9, 10, 11};
        r.queues[0].event_channel = 5;
        v.rings = r;
        for (unsigned q = 0; q < r.queues.size(); ++q) {
            vbd::QueueState s{q, r.queues[q], {}, {}};
            if (q == 0) s.snapshot = vbd::RingSnapshot{4294967295u, 1, 4294967290u, 2};
            else s.snapshot_error = "mapping grant 0 of domain 7 failed";
            v.queues.push_back(s);
        }
    }
    v.statistics = {{"rd_req", 3}, {"wr_req", 0}};
    v.backend_nodes = {{"state", "4"}, {"mode", "w"}};
    if (variant == 1) v.toolstack_disk = vbd::ToolstackDisk{"xvda", "/dev/vg/x", "raw", 0};
    return v;
}

} // namespace

TEST_CASE("JsonText writes what dump(2) prints: strings, numbers, nulls, nesting, empties") {
    for (size_t depth : {0, 2}) {
        same_both_ways([](auto& o) {
            o.member("a_string", std::string("plain"));
            o.member("b_escapes", "q\" b\\ c\x01 d\x1f e\x7f f\b\f\n\r\t");
            o.member("c_utf8", std::string("gr\xc3\xbc\xc3\x9f"));
            o.member("d_empty", "");
            o.member("e_neg", -42);
            o.member("f_max", std::numeric_limits<uint64_t>::max());
            o.member("g_zero", 0u);
            o.member("h_true", true);
            o.member("i_null", nullptr);
            o.member("j_none", std::optional<int>());
            o.member("k_some", std::optional<std::string>("x"));
            o.member("l_list", std::vector<std::string>{"a", "b"});
            o.member("m_nolist", std::vector<int>{});
            o.member("n_map", std::map<std::string, uint64_t>{{"x", 1}});
            o.object("o_empty", [](auto&) {});
            o.object("p_obj", [](auto& in) {
                in.member("a_inner", 1);
                in.objects("b_deeper", std::vector<int>{1, 2}, [](auto& e, int i) { e.member("i", i); });
            });
            o.objects("q_none", std::vector<int>{}, [](auto& e, int i) { e.member("i", i); });
            o.objects("r_two", std::vector<int>{3, 4}, [](auto& e, int i) {
                if (i == 4) e.member("i", i);
            });
        }, depth);
    }
}

TEST_CASE("a vbd written as text is the document show and check build, summary and full") {
    for (int variant : {0, 1, 2})
        for (bool full : {false, true}) {
            CAPTURE(variant);
            CAPTURE(full);
            vbd::Vbd v = sample(variant);
            std::string expected, text;
            vbdcli::put_nested(expected, vbdcli::vbd_json(v, full), 2);
            JsonText t(text, 2);
            vbdcli::put_vbd(t, v, full);
            t.end();
            CHECK(text == expected);
        }
}
