#pragma once
// The real host's adapters are a loadable module, vbdctl/local.so next to libvbdctl.so,
// loaded the first time something needs them (--host local, or the simulator reading a
// modprobe.d through libkmod). So libvbdctl, the simulator and the CLI start without
// libxenstore, libxenlight, libkmod and what they pull in (libxenctrl, libcrypto, ...):
// about half of a command's start-up. The module is part of the same build: it refuses to
// be used by a libvbdctl of another version.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vbdctl/local.hpp"

namespace vbd::local {

struct Module {
    const char* version; ///< the project version both sides were built as
    Result<std::unique_ptr<LocalHost>> (*open_host)(const LocalOptions& opts);
    Result<std::string> (*modprobe_options)(const std::vector<std::string>& config_dirs, std::string_view name);
};

/// Loads the module once per process; later calls return the same result.
Result<const Module*> module();

} // namespace vbd::local

/// The module's one entry point (unmangled, so dlsym finds it by this name).
extern "C" const vbd::local::Module* vbdctl_local_module();
