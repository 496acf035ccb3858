// Module parameters of a reload (params.hpp) and what a connect does under them
// (reconnect.hpp): typing, carry-over order, and the hazards that cost a guest its disk.

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "vbdctl/params.hpp"
#include "vbdctl/reconnect.hpp"

using vbd::ModuleParam;
using vbd::ParamSource;

namespace {

// xen-blkback 6.1 as modinfo lists it.
vbd::ModuleFile blkback() {
    vbd::ModuleFile f;
    f.path = "/lib/modules/6.1.0-57-amd64/updates/xen-blkback.ko";
    f.name = "xen_blkback";
    f.params = {{"max_buffer_pages", "int"},     {"max_persistent_grants", "int"},
                {"persistent_grant_unused_seconds", "uint"}, {"max_queues", "uint"},
                {"max_ring_page_order", "int"},  {"log_stats", "int"},
                {"feature_persistent", "bool"},  {"buffer_squeeze_duration_ms", "int"}};
    return f;
}

vbd::LoadedModule running(std::map<std::string, std::string> changed) {
    vbd::LoadedModule m;
    m.name = "xen_blkback";
    m.params = {{"max_buffer_pages", "1024"}, {"max_persistent_grants", "1056"},
                {"persistent_grant_unused_seconds", "60"}, {"max_queues", "2"},
                {"max_ring_page_order", "4"}, {"log_stats", "0"},
                {"feature_persistent", "Y"}, {"buffer_squeeze_duration_ms", "10"}};
    for (const auto& [k, v] : changed) m.params[k] = v;
    return m;
}

std::string norm(const char* type, const char* value, const char* name = "p") {
    auto r = vbd::normalize_param(ModuleParam{name, type}, value);
    if (!r) {
        CHECK(r.error().code == vbd::Errc::invalid_argument);
        return "!";
    }
    return *r;
}

vbd::Vbd connected_vbd(unsigned order, unsigned queues, bool be_persistent, bool fe_persistent) {
    vbd::Vbd v;
    v.id = {1, 51728};
    v.backend_state = v.frontend_state = vbd::XenbusState::Connected;
    v.rings = vbd::FrontendRings{{vbd::Protocol::x86_64, order}, std::vector<vbd::QueueRefs>(queues)};
    v.backend_persistent = be_persistent;
    v.frontend_persistent = fe_persistent;
    return v;
}

} // namespace

TEST_CASE("values are typed by parmtype and shown back as sysfs shows them") {
    CHECK(norm("bool", "0") == "N");
    CHECK(norm("bool", "on") == "Y");
    CHECK(norm("bool", "Y") == "Y");
    CHECK(norm("bool", "maybe") == "!");
    CHECK(norm("bool", "") == "!");
    CHECK(norm("int", "-3") == "-3");
    CHECK(norm("int", "2147483648") == "!");
    CHECK(norm("uint", "-1") == "!");
    CHECK(norm("uint", "4294967295") == "4294967295");
    CHECK(norm("uint", "abc") == "!");
    CHECK(norm("uint", "010") == "!"); // the kernel would read octal 8
    CHECK(norm("uint", "0") == "0");
    CHECK(norm("charp", "a b") == "!");
    CHECK(norm("charp", "fast") == "fast");
}

TEST_CASE("xen-blkback's own ranges are enforced") {
    CHECK(norm("int", "4", "max_ring_page_order") == "4");
    CHECK(norm("int", "5", "max_ring_page_order") == "!");
    CHECK(norm("int", "-1", "max_persistent_grants") == "!");
    CHECK(norm("int", "2", "log_stats") == "!");
}

TEST_CASE("modprobe options split as the kernel reads them") {
    auto o = vbd::split_module_options("max_queues=2  feature_persistent \"x=a b\" =7\tlog_stats=1\n");
    CHECK(o == std::map<std::string, std::string>{
                   {"max_queues", "2"}, {"feature_persistent", "Y"}, {"x", "a b"}, {"log_stats", "1"}});
    CHECK(vbd::split_module_options("").empty());
}

TEST_CASE("running values are carried, then modprobe.d, then --param") {
    auto r = vbd::plan_params(running({{"feature_persistent", "N"}, {"max_queues", "1"}, {"log_stats", "1"}}),
                              blkback(),
                              {{{"log_stats", "0"}}, false, "max_queues=3 log_stats=1 unknown_one=2"});
    REQUIRE(r);
    CHECK(r->load.at("feature_persistent") == "N");
    CHECK(r->load.at("max_queues") == "3");
    CHECK(r->load.at("log_stats") == "0");
    CHECK(r->load.at("max_buffer_pages") == "1024");
    CHECK_FALSE(r->load.contains("unknown_one"));
    REQUIRE(r->changes.size() == 2);
    CHECK(r->changes[0].name == "log_stats");
    CHECK(r->changes[0].source == ParamSource::cli);
    CHECK(r->changes[1].name == "max_queues");
    CHECK(r->changes[1].before == "1");
    CHECK(r->changes[1].after == "3");
    CHECK(r->changes[1].source == ParamSource::config);
}

TEST_CASE("a value equal to the running one after normalizing is no change") {
    auto r = vbd::plan_params(running({{"feature_persistent", "N"}}), blkback(),
                              {{{"feature_persistent", "0"}}, false, ""});
    REQUIRE(r);
    CHECK(r->changes.empty());
}

TEST_CASE("--reset-params returns every parameter to the module's default, row by row") {
    auto r = vbd::plan_params(running({{"max_queues", "8"}}), blkback(), {{{"max_queues", "2"}}, true, ""});
    REQUIRE(r);
    CHECK(r->load == std::map<std::string, std::string>{{"max_queues", "2"}});
    CHECK(r->changes.size() == 8);
    for (const auto& c : r->changes)
        if (c.name != "max_queues") {
            CHECK(c.source == ParamSource::reset);
            CHECK_FALSE(c.after);
        }
}

TEST_CASE("bad input from the operator or from modprobe.d is invalid_argument") {
    auto unknown = vbd::plan_params(running({}), blkback(), {{{"no_such", "1"}}, false, ""});
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == vbd::Errc::invalid_argument);
    auto bad_conf = vbd::plan_params(running({}), blkback(), {{}, false, "max_queues=lots"});
    REQUIRE_FALSE(bad_conf);
    CHECK(bad_conf.error().what.find("modprobe") != std::string::npos);
    // No running module: only what was asked for is passed.
    auto fresh = vbd::plan_params(std::nullopt, blkback(), {{{"max_queues", "2"}}, false, ""});
    REQUIRE(fresh);
    CHECK(fresh->load.size() == 1);
}

TEST_CASE("connect limits at load and at runtime") {
    auto at_load = vbd::connect_limits({{"max_queues", "0"}, {"feature_persistent", "N"}}, 6, true);
    CHECK(at_load.queues == 6);
    CHECK_FALSE(at_load.persistent);
    CHECK(at_load.ring_page_order == 4);
    auto runtime = vbd::connect_limits({{"max_queues", "0"}, {"max_ring_page_order", "2"}}, 6, false);
    CHECK(runtime.queues == 0); // a runtime 0 fails every connect
    CHECK(runtime.ring_page_order == 2);
    CHECK(runtime.persistent); // default
    CHECK(vbd::connect_limits({}, 3, true).queues == 3);
}

TEST_CASE("persistent grants: only turning them on under a frontend that negotiated them off") {
    vbd::ConnectLimits on{4, 4, true}, off{4, 4, false};
    auto hazard = vbd::connect_hazards(connected_vbd(0, 1, false, true), on);
    REQUIRE(hazard.size() == 1);
    CHECK(hazard[0].kind == "persistent grants");
    CHECK(vbd::connect_hazards(connected_vbd(0, 1, false, true), off).empty());
    CHECK(vbd::connect_hazards(connected_vbd(0, 1, true, true), on).empty());
    CHECK(vbd::connect_hazards(connected_vbd(0, 1, false, false), on).empty()); // frontend never offered
    auto connecting = connected_vbd(0, 1, false, true);
    connecting.frontend_state = vbd::XenbusState::Initialised; // it reads the new key when it connects
    CHECK(vbd::connect_hazards(connecting, on).empty());
}

TEST_CASE("ring geometry beyond the limits is fatal at connect") {
    auto big = connected_vbd(3, 4, true, true);
    auto h = vbd::connect_hazards(big, {2, 2, true});
    REQUIRE(h.size() == 2);
    CHECK(h[0].kind == "ring-page-order");
    CHECK(h[1].kind == "queues");
    CHECK(vbd::connect_hazards(big, {4, 0, true}).size() == 1);
    CHECK(vbd::connect_hazards(big, {3, 4, true}).empty());
}
