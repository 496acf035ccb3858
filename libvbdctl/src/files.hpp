#pragma once
// Files that must survive a crash whole or not at all: the journal, kept run reports. Every
// function reports failures as Errc::io naming the path.

#include <optional>
#include <string>
#include <string_view>

#include "vbdctl/error.hpp"

namespace vbd::files {

/// mkdir -p: each missing component of dir is created with mode.
Result<void> make_dirs(const std::string& dir, unsigned mode);
/// Replaces dir/name atomically and durably with a file of mode: write a hidden temporary
/// (dir/.name.XXXXXX), fsync, rename, fsync dir. Nothing is left behind on failure.
Result<void> replace(const std::string& dir, std::string_view name, std::string_view text, unsigned mode);
/// The whole file; nullopt when it does not exist.
Result<std::optional<std::string>> read(const std::string& path);
/// Removes path (gone already is fine) and makes the removal durable.
Result<void> remove(const std::string& dir, std::string_view name);

} // namespace vbd::files
