#pragma once
// The one output layer. Every command returns its result as a Reply, data first; emit()
// renders it once: under --json as one object (the envelope of cli/vbdctl.schema.json: ok,
// exit, error, then the command's members), otherwise as text on stdout and the error as one
// "vbdctl: error:" line on stderr. Only list --json and watch print as they go (a thousand
// vbds, an endless stream); they return a Reply marked streamed.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "vbdctl/error.hpp"

namespace vbdcli {

struct Context;

/// Documented exit codes (see `vbdctl --help` and vbdctl(8)).
enum Exit : int { ok = 0, failed = 1, usage = 2, interrupted = 130 };

/// Version of the --json schema (cli/vbdctl.schema.json); bumped when members change.
inline constexpr int schema_version = 5;

struct Reply {
    int exit = Exit::ok;
    nlohmann::json data = nlohmann::json::object(); ///< the command's members, for --json
    std::string text;                               ///< the same for a person, for stdout
    std::optional<vbd::Error> error;                ///< set exactly when exit != 0
    bool streamed = false;                          ///< already printed as it happened
    bool mutation = false;                          ///< the host was changed: the run is kept (history)

    /// This reply, failed with e (exit code from e's kind); data and text stay.
    Reply& fail(vbd::Error e);
};

/// A reply with nothing but the error.
Reply failure(vbd::Error e);
/// A reply for output printed as it happened.
Reply streamed();

/// Exit code for a library error.
int exit_code(const vbd::Error& e);
/// Where an error's reader should look: the text hint in text mode, the JSON one under --json.
std::string look_at(const Context& c, std::string text_hint, std::string json_hint);

/// The members every JSON object starts with: schema_version, vbdctl_version, host, command,
/// ok, exit and error.
nlohmann::json envelope(const Context& c, int exit = Exit::ok, const std::optional<vbd::Error>& e = {});
/// The one object --json prints for r: the envelope, then r's members.
nlohmann::json report_json(const Context& c, const Reply& r);
/// Prints the reply as --json or text asks and returns its exit code.
int emit(const Context& c, const Reply& r);

} // namespace vbdcli
