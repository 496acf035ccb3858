// Finds and loads the real host's adapters (src/local, built as vbdctl/local.so and the parts
// of parts.hpp).

#include <dlfcn.h>

#include <filesystem>

#include "local/module.hpp"
#include "try.hpp"

namespace vbd {

namespace local {

namespace {

// vbdctl/ in the directory this library was loaded from: the build tree's libvbdctl/ or the
// installed /usr/lib/<triplet>/.
Result<std::string> module_dir() {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&module), &info) == 0 || !info.dli_fname)
        return fail(Errc::io, "cannot tell where libvbdctl was loaded from (dladdr failed)");
    return (std::filesystem::path(info.dli_fname).parent_path() / "vbdctl").string();
}

} // namespace

Result<const void*> load_entry(const char* file, const char* entry) {
    std::string path = VBD_TRY(module_dir()) + "/" + file;
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* why = dlerror();
        // dlerror names the path.
        return fail(Errc::io, std::string("cannot load the real host's adapters: ") + (why ? why : path),
                    {}, "reinstall libvbdctl0; --host sim needs no adapters");
    }
    auto f = reinterpret_cast<const void* (*)()>(dlsym(h, entry));
    const void* p = f ? f() : nullptr;
    if (!p) return fail(Errc::io, std::string("no ") + entry + " in " + path, {}, "reinstall libvbdctl0");
    return p; // never unloaded: its objects live until exit
}

Result<const Module*> module() {
    static const Result<const Module*> loaded = load_part<Module>("local.so", "vbdctl_local_module");
    return loaded;
}

} // namespace local

Result<std::unique_ptr<LocalHost>> LocalHost::open(const LocalOptions& opts) {
    return VBD_TRY(local::module())->open_host(opts);
}

} // namespace vbd
