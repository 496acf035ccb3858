// Arguments and options: parsed and checked once, at the edge.

#include <cmath>
#include <cstdio>

#include "app.hpp"
#include "try.hpp"
#include "vbdctl/inventory.hpp"

namespace vbdcli {

namespace {
std::string g(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}
} // namespace

vbd::Result<double> parse_seconds(const std::string& text, double min, double max) {
    double v = 0;
    size_t used = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size() || !std::isfinite(v) || v < min || v > max)
        return vbd::fail(vbd::Errc::invalid_argument,
                         "'" + text + "' is not a number of seconds in " + g(min) + ".." + g(max));
    return v;
}

CLI::Validator seconds_in(double min, double max) {
    return CLI::Validator(
        [min, max](std::string& text) -> std::string {
            auto v = parse_seconds(text, min, max);
            return v ? std::string() : v.error().what;
        },
        "SECONDS", "seconds");
}

void add_sampling(CLI::App* cmd, unsigned& samples, unsigned& interval_ms) {
    cmd->add_option("--samples", samples, "Samples per queue (>= 2 to detect stuck rings)")
        ->check(CLI::Range(1u, 1000u))
        ->capture_default_str();
    cmd->add_option("--interval", interval_ms, "Milliseconds between samples")
        ->check(CLI::Range(1u, 60000u))
        ->capture_default_str();
}

vbd::Result<uint32_t> resolve_domid(Context& c, const std::string& text) {
    vbd::Inventory inv(*c.host);
    return inv.resolve_domain(text);
}

vbd::Result<Selection> select_vbds(Context& c, const std::string& domid, const std::string& vbd) {
    Selection sel;
    if (!domid.empty()) sel.domid = VBD_TRY(resolve_domid(c, domid));
    if (!vbd.empty()) {
        vbd::Inventory inv(*c.host);
        sel.vbd = VBD_TRY(inv.resolve(*sel.domid, vbd));
    }
    return sel;
}

} // namespace vbdcli
