#pragma once
// The file-backed StateDir: lock, journal and rollback copies in one directory.

#include <string>

#include "vbdctl/ports.hpp"

namespace vbd {

class FileStateDir final : public StateDir {
  public:
    explicit FileStateDir(std::string dir) : dir_(std::move(dir)) {}
    Result<std::unique_ptr<Lock>> lock() override;
    Result<void> lock_free() override;
    Result<std::optional<std::string>> read_journal() override;
    Result<void> write_journal(std::string_view text) override;
    Result<void> clear_journal() override;
    std::string path() const override { return dir_; }

  private:
    Result<void> ensure_dir();
    std::string dir_;
};

} // namespace vbd
