#include "vbdctl/journal.hpp"
#include "try.hpp"

#include <nlohmann/json.hpp>

namespace vbd {

using nlohmann::json;

namespace {
constexpr int journal_version = 1;
const char* const ops[] = {"unbind", "bind", "rebind", "upgrade"};
} // namespace

Journal Journal::begin(std::string op, int64_t wall_ms, bool autoprobe_before) {
    Journal j;
    j.op = std::move(op);
    j.started_wall_ms = wall_ms;
    j.autoprobe_before = autoprobe_before;
    return j;
}

std::string Journal::to_text() const {
    json j = {{"journal_version", journal_version}, {"op", op}, {"step", step}, {"step_name", step_name},
              {"recovering", recovering}, {"started_wall_ms", started_wall_ms},
              {"autoprobe_before", autoprobe_before}};
    json v = json::array();
    for (const auto& e : vbds) {
        json ej = {{"domid", e.id.domid}, {"devid", e.id.devid}, {"unbound_wall_ms", e.unbound_wall_ms}};
        ej["state_before"] = e.state_before ? json(static_cast<int>(*e.state_before)) : json(nullptr);
        v.push_back(std::move(ej));
    }
    j["vbds"] = std::move(v);
    if (op == "upgrade")
        j["upgrade"] = {{"target_path", target_path},
                        {"target_params", target_params},
                        {"rollback_path", rollback_path},
                        {"old_params", old_params},
                        {"old_srcversion", old_srcversion ? json(*old_srcversion) : json(nullptr)}};
    return j.dump(2) + "\n";
}

Result<Journal> Journal::parse(std::string_view text) try {
    json j = json::parse(text);
    int version = j.at("journal_version").get<int>();
    if (version != journal_version)
        return fail(Errc::bad_value, "journal version " + std::to_string(version) + " is not one this vbdctl writes (" +
                                         std::to_string(journal_version) + ")");
    Journal out;
    out.op = j.at("op").get<std::string>();
    if (std::find(std::begin(ops), std::end(ops), out.op) == std::end(ops))
        return fail(Errc::bad_value, "unknown journal op '" + out.op + "'");
    out.step = j.at("step").get<int>();
    out.step_name = j.at("step_name").get<std::string>();
    out.recovering = j.value("recovering", false);
    out.started_wall_ms = j.at("started_wall_ms").get<int64_t>();
    out.autoprobe_before = j.value("autoprobe_before", j.contains("upgrade") ? j["upgrade"].value("autoprobe_before", true) : true);
    for (const auto& e : j.at("vbds")) {
        Entry en;
        en.id.domid = e.at("domid").get<uint32_t>();
        en.id.devid = e.at("devid").get<uint32_t>();
        if (en.id.domid > max_domid) return fail(Errc::bad_value, "journal domid out of range");
        en.unbound_wall_ms = e.at("unbound_wall_ms").get<int64_t>();
        if (!e.at("state_before").is_null()) {
            auto st = parse_xenbus_state(std::to_string(e["state_before"].get<int>()));
            if (!st) return fail(Errc::bad_value, "journal state_before out of range");
            en.state_before = *st;
        }
        out.vbds.push_back(en);
    }
    if (out.op == "upgrade") {
        const auto& u = j.at("upgrade");
        out.target_path = u.at("target_path").get<std::string>();
        out.target_params = u.at("target_params").get<std::map<std::string, std::string>>();
        out.rollback_path = u.at("rollback_path").get<std::string>();
        out.old_params = u.at("old_params").get<std::map<std::string, std::string>>();
        if (!u.at("old_srcversion").is_null()) out.old_srcversion = u["old_srcversion"].get<std::string>();
    }
    return out;
} catch (const json::exception& e) {
    return fail(Errc::bad_value, std::string("journal is damaged: ") + e.what());
}

Result<std::optional<Journal>> read_journal(StateDir& dir) {
    auto text = VBD_TRY(dir.read_journal());
    if (!text) return std::optional<Journal>{};
    auto j = Journal::parse(*text);
    if (!j)
        return fail(Errc::bad_value, j.error().what, dir.path() + "/journal.json",
                    "run `vbdctl recover --from-live`: it rebuilds the recovery from the live host without the journal");
    return std::optional(std::move(*j));
}

JournalMeaning describe(const Journal& j) {
    JournalMeaning m;
    m.left_unbound = j.op == "unbind" && j.step_name == "unbound" && !j.recovering;
    m.what = m.left_unbound ? std::to_string(j.vbds.size()) + " vbd(s) left unbound by `vbdctl unbind`"
                            : "an unfinished " + j.op + (j.recovering ? " recovery" : "") + " (stopped at step " +
                                  std::to_string(j.step) + " " + j.step_name + ")";
    m.hint = m.left_unbound ? "bind them with `vbdctl bind`, or run `vbdctl recover`" : "run `vbdctl recover` first";
    return m;
}

bool RunState::unfinished() const {
    if (!journal_error.empty()) return true;
    return journal && !lock_holder && !describe(*journal).left_unbound;
}

Result<RunState> run_state(StateDir& dir) {
    RunState r;
    if (auto free = dir.lock_free(); !free) {
        if (free.error().code != Errc::busy) return std::unexpected(free.error());
        r.lock_holder = free.error().what;
    }
    if (auto j = read_journal(dir); !j)
        r.journal_error = j.error().message();
    else
        r.journal = std::move(*j);
    return r;
}

Result<void> refuse_if_journal(StateDir& dir, bool allow_unbound) {
    auto jr = read_journal(dir);
    if (!jr)
        return fail(Errc::refused, "refusing: the journal of an earlier run is unreadable (" + jr.error().what + ")",
                    jr.error().object, jr.error().hint);
    const auto& j = *jr;
    if (!j) return {};
    auto m = describe(*j);
    if (m.left_unbound && allow_unbound) return {};
    return fail(Errc::refused, "refusing: " + m.what, dir.path() + "/journal.json", m.hint);
}

} // namespace vbd
