// vbdctl history [RUN]: the kept reports of the last mutating runs (/var/lib/vbdctl/runs),
// and keep_run, which keeps them.

#include <cstdio>
#include <ctime>
#include <iostream>

#include "app.hpp"
#include "render.hpp"

namespace vbdcli {

namespace {

// wall (milliseconds since the epoch) in UTC, as strftime's format gives it.
std::string utc_text(vbd::Millis wall, const char* format) {
    std::time_t secs = static_cast<std::time_t>(wall.count() / 1000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[40];
    return std::string(buf, std::strftime(buf, sizeof buf, format, &tm));
}

} // namespace

std::string wall_text(vbd::Millis wall) { return utc_text(wall, "%Y-%m-%d %H:%M:%SZ"); }

std::string timestamp_text(vbd::Millis wall) {
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(wall.count() % 1000));
    return utc_text(wall, "%Y-%m-%dT%H:%M:%S") + ms;
}

void keep_run(Context& c, const Reply& r) {
    vbd::RunRecord rec;
    rec.command = c.command;
    rec.started = c.started;
    rec.ended = c.host->clock.wall_now();
    rec.exit = r.exit;
    rec.message = r.error ? r.error->message() : "";
    rec.report = report_json(c, r).dump();
    rec.text = r.text;
    if (auto kept = c.host->runs.keep(rec); !kept)
        std::cerr << "vbdctl: warning: the run's report was not kept: " << kept.error().message() << "\n";
}

std::optional<vbd::RunRecord> last_run(Context& c) {
    auto runs = c.host->runs.list();
    if (!runs || runs->empty()) return std::nullopt;
    return runs->back();
}

nlohmann::json run_summary_json(const vbd::RunRecord& r) {
    if (!r.damaged.empty()) return {{"id", r.id}, {"damaged", r.damaged}};
    return {{"id", r.id},
            {"command", r.command},
            {"started_ms", r.started.count()},
            {"ended_ms", r.ended.count()},
            {"exit", r.exit},
            {"ok", r.exit == Exit::ok},
            {"message", r.message.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.message)}};
}

std::string run_result_text(const vbd::RunRecord& r) {
    return r.exit == Exit::ok ? "ok" : "exit " + std::to_string(r.exit) + ": " + r.message;
}

namespace {

struct HistoryOptions {
    std::string run;
    size_t limit = vbd::RunHistory::keep_last;
};

Reply run_history(Context& c, const HistoryOptions& o) {
    auto& runs = c.host->runs;
    Reply out;
    if (!o.run.empty()) {
        std::string id = o.run;
        if (id == "last") {
            auto last = last_run(c);
            if (!last)
                return failure({vbd::Errc::invalid_argument, "no run is kept", runs.path(),
                                "a mutating command (unbind, bind, rebind, upgrade-backend, recover) keeps its report"});
            id = last->id;
        }
        auto r = runs.read(id);
        if (!r) return failure(r.error());
        if (!r->damaged.empty()) return failure({vbd::Errc::bad_value, r->damaged, runs.path() + "/" + id + ".json", {}});
        auto j = run_summary_json(*r);
        j["report"] = nlohmann::json::parse(r->report, nullptr, false);
        j["text"] = r->text;
        out.data["run"] = j;
        out.text = "run " + r->id + ": " + r->command + ", " + wall_text(r->started) + " to " + wall_text(r->ended) +
                   ", " + run_result_text(*r) + "\n" + r->text;
        return out;
    }
    auto all = runs.list();
    if (!all) return failure(all.error());
    size_t from = all->size() > o.limit ? all->size() - o.limit : 0;
    out.data["directory"] = runs.path();
    out.data["runs"] = nlohmann::json::array();
    Table t({"ENDED", "COMMAND", "TOOK", "RESULT", "ID"});
    for (size_t i = from; i < all->size(); ++i) {
        const auto& r = (*all)[i];
        out.data["runs"].push_back(run_summary_json(r));
        if (!r.damaged.empty()) {
            t.add({"-", "-", "-", "damaged: " + r.damaged, r.id});
            continue;
        }
        char took[32];
        std::snprintf(took, sizeof took, "%.1f s", static_cast<double>((r.ended - r.started).count()) / 1000.0);
        t.add({wall_text(r.ended), r.command, took, run_result_text(r), r.id});
    }
    out.text = all->empty() ? "no runs are kept in " + runs.path() + "\n" : t.str();
    return out;
}

} // namespace

void add_history(CLI::App& app, Command& cmd) {
    auto o = std::make_shared<HistoryOptions>();
    auto* sub = app.add_subcommand("history", "List the last " + std::to_string(vbd::RunHistory::keep_last) +
                                                  " mutating runs, or show one run's kept report");
    sub->add_option("RUN", o->run, "A run's id (as listed), or last");
    sub->add_option("--limit", o->limit, "Only the last N runs")->check(CLI::Range(size_t{1}, vbd::RunHistory::keep_last));
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_history(c, *o); }; });
}

} // namespace vbdcli
