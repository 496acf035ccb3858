// Finds and loads the real host's adapters (src/local, built as vbdctl/local.so).

#include <dlfcn.h>

#include <cstring>
#include <filesystem>

#include "local/module.hpp"
#include "try.hpp"

namespace vbd {

namespace local {

namespace {

// vbdctl/local.so in the directory this library was loaded from: the build tree's
// libvbdctl/ or the installed /usr/lib/<triplet>/.
Result<std::string> module_path() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&module), &info) == 0 || !info.dli_fname)
        return fail(Errc::io, "cannot tell where libvbdctl was loaded from (dladdr failed)");
    return (std::filesystem::path(info.dli_fname).parent_path() / "vbdctl" / "local.so").string();
}

Result<const Module*> load() {
    std::string path = VBD_TRY(module_path());
    // RTLD_NOW: a missing symbol (a Xen library of another ABI) fails here, not mid-command.
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* why = dlerror();
        // dlerror names the path.
        return fail(Errc::io, std::string("cannot load the real host's adapters: ") + (why ? why : path),
                    {}, "reinstall libvbdctl0; --host sim needs no adapters");
    }
    auto entry = reinterpret_cast<const Module* (*)()>(dlsym(h, "vbdctl_local_module"));
    const Module* m = entry ? entry() : nullptr;
    if (!m || std::strcmp(m->version, VBDCTL_VERSION) != 0)
        return fail(Errc::io, "the real host's adapters are not of this libvbdctl (" VBDCTL_VERSION ")", path,
                    "reinstall libvbdctl0");
    return m; // never unloaded: its objects live until exit
}

} // namespace

Result<const Module*> module() {
    static const Result<const Module*> loaded = load();
    return loaded;
}

} // namespace local

Result<std::unique_ptr<LocalHost>> LocalHost::open(const LocalOptions& opts) {
    return VBD_TRY(local::module())->open_host(opts);
}

} // namespace vbd
