#include "prometheus.hpp"
#include "files.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace vbdcli {

Exposition::FamilyId Exposition::family(std::string name, Type type, std::string help) {
    families_.push_back({std::move(name), type, std::move(help), {}});
    return families_.size() - 1;
}

void Exposition::add(FamilyId f, PromLabels labels, double value) {
    families_.at(f).samples.push_back({std::move(labels), value});
}

size_t Exposition::samples() const {
    size_t n = 0;
    for (const auto& f : families_)
        n += f.samples.size();
    return n;
}

std::string Exposition::text() const {
    std::string out;
    for (const auto& f : families_) {
        out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + f.name + (f.type == Type::counter ? " counter\n" : " gauge\n");
        for (const auto& s : f.samples) {
            out += f.name;
            if (!s.labels.empty()) {
                out += '{';
                for (size_t i = 0; i < s.labels.size(); ++i)
                    out += (i ? "," : "") + s.labels[i].name + "=\"" +
                           escape_label_value(s.labels[i].value) + "\"";
                out += '}';
            }
            out += " " + format_value(s.value) + "\n";
        }
    }
    return out;
}

nlohmann::json Exposition::json() const {
    auto out = nlohmann::json::array();
    for (const auto& f : families_) {
        auto samples = nlohmann::json::array();
        for (const auto& s : f.samples) {
            auto labels = nlohmann::json::object();
            for (const auto& l : s.labels)
                labels[l.name] = l.value;
            // Whole numbers stay integers in JSON, as every other vbdctl number is.
            nlohmann::json value = s.value;
            if (std::isfinite(s.value) && s.value == std::trunc(s.value) &&
                std::fabs(s.value) < 9.0e15)
                value = static_cast<int64_t>(s.value);
            samples.push_back({{"labels", labels}, {"value", value}});
        }
        out.push_back({{"name", f.name},
                       {"type", f.type == Type::counter ? "counter" : "gauge"},
                       {"help", f.help},
                       {"samples", samples}});
    }
    return out;
}

namespace {

// The format escapes a backslash and a line feed everywhere, a double quote in label values.
std::string escape(std::string_view v, bool quote) {
    std::string out;
    out.reserve(v.size());
    for (char ch : v) {
        if (ch == '\\')
            out += "\\\\";
        else if (ch == '\n')
            out += "\\n";
        else if (ch == '"' && quote)
            out += "\\\"";
        else
            out += ch;
    }
    return out;
}

} // namespace

std::string escape_label_value(std::string_view v) {
    return escape(v, true);
}

std::string escape_help(std::string_view v) {
    return escape(v, false);
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[32];
    // Counts and states print as the integers they are: 4294967295, not 4.294967295e+09.
    if (v == std::trunc(v) && std::fabs(v) < 9.0e15)
        return {buf, std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v)).ptr};
    return {buf, std::to_chars(buf, buf + sizeof buf, v).ptr};
}

vbd::Result<std::string> replace_file(const std::string& dir, std::string_view name,
                                      std::string_view text) {
    std::string base = dir.ends_with('/') ? dir.substr(0, dir.size() - 1) : dir;
    // 0644: node_exporter's collector reads it as another user.
    if (auto r = vbd::files::replace(base.empty() ? "/" : base, name, text, 0644); !r)
        return std::unexpected(r.error());
    return base + "/" + std::string(name);
}

} // namespace vbdcli
