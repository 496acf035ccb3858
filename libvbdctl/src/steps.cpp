#include "vbdctl/steps.hpp"

namespace vbd {

namespace {

// The run's trail in the system log (Host::audit): written as it goes, so that a killed run
// leaves its plan and the steps it reached.
class Trail {
  public:
    Trail(Host& host, const Journal& j, const RunLog& log)
        : host_(host), op_(!log.op.empty() ? log.op : j.recovering ? "recover" : j.op) {
        for (const auto& e : j.vbds) vbds_.push_back(e.id.sysfs_name());
        if (!log.vbds.empty()) vbds_.clear();
        for (const auto& id : log.vbds) vbds_.push_back(id.sysfs_name());
    }
    void write(AuditRecord::Event ev, int step, std::string name, bool ok, std::string message) {
        host_.audit.record({ev, op_, step, std::move(name), ok, vbds_, std::move(message)});
    }

    size_t vbd_count() const { return vbds_.size(); }

  private:
    Host& host_;
    std::string op_;
    std::vector<std::string> vbds_;
};

} // namespace

PlanRun run_steps(Host& host, Journal& journal, std::vector<Step>& steps, const RunControl& ctl,
                  bool clear_on_success, const RunLog& log) {
    PlanRun run;
    Trail trail(host, journal, log);
    {
        std::string plan;
        for (size_t i = 0; i < steps.size(); ++i) plan += (i ? ", " : "") + std::to_string(i + 1) + " " + steps[i].name;
        trail.write(AuditRecord::Event::plan, 0, {}, true,
                    "plan: " + plan + " (" + std::to_string(trail.vbd_count()) + " vbds)");
    }
    auto result = [&](const PlanRun& r) {
        if (!r.ok && log.after_failure) log.after_failure(r);
        std::string m = r.ok ? (r.interrupted ? "result: done, then interrupted" : "result: done")
                             : "result: failed: " + (r.error ? r.error->message() : std::string("?"));
        if (!r.ok) m += r.held ? "; stopped there, the journal is kept (vbdctl recover)"
                               : r.undone ? "; undone" : "; not all undone, the journal is kept (vbdctl recover)";
        if (log.actions && !log.actions->empty()) {
            m += "; actions:";
            for (const auto& a : *log.actions) m += " " + a + ";";
            m.pop_back();
        }
        trail.write(AuditRecord::Event::result, 0, {}, r.ok, m);
    };
    size_t reached = 0; // steps whose apply began
    for (; reached < steps.size(); ++reached) {
        Step& s = steps[reached];
        if (s.stoppable && ctl.stopping()) {
            run.interrupted = true;
            run.error = Error{Errc::interrupted, "interrupted by a signal before step " + s.name, {}, {}};
            break;
        }
        journal.step = static_cast<int>(reached) + 1;
        journal.step_name = s.name;
        if (auto w = host.state.write_journal(journal.to_text()); !w) {
            run.error = w.error(); // nothing of this step ran: undo the completed ones
            break;
        }
        ctl.report({s.name, reached + 1, steps.size(), s.does, ProgressEvent::Kind::step});
        trail.write(AuditRecord::Event::step, journal.step, s.name, true, "step " + std::to_string(journal.step) + " " + s.name + ": " + s.does);
        auto t0 = host.clock.now();
        auto r = s.apply();
        run.steps.push_back({journal.step, s.name, r.has_value(), (host.clock.now() - t0).count(),
                             r ? "" : r.error().message()});
        ctl.report({s.name, reached + 1, steps.size(), run.steps.back().detail, ProgressEvent::Kind::step_end});
        trail.write(AuditRecord::Event::step_end, journal.step, s.name, r.has_value(),
                    "step " + std::to_string(journal.step) + " " + s.name + (r ? ": ok in " : ": FAILED in ") +
                        std::to_string(run.steps.back().ms) + " ms" + (r ? "" : ": " + r.error().message()));
        if (r) continue;
        run.error = r.error();
        if (s.on_failure == OnFailure::hold) {
            run.held = true;
            result(run);
            return run;
        }
        ++reached; // the failed step may be half done: its undo runs too
        break;
    }
    if (!run.error) {
        if (clear_on_success)
            if (auto c = host.state.clear_journal(); !c) {
                run.error = c.error();
                result(run);
                return run;
            }
        run.ok = true;
        run.interrupted = ctl.stopping();
        result(run);
        return run;
    }
    // Undo in reverse. An undo that fails stops the undoing: what is before it may depend
    // on it (binding needs the module its undo was to load). The journal stays.
    bool all_undone = true;
    for (size_t k = reached; k-- > 0;) {
        Step& s = steps[k];
        if (!s.undo || (!all_undone && !s.undo_always)) continue;
        auto t0 = host.clock.now();
        auto u = s.undo();
        run.steps.push_back({static_cast<int>(k) + 1, "undo " + s.name, u.has_value(),
                             (host.clock.now() - t0).count(), u ? s.undo_does : u.error().message()});
        trail.write(AuditRecord::Event::undo, static_cast<int>(k) + 1, s.name, u.has_value(),
                    "undo " + s.name + ": " + (u ? s.undo_does : "could not undo: " + u.error().message()));
        if (u) {
            run.undo_log.push_back(s.name + ": " + s.undo_does);
            continue;
        }
        run.undo_log.push_back(s.name + ": could not undo: " + u.error().message());
        all_undone = false;
    }
    run.undone = all_undone;
    if (all_undone) {
        if (auto c = host.state.clear_journal(); !c) {
            run.undo_log.push_back("could not remove the journal: " + c.error().message());
            run.undone = false;
        }
    } else {
        run.undo_log.push_back("the journal is kept: run `vbdctl recover`");
    }
    result(run);
    return run;
}

} // namespace vbd
