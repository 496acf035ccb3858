#pragma once
// The file-backed RunHistory: one JSON file per kept run in a directory.

#include <string>

#include "vbdctl/ports.hpp"

namespace vbd {

class FileRunHistory final : public RunHistory {
  public:
    explicit FileRunHistory(std::string dir) : dir_(std::move(dir)) {}
    Result<std::string> keep(const RunRecord& r) override;
    Result<std::vector<RunRecord>> list() override;
    Result<RunRecord> read(std::string_view id) override;
    std::string path() const override { return dir_; }

  private:
    Result<std::vector<std::string>> ids();
    std::string dir_;
};

} // namespace vbd
