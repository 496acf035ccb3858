#include "vbdctl/params.hpp"

#include <algorithm>
#include <cstdint>

#include "vbdctl/types.hpp"

namespace vbd {

namespace {

// Ranges xen-blkback accepts beyond its parmtype (Linux 6.1 blkback.c, xenbus.c): negative
// counts make no sense, and a ring order above XENBUS_MAX_RING_GRANT_ORDER is clamped at
// init with only a log line, so refuse it rather than load something else than asked.
struct Range {
    const char* name;
    int64_t min, max;
};
constexpr Range blkback_ranges[] = {
    {"max_ring_page_order", 0, 4},   {"max_buffer_pages", 0, INT32_MAX},
    {"max_persistent_grants", 0, INT32_MAX}, {"buffer_squeeze_duration_ms", 0, INT32_MAX},
    {"log_stats", 0, 1},
};

struct IntType {
    const char* name;
    int64_t min, max;
};
constexpr IntType int_types[] = {
    {"byte", 0, UINT8_MAX},          {"short", INT16_MIN, INT16_MAX}, {"ushort", 0, UINT16_MAX},
    {"int", INT32_MIN, INT32_MAX},   {"uint", 0, UINT32_MAX},         {"long", INT64_MIN, INT64_MAX},
    {"ulong", 0, INT64_MAX},         {"ullong", 0, INT64_MAX},        {"hexint", 0, UINT32_MAX},
};

Error bad(const ModuleParam& p, std::string_view value, const std::string& accepted) {
    return Error{Errc::invalid_argument, "invalid value '" + std::string(value) + "' for parameter " + p.name,
                 p.name, "it takes " + accepted};
}

} // namespace

std::string_view to_string(ParamSource s) {
    switch (s) {
    case ParamSource::running: return "running";
    case ParamSource::config: return "modprobe.d";
    case ParamSource::cli: return "--param";
    case ParamSource::reset: return "default";
    }
    return "?";
}

Result<std::string> normalize_param(const ModuleParam& p, std::string_view v) {
    if (p.type == "bool" || p.type == "invbool") {
        // kstrtobool's spellings, shown back by sysfs as Y/N.
        if (v == "y" || v == "Y" || v == "1" || v == "on") return std::string("Y");
        if (v == "n" || v == "N" || v == "0" || v == "off") return std::string("N");
        return std::unexpected(bad(p, v, "a boolean: Y or N (also 1/0, y/n, on/off)"));
    }
    for (const auto& t : int_types) {
        if (p.type != t.name) continue;
        int64_t lo = t.min, hi = t.max;
        for (const auto& r : blkback_ranges)
            if (p.name == r.name) lo = std::max(lo, r.min), hi = std::min(hi, r.max);
        std::string accepted = "a decimal integer in " + std::to_string(lo) + ".." + std::to_string(hi);
        bool neg = v.starts_with("-");
        // Decimal only: the kernel's base-0 parsing would read "010" as 8.
        auto mag = parse_uint(neg ? v.substr(1) : v, UINT64_MAX);
        size_t sign = neg ? 1 : 0;
        if (!mag || (v.size() > 1 + sign && v[sign] == '0')) return std::unexpected(bad(p, v, accepted));
        if ((neg && *mag > static_cast<uint64_t>(-(lo + 1)) + 1) || (!neg && *mag > static_cast<uint64_t>(hi)) ||
            (neg && lo == 0 && *mag != 0))
            return std::unexpected(bad(p, v, accepted));
        return (neg && *mag ? "-" : "") + std::to_string(*mag);
    }
    // charp, string and unknown types: one word the kernel's parser takes whole.
    if (v.empty() || v.size() > 1024 ||
        std::any_of(v.begin(), v.end(), [](char c) { return c == '"' || c <= ' ' || c == 127; }))
        return std::unexpected(bad(p, v, "one word of printable characters, without quotes"));
    return std::string(v);
}

std::map<std::string, std::string> split_module_options(std::string_view s) {
    std::map<std::string, std::string> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
        if (i >= s.size()) break;
        std::string word;
        bool quoted = false;
        for (; i < s.size() && (quoted || (s[i] != ' ' && s[i] != '\t' && s[i] != '\n')); ++i) {
            if (s[i] == '"') quoted = !quoted;
            else word += s[i];
        }
        auto eq = word.find('=');
        if (eq == 0) continue;
        if (eq == std::string::npos) out[word] = "Y";
        else out[word.substr(0, eq)] = word.substr(eq + 1);
    }
    return out;
}

Result<ParamPlan> plan_params(const std::optional<LoadedModule>& running, const ModuleFile& target,
                              const ParamRequest& req) {
    struct Pick {
        std::string value;
        ParamSource source;
    };
    std::map<std::string, Pick> picked;
    if (running && !req.reset)
        for (const auto& [k, v] : running->params)
            if (target.param(k)) picked[k] = {v, ParamSource::running};
    // The kernel ignores configured options the module does not have; so do we.
    for (const auto& [k, v] : split_module_options(req.config_options))
        if (target.param(k)) picked[k] = {v, ParamSource::config};
    for (const auto& [k, v] : req.overrides) {
        if (!target.param(k))
            return fail(Errc::invalid_argument, target.path + " has no parameter '" + k + "'", k,
                        "see `modinfo " + target.path + "`");
        picked[k] = {v, ParamSource::cli};
    }

    ParamPlan plan;
    for (auto& [k, pick] : picked) {
        auto value = normalize_param(*target.param(k), pick.value);
        if (!value) {
            Error e = value.error();
            if (pick.source == ParamSource::config) e.what += " (from modprobe's configuration)";
            // A running value this type cannot express is not passed: the new module uses its
            // default, and the change row below says so.
            if (pick.source == ParamSource::running) continue;
            return std::unexpected(e);
        }
        plan.load[k] = *value;
    }
    // One row per parameter whose value changes, including those that return to defaults.
    std::map<std::string, std::string> before = running ? running->params : std::map<std::string, std::string>{};
    for (const auto& p : target.params) {
        auto b = before.find(p.name);
        auto a = plan.load.find(p.name);
        std::optional<std::string> bv = b == before.end() ? std::nullopt : std::optional(b->second);
        std::optional<std::string> av = a == plan.load.end() ? std::nullopt : std::optional(a->second);
        if (bv && av) {
            auto nb = normalize_param(p, *bv);
            if (nb && *nb == *av) continue;
        }
        if (!bv && !av) continue;
        ParamSource src = a != plan.load.end() ? picked[p.name].source : ParamSource::reset;
        plan.changes.push_back(ParamChange{p.name, p.type, bv, av, src});
    }
    std::sort(plan.changes.begin(), plan.changes.end(),
              [](const ParamChange& a, const ParamChange& b) { return a.name < b.name; });
    return plan;
}

} // namespace vbd
