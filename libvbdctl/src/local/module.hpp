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

#include "../try.hpp"
#include "vbdctl/local.hpp"

namespace vbd::local {

struct Module {
    const char* version; ///< the project version both sides were built as
    Result<std::unique_ptr<LocalHost>> (*open_host)(const LocalOptions& opts);
    Result<std::string> (*modprobe_options)(const std::vector<std::string>& config_dirs, std::string_view name);
};

/// Loads the module once per process; later calls return the same result.
Result<const Module*> module();

/// dlopen()s vbdctl/FILE next to libvbdctl.so (RTLD_NOW: a missing symbol fails here, not
/// mid-command) and returns what its extern "C" function `entry` returns. Never unloaded.
Result<const void*> load_entry(const char* file, const char* entry);

/// load_entry() of a part whose entry returns a const Part* with a `version` member, which
/// must be this build's.
template <class Part>
Result<const Part*> load_part(const char* file, const char* entry) {
    auto p = static_cast<const Part*>(VBD_TRY(load_entry(file, entry)));
    if (std::string_view(p->version) != VBDCTL_VERSION)
        return fail(Errc::io, std::string("vbdctl/") + file + " is not of this libvbdctl (" VBDCTL_VERSION ")", {},
                    "reinstall libvbdctl0");
    return p;
}

} // namespace vbd::local

/// The module's one entry point (unmangled, so dlsym finds it by this name).
extern "C" const vbd::local::Module* vbdctl_local_module();
