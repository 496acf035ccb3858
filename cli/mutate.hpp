#pragma once
// What every mutating command shares: confirmation, signals, progress lines.

#include <atomic>
#include <string>

#include "app.hpp"
#include "vbdctl/lifecycle.hpp"

namespace vbdcli {

/// Asks on a TTY unless yes; without a TTY, yes is required. Returns -1 to proceed,
/// otherwise the exit code to leave with.
int confirm(const Context& c, bool yes, const std::string& question);

/// Installs SIGINT/SIGTERM handlers that ask the running service to stop at a safe point,
/// and returns a RunControl that also prints progress lines on a TTY.
vbd::RunControl mutation_control(const Context& c);

/// Whether a stop was requested by a signal.
bool stop_requested();

} // namespace vbdcli
