#pragma once
// The Prometheus text exposition format, version 0.0.4: what a /metrics endpoint serves and
// node_exporter's textfile collector reads. Families are declared first, each with its HELP
// and TYPE; samples may then come in any order (one vbd at a time), and text() prints every
// family's samples together, as the format requires.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vbdctl/error.hpp"

namespace vbdcli {

/// One label of a sample. Names are fixed in code ([a-zA-Z_][a-zA-Z0-9_]*); values are any
/// text and are escaped when printed.
struct PromLabel {
    std::string name;
    std::string value;
};
using PromLabels = std::vector<PromLabel>;

class Exposition {
  public:
    enum class Type { gauge, counter };
    using FamilyId = size_t;

    /// Declares a family (name as Prometheus allows it, help one line or more); its HELP and
    /// TYPE lines are printed even when it gets no sample.
    FamilyId family(std::string name, Type type, std::string help);
    /// A gauge family: family(name, Type::gauge, help).
    FamilyId gauge(std::string name, std::string help) {
        return family(std::move(name), Type::gauge, std::move(help));
    }
    /// Adds a sample to a declared family.
    void add(FamilyId f, PromLabels labels, double value);

    /// The whole exposition, families in the order declared, each one's samples in the
    /// order added; ends with a line feed.
    std::string text() const;
    /// Samples over all families.
    size_t samples() const;
    /// The families as JSON: an array of {name, type, help, samples: [{labels, value}]}.
    nlohmann::json json() const;

  private:
    struct Sample {
        PromLabels labels;
        double value;
    };
    struct Family {
        std::string name;
        Type type;
        std::string help;
        std::vector<Sample> samples;
    };
    std::vector<Family> families_;
};

/// A label value as the format writes it between double quotes: backslash, double quote and
/// line feed escaped.
std::string escape_label_value(std::string_view v);
/// A HELP text as the format writes it: backslash and line feed escaped.
std::string escape_help(std::string_view v);
/// A sample value: an integral value without fraction or exponent ("4", "4294967295"),
/// others in their shortest exact form ("0.25"), and NaN, +Inf, -Inf as the format spells them.
std::string format_value(double v);

/// Replaces DIR/NAME with text for a reader that must never see a partial file (node_exporter's
/// textfile collector): a new file DIR/.NAME.XXXXXX, mode 0644, written, fsynced, renamed over
/// DIR/NAME, then DIR fsynced. On failure nothing of it is left in DIR (Errc::io naming the
/// path). Returns DIR/NAME.
vbd::Result<std::string> replace_file(const std::string& dir, std::string_view name,
                                      std::string_view text);

} // namespace vbdcli
