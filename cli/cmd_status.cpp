// vbdctl status: one screen about this backend domain (vbd::host_status), and the last run.

#include <sstream>

#include "app.hpp"
#include "render.hpp"
#include "vbdctl/status.hpp"

namespace vbdcli {

namespace {

using json = nlohmann::json;

json opt(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }
std::string or_dash(const std::optional<std::string>& s) { return s && !s->empty() ? *s : "-"; }

json status_json(Context& c, const vbd::HostStatus& s, const std::optional<vbd::RunRecord>& last) {
    json j;
    json fixes = json::array();
    for (const auto& f : s.kernel_fixes) fixes.push_back({{"name", f.name}, {"ok", f.ok}, {"detail", f.detail}});
    j["kernel"] = {{"release", s.kernel_release},
                   {"rebind_supported", s.rebind.supported},
                   {"rebind_evidence", s.rebind.evidence},
                   {"fixes", fixes}};
    j["module"] = module_json(s.module, s.module_file ? s.module_file->params : std::vector<vbd::ModuleParam>{});
    j["module_taint"] = s.module ? json(s.module->taint) : json(nullptr);
    j["params_changed"] = json::array();
    for (const auto& p : s.params_changed)
        j["params_changed"].push_back({{"name", p.name}, {"value", p.value}, {"default", p.default_value}});
    if (s.module_file) {
        const auto& f = *s.module_file;
        j["module_file"] = {{"path", f.path},
                            {"srcversion", opt(f.srcversion)},
                            {"version", opt(f.version)},
                            {"signer", opt(f.signer)},
                            {"sig_key", opt(f.sig_key)},
                            {"is_loaded", s.module && s.module->srcversion && f.srcversion == s.module->srcversion}};
    } else {
        j["module_file"] = nullptr;
    }
    j["module_file_error"] = s.module_file_error.empty() ? json(nullptr) : json(s.module_file_error);
    j["drivers_autoprobe"] = s.autoprobe ? json(*s.autoprobe) : json(nullptr);
    j["vbds"] = {{"total", s.vbds}, {"bound", s.bound}, {"unbound", s.unbound}, {"by_backend_state", s.by_backend_state}};
    j["failing_rings"] = json::array();
    for (const auto& f : s.failing) j["failing_rings"].push_back(check_json(f));
    if (s.run.journal) {
        auto m = vbd::describe(*s.run.journal);
        json names = json::array();
        for (const auto& e : s.run.journal->vbds) names.push_back(e.id.sysfs_name());
        j["journal"] = {{"op", s.run.journal->op},       {"step", s.run.journal->step},     {"step_name", s.run.journal->step_name},
                        {"recovering", s.run.journal->recovering}, {"vbds", names}, {"in_progress", s.run.lock_holder.has_value()},
                        {"meaning", m.what},         {"hint", m.hint}};
    } else {
        j["journal"] = nullptr;
    }
    j["journal_error"] = s.run.journal_error.empty() ? json(nullptr) : json(s.run.journal_error);
    j["lock"] = {{"held", s.run.lock_holder.has_value()}, {"holder", opt(s.run.lock_holder)}, {"path", c.host->state.path() + "/lock"}};
    j["last_run"] = last ? run_summary_json(*last) : json(nullptr);
    j["healthy"] = s.problems.empty();
    j["problems"] = s.problems;
    return j;
}

std::string status_text(const vbd::HostStatus& s, const std::optional<vbd::RunRecord>& last) {
    std::ostringstream o;
    o << "kernel     rebind " << (s.rebind.supported ? "supported" : "NOT supported") << ": " << s.rebind.evidence << "\n";
    for (const auto& f : s.kernel_fixes)
        if (!f.ok) o << "           hazard: " << f.detail << "\n";
    if (s.module) {
        const auto& m = *s.module;
        o << "module     xen_blkback " << (m.builtin ? "built in" : "loaded") << ", srcversion " << or_dash(m.srcversion)
          << ", version " << or_dash(m.version) << ", refcnt " << m.refcnt << ", taint " << (m.taint.empty() ? "-" : m.taint)
          << "\n";
    } else {
        o << "module     xen_blkback not loaded\n";
    }
    if (s.params_changed.empty()) {
        if (s.module) o << "           parameters: the defaults\n";
    } else {
        o << "           parameters not at their defaults:";
        for (const auto& p : s.params_changed) o << " " << p.name << "=" << p.value << " (default " << p.default_value << ")";
        o << "\n";
    }
    if (s.module_file)
        o << "           modprobe loads " << s.module_file->path << ", srcversion " << or_dash(s.module_file->srcversion)
          << ", signer " << or_dash(s.module_file->signer) << "\n";
    else
        o << "           modprobe loads: " << s.module_file_error << "\n";
    o << "vbds       " << s.vbds << ": ";
    bool first = true;
    for (const auto& [state, n] : s.by_backend_state) {
        o << (first ? "" : ", ") << n << " " << state;
        first = false;
    }
    o << (s.vbds ? "; " : "") << s.bound << " bound, " << s.unbound << " unbound"
      << "; drivers_autoprobe " << (s.autoprobe ? (*s.autoprobe ? "1" : "0") : "unreadable") << "\n";
    o << "rings      " << (s.failing.empty() ? "none stuck or inconsistent" : std::to_string(s.failing.size()) + " vbd(s) failing")
      << "\n";
    if (s.run.journal)
        o << "journal    " << vbd::describe(*s.run.journal).what << (s.run.lock_holder ? " (in progress)" : "") << "\n";
    else
        o << "journal    " << (s.run.journal_error.empty() ? "none" : "unreadable: " + s.run.journal_error) << "\n";
    o << "lock       " << (s.run.lock_holder ? "held: " + *s.run.lock_holder : "free") << "\n";
    if (last && last->damaged.empty())
        o << "last run   " << last->command << ", ended " << wall_text(last->ended) << ", " << run_result_text(*last)
          << " (vbdctl history " << last->id << ")\n";
    else
        o << "last run   " << (last ? "damaged: " + last->damaged : "none kept") << "\n";
    if (s.problems.empty()) {
        o << "healthy\n";
    } else {
        o << "problems:\n";
        for (const auto& p : s.problems) o << "  " << p << "\n";
    }
    return o.str();
}

Reply run_status(Context& c) {
    auto s = vbd::host_status(*c.host, {2, vbd::Millis(200)});
    if (!s) return failure(s.error());
    auto last = last_run(c);
    Reply out;
    out.data = status_json(c, *s, last);
    out.text = status_text(*s, last);
    return out;
}

} // namespace

void add_status(CLI::App& app, Command& cmd) {
    auto* sub = app.add_subcommand("status", "One screen: kernel, module, vbds by state, failing rings, journal, "
                                             "lock and the last run");
    sub->callback([&cmd] { cmd.run = [](Context& c) { return run_status(c); }; });
}

} // namespace vbdcli
