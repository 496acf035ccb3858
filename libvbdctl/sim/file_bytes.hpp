#pragma once
// The bytes of a loaded state file, shared by the models that index into them.

#include <memory>
#include <string>
#include <string_view>

#include "vbdctl/error.hpp"

namespace vbd::sim {

class FileBytes {
  public:
    FileBytes() = default;
    explicit FileBytes(std::string text);
    /// Maps size bytes of the regular file open on fd, read-only and private. Mapping instead
    /// of reading saves copying megabytes into fresh heap pages; it is safe because writers
    /// replace the state file by rename and never rewrite it in place.
    static Result<FileBytes> map(int fd, size_t size);

    std::string_view view() const { return view_; }

  private:
    std::shared_ptr<const void> owner_;
    std::string_view view_;
};

} // namespace vbd::sim
