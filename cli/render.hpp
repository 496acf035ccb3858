#pragma once
// JSON and text renderings of the library's results. JSON is built as objects, never strings.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vbdctl/health.hpp"
#include "vbdctl/inventory.hpp"

namespace vbdcli {

nlohmann::json vbd_json(const vbd::Vbd& v, bool full);
nlohmann::json check_json(const vbd::VbdCheck& c);
nlohmann::json module_json(const std::optional<vbd::LoadedModule>& m);

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
