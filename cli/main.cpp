// vbdctl: parse the command line, open the chosen host, run one command, map its result
// to an exit code. The only place that chooses between the real and the simulated host.

#include <cstdlib>
#include "try.hpp"
#include <iostream>
#include <unistd.h>

#include "app.hpp"
#include "vbdctl/kernel_fixes.hpp"
#include "vbdctl/local.hpp"

namespace vbdcli {

void add_accept_hazard(CLI::App* cmd, std::vector<std::string>& ids) {
    std::vector<std::string> known;
    for (const auto& f : vbd::kernel_fixes()) known.push_back(f.id);
    cmd->add_option("--accept-hazard", ids,
                    "A kernel fix this kernel has although its version predates it (repeatable): " +
                        [&] {
                            std::string s;
                            for (const auto& k : known) s += (s.empty() ? "" : ", ") + k;
                            return s;
                        }())
        ->check(CLI::IsMember(known));
}

void note(const Context& c, const std::string& line) {
    if (c.g.verbosity >= 0) std::cerr << "vbdctl: " << line << "\n";
}

JsonListWriter::JsonListWriter(const nlohmann::json& head, const std::string& key) : out_("{\n") {
    for (const auto& [k, v] : head.items()) {
        out_ += "  " + nlohmann::json(k).dump() + ": ";
        put_nested(out_, v, 1);
        out_ += ",\n";
    }
    out_ += "  " + nlohmann::json(key).dump() + ": [";
}

void JsonListWriter::flush_some() {
    // Written in pieces of about 16 KiB: the whole text would be as large as the document it
    // replaces (each fresh page of it a page fault), and one write per item would be a system
    // call per vbd.
    if (out_.size() >= 16 * 1024) {
        std::cout.write(out_.data(), static_cast<std::streamsize>(out_.size()));
        out_.clear();
    }
}

void JsonListWriter::finish() {
    out_ += items_ ? "\n  ]\n}\n" : "]\n}\n";
    std::cout.write(out_.data(), static_cast<std::streamsize>(out_.size()));
    out_.clear();
}

namespace {

struct OpenedHost {
    std::unique_ptr<vbd::LocalHost> local;
    std::unique_ptr<vbd::sim::SimHost> sim;
};

vbd::Result<OpenedHost> open_host(Context& c, bool replacing) {
    OpenedHost h;
    const std::string& spec = c.g.host;
    if (spec == "local") {
        h.local = VBD_TRY(vbd::LocalHost::open({}));
        c.host = &h.local->host();
        c.host_label = "local";
        return h;
    }
    if (spec == "sim" || spec.starts_with("sim:")) {
        std::optional<std::string> file;
        if (spec.size() > 4) file = spec.substr(4);
        h.sim = VBD_TRY(vbd::sim::SimHost::open(file, replacing));
        c.host = &h.sim->host();
        c.sim = h.sim.get();
        c.host_label = spec;
        return h;
    }
    return vbd::fail(vbd::Errc::invalid_argument, "unknown host '" + spec + "'", {},
                     "use local, sim or sim:FILE");
}

// "list", "sim init": the subcommands the command line selected, as far as parsing got.
std::string command_path(const CLI::App& app) {
    std::string path;
    for (const CLI::App* cur = &app;;) {
        auto subs = cur->get_subcommands();
        if (subs.empty()) return path;
        cur = subs.front();
        path += (path.empty() ? "" : " ") + cur->get_name();
    }
}

// Whether the global flag is on the command line (before any "--"), alone or as --flag=VALUE.
bool has_flag(int argc, char** argv, std::string_view flag) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--") return false;
        if (a == flag || (a.starts_with(flag) && a.substr(flag.size()).starts_with('='))) return true;
    }
    return false;
}

// Whether --json was on the command line: a usage error may stop parsing before it.
bool wants_json(int argc, char** argv) { return has_flag(argc, argv, "--json"); }

// The top-level commands in the order --help lists them, each with the function that adds
// it to the parser (add_lifecycle adds four).
using AddCommand = void (*)(CLI::App&, Command&);
constexpr std::pair<std::string_view, AddCommand> commands[] = {
    {"status", add_status},       {"list", add_list},          {"show", add_show},
    {"check", add_check},         {"metrics", add_metrics},    {"watch", add_watch},
    {"unbind", add_lifecycle},    {"bind", add_lifecycle},     {"rebind", add_lifecycle},
    {"recover", add_lifecycle},   {"upgrade-backend", add_upgrade}, {"history", add_history},
    {"sim", add_sim},             {"__complete", add_complete},
};

// The command the command line names: its first word that is neither an option nor the value
// of --host (the one global option that takes a value); nullptr when it names none we know.
AddCommand named_command(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--") return nullptr;
        if (a == "--host") ++i;
        if (a.starts_with('-')) continue;
        for (const auto& [name, add] : commands)
            if (a == name) return add;
        return nullptr;
    }
    return nullptr;
}

// Builds the parser of the named command only, none for --version (CLI11 answers it before it
// looks for a command, whatever else the line holds), or every command when the command line
// names none (--help, a typo: CLI11 then lists them or says which is unknown).
// Building all of them was a quarter of what `vbdctl list` executed before it opened the host
// (tests/bench/start_cost.sh counts it), paid by every run; traced in the lab's dom0 under
// TCG, its gap was 0.16-0.18 s (tests/lab/README.md, "Where list's time goes").
void add_commands(CLI::App& app, Command& cmd, int argc, char** argv) {
    if (AddCommand named = named_command(argc, argv)) return named(app, cmd);
    if (has_flag(argc, argv, "--version")) return;
    AddCommand last = nullptr;
    for (const auto& [name, add] : commands)
        if (add != last) add(app, cmd), last = add;
}

const char* exit_help = R"(
Exit status:
  0    success: the command did what it says, every check passed
  1    an operation or check failed (the message says what, and what was restored)
  2    usage error or bad input (ids, names, flags, files); nothing was changed
  130  interrupted by SIGINT/SIGTERM after reaching a safe state

Hosts: local (this dom0 or driver domain), sim (a fresh simulated world each run),
sim:FILE (a simulated world kept in FILE). Default: $VBDCTL_HOST, else local.)";

} // namespace
} // namespace vbdcli

int main(int argc, char** argv) {
    using namespace vbdcli;
    CLI::App app{"vbdctl: unbind, rebind and upgrade Xen block backends (xen-blkback) under "
                 "running guests, safely"};
    app.footer(exit_help);
    app.require_subcommand(1);
    app.fallthrough();
    Context ctx;
    if (const char* h = std::getenv("VBDCTL_HOST"); h && *h) ctx.g.host = h;
    app.add_option("--host", ctx.g.host, "Host to act on: local, sim or sim:FILE")
        ->envname("VBDCTL_HOST")
        ->capture_default_str();
    app.add_flag("--json", ctx.g.json,
                 "Print one JSON object (schema_version " + std::to_string(schema_version) + ") on stdout, "
                 "failures included");
    app.add_flag_callback("-v,--verbose", [&] { ctx.g.verbosity = 1; }, "Say more on stderr");
    app.add_flag_callback("-q,--quiet", [&] { ctx.g.verbosity = -1; }, "Say only errors on stderr");
    app.set_version_flag("--version", std::string("vbdctl ") + VBDCTL_VERSION);

    Command cmd;
    add_commands(app, cmd, argc, argv);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // CLI11's own codes are 100+; ours say "usage" with 2.
        ctx.g.json = wants_json(argc, argv);
        ctx.command = command_path(app);
        return emit(ctx, failure({vbd::Errc::invalid_argument, e.what(), {}, "run vbdctl --help"}));
    }
    ctx.command = command_path(app);
    ctx.stdin_tty = ::isatty(STDIN_FILENO);
    ctx.stderr_tty = ::isatty(STDERR_FILENO);
    if (!cmd.run) return emit(ctx, failure({vbd::Errc::invalid_argument, "no command given", {}, "run vbdctl --help"}));
    try {
        auto opened = open_host(ctx, cmd.replaces_sim_world);
        if (!opened) return emit(ctx, failure(opened.error()));
        ctx.started = ctx.host->clock.wall_now();
        Reply r = cmd.run(ctx);
        if (r.mutation) keep_run(ctx, r);
        return emit(ctx, r);
    } catch (const std::exception& e) {
        return emit(ctx, failure({vbd::Errc::failed, e.what(), {}, {}}));
    }
}
