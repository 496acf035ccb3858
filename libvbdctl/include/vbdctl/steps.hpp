#pragma once
/// The step engine: every mutating command is a list of typed steps. The same list is what
/// `--dry-run` prints, what running executes (journaling each step before it runs), and
/// what a failure undoes in reverse.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vbdctl/journal.hpp"
#include "vbdctl/reattach.hpp"

namespace vbd {

/// What the engine does when a step fails.
enum class OnFailure {
    undo, ///< undo this step and every completed one, in reverse
    hold, ///< stop where it is, keep the journal: undoing would be unsafe (`recover` resumes)
};

struct Step {
    std::string name;      ///< journaled as step_name: "unbind", "drain", ...
    std::string does;      ///< what apply does, one line (the dry-run plan)
    std::string undo_does; ///< what undo does, or "none needed"
    std::function<Result<void>()> apply;
    std::function<Result<void>()> undo; ///< empty: none needed
    OnFailure on_failure = OnFailure::undo;
    /// A stop request (SIGINT/SIGTERM) seen before this step undoes the run; before a step
    /// that is not stoppable the run goes on to its end (the nearest safe state).
    bool stoppable = true;
    /// Its undo runs even after a later step's undo failed (it depends on nothing they do:
    /// restoring drivers_autoprobe).
    bool undo_always = false;
};

/// A step as `--dry-run` shows it.
struct StepInfo {
    std::string name;
    std::string does;
    std::string undo_does;
};

struct StepRecord {
    int number = 0;
    std::string name;
    bool ok = false;
    int64_t ms = 0;
    std::string detail;
};

struct PlanRun {
    bool ok = false;
    bool held = false;        ///< stopped at a failed hold step; the journal is kept
    bool undone = false;      ///< the failure was undone (every undo succeeded)
    bool interrupted = false; ///< a stop request ended or shortened the run
    std::optional<Error> error;
    std::vector<StepRecord> steps;
    std::vector<std::string> undo_log; ///< what each undo did, or why it failed
};

/// What a run does beside its steps, for the result record of its audit trail.
struct RunLog {
    std::vector<std::string>* actions = nullptr; ///< what the steps say they did, as they do it
    /// After a failure, before the result is recorded: what the caller puts back whatever
    /// failed (recover: drivers_autoprobe), saying so in *actions.
    std::function<void(const PlanRun&)> after_failure;
    /// The vbds the run concerns, when its journal does not list them yet (a one-vbd command
    /// journals its vbd as step 1 unbinds it); empty: the journal's.
    std::vector<VbdId> vbds;
    /// The command, when it is not the journal's op (bind finishes unbind's journal).
    std::string op;
};

/// Runs steps in order. Before step k it writes the journal with step k (then the step's
/// own writes may refine it). On success the journal is cleared when clear_on_success. On
/// failure: a hold step stops there; otherwise every undo runs, from the failed step back
/// to the first, and the journal is cleared only when all of them succeeded. The audit
/// trail gets the plan, each step and undo, and the result with log's actions.
PlanRun run_steps(Host& host, Journal& journal, std::vector<Step>& steps, const RunControl& ctl,
                  bool clear_on_success = true, const RunLog& log = {});

} // namespace vbd
