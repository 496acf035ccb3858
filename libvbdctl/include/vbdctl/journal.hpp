#pragma once
/// The journal: what a mutating run is doing, written before each step so that a run
/// interrupted by a crash can be finished by `vbdctl recover`.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vbdctl/ports.hpp"
#include "vbdctl/types.hpp"

namespace vbd {

/// What a journal holds: the mutation in progress, the vbds it concerns, the step reached.
/// A journal of op "unbind" that is not mid-step records vbds deliberately left unbound by
/// `vbdctl unbind`.
struct Journal {
    struct Entry {
        VbdId id;
        int64_t unbound_wall_ms = 0; ///< when vbdctl unbound it (0: not yet)
        std::optional<XenbusState> state_before;
    };
    std::string op; ///< "unbind", "bind", "rebind" or "upgrade"
    int step = 0;
    std::string step_name;
    bool recovering = false; ///< step and step_name are `recover`'s own
    int64_t started_wall_ms = 0;
    std::vector<Entry> vbds;
    /// drivers_autoprobe before the run (bus-wide: it also governs netback); restored at
    /// the end of the run or of its recovery, never re-read once a run has started.
    bool autoprobe_before = true;
    // upgrade only
    std::string target_path;
    std::map<std::string, std::string> target_params;
    std::string rollback_path;
    std::map<std::string, std::string> old_params;
    std::optional<std::string> old_srcversion;

    /// A fresh journal for op, started now.
    static Journal begin(std::string op, int64_t wall_ms, bool autoprobe_before);
    std::string to_text() const;
    /// Errc::bad_value for anything but a journal this version of vbdctl wrote.
    static Result<Journal> parse(std::string_view text);
};

/// What a journal means to an operator: vbds `vbdctl unbind` left unbound on purpose, or an
/// unfinished run; one sentence, and what to do about it.
struct JournalMeaning {
    bool left_unbound = false;
    std::string what;
    std::string hint;
};
JournalMeaning describe(const Journal& j);

/// Reads the journal; nullopt when there is none. A damaged one is Errc::bad_value with
/// the hint to run `vbdctl recover --from-live`.
[[nodiscard]] Result<std::optional<Journal>> read_journal(StateDir& dir);
/// What the state directory says about runs, as status and metrics report it.
struct RunState {
    std::optional<Journal> journal;         ///< an unfinished run, or vbds left unbound
    std::string journal_error;              ///< a journal that cannot be read
    std::optional<std::string> lock_holder; ///< "pid 123" while another run holds the lock
    /// A run to recover: a journal no run holds the lock for (under a held lock it is a run in
    /// progress), other than vbds left unbound on purpose; or an unreadable journal.
    bool unfinished() const;
};
[[nodiscard]] Result<RunState> run_state(StateDir& dir);

/// Errc::refused naming the unfinished run, when a journal exists (other than a finished
/// `unbind` journal when allow_unbound).
[[nodiscard]] Result<void> refuse_if_journal(StateDir& dir, bool allow_unbound = false);

} // namespace vbd
