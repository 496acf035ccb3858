#pragma once
// What every command gets: the parsed global options, the opened host, and the outputs.

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "vbdctl/error.hpp"
#include "vbdctl/ports.hpp"
#include "vbdctl/sim.hpp"
#include "vbdctl/types.hpp"
#include "json_out.hpp"
#include "output.hpp"

namespace vbdcli {

struct Globals {
    std::string host = "local";
    bool json = false;
    int verbosity = 0; ///< -1 quiet, 0 normal, 1+ verbose
};

struct Context {
    Globals g;
    vbd::Host* host = nullptr;
    vbd::sim::SimHost* sim = nullptr; ///< set when --host sim
    std::string host_label;           ///< "local", "sim", "sim:FILE"
    std::string command;              ///< the subcommand path: "list", "sim init"
    vbd::Millis started{0};           ///< wall clock when the host was opened
    bool stdin_tty = false;
    bool stderr_tty = false;
};

/// The command chosen on the command line, run after parsing and host opening.
struct Command {
    std::function<Reply(Context&)> run;
    bool needs_host = true;
    bool replaces_sim_world = false; ///< `sim init`: a damaged state file is overwritten, not an error
};

/// A DOMID argument: a domid, or a guest's name (Inventory::resolve_domain).
vbd::Result<uint32_t> resolve_domid(Context& c, const std::string& text);

/// The optional `[DOMID [VBD]]` arguments of list, check and watch, parsed and resolved.
struct Selection {
    std::optional<uint32_t> domid;
    std::optional<vbd::VbdId> vbd;
};
vbd::Result<Selection> select_vbds(Context& c, const std::string& domid, const std::string& vbd);

/// `--accept-hazard ID` (repeatable): a kernel fix the operator knows this kernel has,
/// checked against vbdctl's table (an unknown ID is a usage error).
void add_accept_hazard(CLI::App* cmd, std::vector<std::string>& ids);

/// `--samples N` (1..1000) and `--interval MS` (1..60000) of check and metrics: how often,
/// and how far apart, each queue's ring is read (vbd::CheckOptions).
void add_sampling(CLI::App* cmd, unsigned& samples, unsigned& interval_ms);

/// A CLI11 check for a number of seconds: finite and within [min, max] (NaN, infinities
/// and out-of-range values are usage errors).
CLI::Validator seconds_in(double min, double max);
/// Parses text as seconds with the same rule; Errc::invalid_argument otherwise.
vbd::Result<double> parse_seconds(const std::string& text, double min, double max);
/// Seconds (already checked) as milliseconds.
inline vbd::Millis millis(double seconds) { return vbd::Millis(static_cast<int64_t>(seconds * 1000)); }

/// Prints a note to stderr unless quiet.
void note(const Context& c, const std::string& line);
/// Prints a JSON document whose last member is a long array one item at a time, so the list
/// never exists as one document. The text is what print_json prints for the whole; the key
/// must sort after every key in head (objects print sorted). Nothing is printed before the
/// first add() or finish().
class JsonListWriter {
  public:
    JsonListWriter(const nlohmann::json& head, const std::string& key);
    /// One item, an object whose members fill(JsonText&) writes.
    template <class F> void add(F fill) {
        out_ += items_++ ? ",\n    " : "\n    ";
        JsonText item(out_, 2);
        fill(item);
        item.end();
        flush_some();
    }
    void finish();

  private:
    void flush_some();
    std::string out_;
    size_t items_ = 0;
};

/// Keeps a mutating run's report in the host's run history (`vbdctl history`); a report that
/// cannot be kept is a warning on stderr, never a changed exit status.
void keep_run(Context& c, const Reply& r);
/// The last kept run, nullopt when none is (or the history cannot be read).
std::optional<vbd::RunRecord> last_run(Context& c);
/// A kept run without its report, as history lists it.
nlohmann::json run_summary_json(const vbd::RunRecord& r);
/// "ok", or "exit 1: the error".
std::string run_result_text(const vbd::RunRecord& r);
/// A wall-clock time as "2026-12-04 18:14:25Z".
std::string wall_text(vbd::Millis wall);
/// RFC 3339 in UTC with milliseconds ("2026-12-04T18:14:25.123Z"), for JSON.
std::string timestamp_text(vbd::Millis wall);

// One registration function per command file.
void add_list(CLI::App& app, Command& cmd);
void add_show(CLI::App& app, Command& cmd);
void add_check(CLI::App& app, Command& cmd);
void add_metrics(CLI::App& app, Command& cmd);
void add_watch(CLI::App& app, Command& cmd);
void add_lifecycle(CLI::App& app, Command& cmd);
void add_upgrade(CLI::App& app, Command& cmd);
void add_history(CLI::App& app, Command& cmd);
void add_status(CLI::App& app, Command& cmd);
void add_sim(CLI::App& app, Command& cmd);
void add_complete(CLI::App& app, Command& cmd); ///< hidden: `__complete` for shell completions

} // namespace vbdcli
