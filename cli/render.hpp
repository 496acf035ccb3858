#pragma once
// JSON and text renderings of the library's results. JSON is built as objects, never strings.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vbdctl/health.hpp"
#include "vbdctl/inventory.hpp"
#include "vbdctl/steps.hpp"
#include "json_out.hpp"

namespace vbdcli {

nlohmann::json vbd_json(const vbd::Vbd& v, bool full);
/// The same members written as text (list --json, a thousand vbds at a time).
void put_vbd(JsonText& o, const vbd::Vbd& v, bool full);
nlohmann::json check_json(const vbd::VbdCheck& c);
/// A module parameter's value typed by its parmtype: bools as booleans, integer types as
/// numbers, anything else (or an unknown type) as text; null for nullopt.
nlohmann::json param_json(std::string_view type, const std::optional<std::string>& value);
/// The loaded module; its parameters typed with `types` (modinfo of a file of the module).
nlohmann::json module_json(const std::optional<vbd::LoadedModule>& m,
                           const std::vector<vbd::ModuleParam>& types = {});
/// The parameter types of the module file modprobe resolves for xen_blkback (empty if none).
std::vector<vbd::ModuleParam> blkback_param_types(vbd::Host& host);

/// A plan's steps (what --dry-run prints and running executes): number, name, does, undo.
nlohmann::json plan_steps_json(const std::vector<vbd::StepInfo>& steps);
/// The same as text lines "  N name: does (undo: ...)".
std::string plan_steps_text(const std::vector<vbd::StepInfo>& steps);
/// Steps as they ran.
nlohmann::json step_records_json(const std::vector<vbd::StepRecord>& steps);

/// A left-aligned text table with a header row.
class Table {
  public:
    explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    std::string str() const;

  private:
    std::vector<std::vector<std::string>> rows_;
};

std::string state_name(const std::optional<vbd::XenbusState>& s);
/// "4x32" style: queues x ring entries, "-" when the rings are unknown.
std::string queues_text(const vbd::Vbd& v);

} // namespace vbdcli
