#pragma once
// The simulated module loader, for xen-blkback: the module files under the running kernel's
// module directories (and elsewhere), which one is loaded with which parameters, and the
// kernel's checks at init_module (vermagic, signatures, parameter values). Who holds
// references to the loaded module is the blkback model's business: refcounts come in.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vbdctl/error.hpp"
#include "vbdctl/ports.hpp"
#include "vbdctl/sim.hpp"

namespace vbd::sim {

struct ModuleLoad {
    std::string path;
    std::map<std::string, std::string> params; ///< every parameter, with defaults filled in
};

class ModulesModel {
  public:
    /// The stock module (signed, loaded), a local update and an old copy, for opts.kernel.
    static ModulesModel make(const InitOptions& opts, unsigned cpus);
    /// The value /sys/module/xen_blkback/parameters/NAME would show after setting v (bools as
    /// Y/N); nullopt where the kernel refuses it (-EINVAL) or there is no such parameter.
    static std::optional<std::string> param_value(const std::string& name, const std::string& v);

    bool loaded() const { return module_.has_value(); }
    /// What lsmod and /sys/module show, with the refcount the references' holders add up.
    std::optional<vbd::LoadedModule> loaded_module(int refcnt) const;
    Result<ModuleFile> file(const std::string& path) const;
    const std::map<std::string, ModuleFile>& files() const { return files_; }
    std::string modprobe_path() const;
    /// The module files under the running kernel's module directories, modprobe's first.
    std::vector<std::string> files_of_kernel() const;
    /// init_module; failing() is asked (and may consume the module-load-fail fault) once the
    /// file has passed the kernel's checks up to allocating the module.
    Result<void> load(const std::string& path, const std::map<std::string, std::string>& params, unsigned cpus,
                      const std::function<bool()>& failing);
    Result<void> unload(int refcnt);
    Result<std::string> copy_file(const std::string& path, const std::string& dir);
    /// A write to /sys/module/xen_blkback/parameters/NAME (only the 0644 ones).
    Result<void> write_param(const std::string& name, const std::string& value);
    unsigned param_uint(const std::string& name, unsigned fallback) const;
    bool param_bool(const std::string& name) const;

    void to_json(nlohmann::json& j) const;
    /// Throws nlohmann::json::exception on a damaged section (persistence catches it).
    static ModulesModel from_json(const nlohmann::json& j);

    std::string release;  ///< the running kernel's
    bool builtin = false; ///< xen-blkback built in: loaded for good, no refcount
    std::optional<std::string> signature_enforcement; ///< "sig_enforce", "lockdown integrity"

  private:
    std::optional<ModuleLoad> module_;
    std::map<std::string, ModuleFile> files_; ///< by path
};

} // namespace vbd::sim
