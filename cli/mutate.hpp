#pragma once
// What every mutating command shares: confirmation, signals, progress lines.

#include <atomic>
#include <string>

#include "app.hpp"
#include "vbdctl/lifecycle.hpp"

namespace vbdcli {

/// Asks on a TTY unless yes; without a TTY, yes is required (a usage error otherwise). An
/// answer other than yes is an error: nothing was changed.
vbd::Result<void> confirm(const Context& c, bool yes, const std::string& question);

/// Installs SIGINT/SIGTERM handlers that ask the running service to stop at a safe point,
/// and returns a RunControl that says each step on stderr (unless --quiet): one line per
/// step, so a killed run leaves what it reached; on a terminal, a line that advances per vbd.
vbd::RunControl mutation_control(const Context& c);

/// Whether a stop was requested by a signal.
bool stop_requested();

} // namespace vbdcli
