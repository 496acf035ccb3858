#include "run_history.hpp"
#include "files.hpp"
#include "try.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <dirent.h>

#include <nlohmann/json.hpp>

namespace vbd {

namespace {

using json = nlohmann::json;
constexpr std::string_view suffix = ".json";

// 20261204T181425.123Z: UTC, fixed width, so names sort in time order.
std::string stamp(Millis wall) {
    auto ms = wall.count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
    char out[40];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
    return out;
}

// The record as kept; the summary (list) reads it without report and text.
Result<RunRecord> parse(const std::string& id, const std::string& text, bool whole) {
    json::parser_callback_t skip_bodies = [whole](int depth, json::parse_event_t ev, json& parsed) {
        return whole || !(depth == 1 && ev == json::parse_event_t::key &&
                          (parsed == "report" || parsed == "text"));
    };
    json j = json::parse(text, skip_bodies, false);
    RunRecord r;
    r.id = id;
    try {
        if (!j.is_object()) throw std::runtime_error("not a JSON object");
        r.command = j.at("command").get<std::string>();
        r.started = Millis(j.at("started_ms").get<int64_t>());
        r.ended = Millis(j.at("ended_ms").get<int64_t>());
        r.exit = j.at("exit").get<int>();
        r.message = j.at("message").get<std::string>();
        if (whole) {
            r.text = j.at("text").get<std::string>();
            r.report = j.at("report").dump(2);
        }
    } catch (const std::exception& e) {
        RunRecord d;
        d.id = id;
        d.damaged = std::string("not a run report vbdctl wrote (") + e.what() + ")";
        return d;
    }
    return r;
}

} // namespace

Result<std::vector<std::string>> FileRunHistory::ids() {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir_.c_str());
    if (!d) {
        if (errno == ENOENT) return out; // nothing kept yet
        return fail(Errc::io, std::string("cannot list runs: ") + std::strerror(errno), dir_);
    }
    while (auto* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name.size() > suffix.size() && name.ends_with(suffix) && name.front() != '.')
            out.emplace_back(name.substr(0, name.size() - suffix.size()));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

Result<std::string> FileRunHistory::keep(const RunRecord& r) {
    VBD_TRY_VOID(files::make_dirs(dir_, 0755));
    auto existing = VBD_TRY(ids());
    std::string id = stamp(r.ended) + "-" + r.command;
    std::replace(id.begin(), id.end(), ' ', '-');
    for (int n = 2; std::binary_search(existing.begin(), existing.end(), id); ++n)
        id = stamp(r.ended) + "-" + r.command + "-" + std::to_string(n);
    json report = json::parse(r.report, nullptr, false);
    json j = {{"id", id},
              {"command", r.command},
              {"started_ms", r.started.count()},
              {"ended_ms", r.ended.count()},
              {"exit", r.exit},
              {"message", r.message},
              {"text", r.text},
              {"report", report.is_discarded() ? json(r.report) : report}};
    VBD_TRY_VOID(files::replace(dir_, id + std::string(suffix), j.dump(2) + "\n", 0644));
    existing.insert(std::upper_bound(existing.begin(), existing.end(), id), id);
    for (size_t i = 0; i + keep_last < existing.size(); ++i)
        VBD_TRY_VOID(files::remove(dir_, existing[i] + std::string(suffix)));
    return id;
}

Result<std::vector<RunRecord>> FileRunHistory::list() {
    std::vector<RunRecord> out;
    for (const auto& id : VBD_TRY(ids())) {
        auto text = VBD_TRY(files::read(dir_ + "/" + id + std::string(suffix)));
        if (text) out.push_back(VBD_TRY(parse(id, *text, false)));
    }
    return out;
}

Result<RunRecord> FileRunHistory::read(std::string_view id) {
    auto known = VBD_TRY(ids());
    if (!std::binary_search(known.begin(), known.end(), std::string(id)))
        return fail(Errc::invalid_argument, "no kept run has id '" + std::string(id) + "'", dir_,
                    "`vbdctl history` lists the kept runs");
    auto text = VBD_TRY(files::read(dir_ + "/" + std::string(id) + std::string(suffix)));
    if (!text) return fail(Errc::invalid_argument, "run '" + std::string(id) + "' is no longer kept", dir_);
    return parse(std::string(id), *text, true);
}

} // namespace vbd
