#pragma once
/// Module parameters of a reload: what the new xen-blkback is loaded with, where each value
/// comes from, and what changes. By default a reload keeps the running module's values
/// (/sys/module/xen_blkback/parameters), then applies what modprobe's configuration says,
/// then the operator's --param values; nothing changes without a row saying so.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vbdctl/error.hpp"
#include "vbdctl/ports.hpp"

namespace vbd {

/// Where a parameter's value for the new module comes from.
enum class ParamSource {
    running, ///< carried over from the running module
    config,  ///< an `options` line of modprobe's configuration (modprobe.d)
    cli,     ///< --param
    reset,   ///< --reset-params: the new module's own default
};
std::string_view to_string(ParamSource s);

/// One parameter whose value the reload changes.
struct ParamChange {
    std::string name;
    std::string type;                  ///< modinfo parmtype ("bool", "int", "uint", "charp")
    std::optional<std::string> before; ///< the running module's value; nullopt: not loaded
    std::optional<std::string> after;  ///< nullopt: the new module's default (not known before the load)
    ParamSource source = ParamSource::cli;
};

/// What the operator asked for.
struct ParamRequest {
    std::map<std::string, std::string> overrides; ///< --param NAME=VALUE
    bool reset = false;                           ///< --reset-params: carry nothing over
    std::string config_options;                   ///< Modules::config_options of the module
};

/// The parameters a reload loads the new module with.
struct ParamPlan {
    std::map<std::string, std::string> load; ///< NAME=VALUE passed at load, normalized
    std::vector<ParamChange> changes;        ///< only parameters whose value changes
};

/// Checks one value against the parameter's parmtype (int, uint, bool, charp, ...) and the
/// range xen-blkback accepts; returns it as the kernel shows it back (bools as Y/N, numbers
/// in decimal). Errc::invalid_argument names the parameter and the accepted values.
Result<std::string> normalize_param(const ModuleParam& p, std::string_view value);

/// Splits a modprobe options string (`a=1 b="x y" c`) into NAME -> VALUE (a bare NAME is a
/// bool set to Y, as the kernel reads it).
std::map<std::string, std::string> split_module_options(std::string_view options);

/// Merges running values (those the target also has; unless req.reset), then the config
/// options, then the overrides; every value checked against the target's parmtype.
/// Errc::invalid_argument for an unknown --param or a bad value from any source.
Result<ParamPlan> plan_params(const std::optional<LoadedModule>& running, const ModuleFile& target,
                              const ParamRequest& req);

} // namespace vbd
