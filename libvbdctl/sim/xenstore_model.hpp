#pragma once
// The simulated xenstored: a tree of nodes, a write sequence and a bounded change log that
// watchers in other processes read.
//
// A loaded world keeps its nodes as the state file's text (sorted "path<TAB>value" lines,
// indexed by offset) and records only what changes since in an overlay, so a command that
// reads a few nodes of a 10,000-vbd world does not rebuild the whole tree, and saving copies
// the untouched runs of lines as they are.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vbdctl/error.hpp"

namespace vbd::sim {

class XenstoreModel {
  public:
    std::optional<std::string> read(std::string_view path) const;
    bool exists(std::string_view path) const;
    std::optional<std::vector<std::string>> directory(std::string_view path) const;
    /// Like xenstored, writing a node creates its missing parents with empty values.
    void write(std::string_view path, std::string_view value);
    /// Removes the node and everything under it.
    void remove(std::string_view path);

    uint64_t seq() const { return seq_; }
    /// Writes since seq (exclusive) as (seq, path); (0, "/") first when the log no longer
    /// reaches back that far (the watcher must rescan).
    std::vector<std::pair<uint64_t, std::string>> changes_since(uint64_t seq) const;

    /// The two sections of the state file this model owns. The nodes section is pieces to
    /// write in order: runs of the loaded file's lines, as they are, between the changed
    /// nodes' lines, formatted into scratch. Both must outlive the pieces' use, and the
    /// model must not change meanwhile.
    std::vector<std::string_view> nodes_section(std::string& scratch) const;
    std::string log_section() const;
    /// file holds the whole state file; [nodes_at, nodes_at + nodes_len) and the log section
    /// follow the header. Errc::bad_value when a section is damaged.
    static Result<XenstoreModel> load(std::string file, size_t nodes_at, size_t nodes_len, size_t log_at,
                                      size_t log_len, uint64_t seq);

  private:
    struct Line {
        std::string_view key;
        std::string_view value; ///< escaped, as in the file
    };
    Line line(size_t i) const;
    /// Index of the first base line whose key is >= key.
    size_t base_lower_bound(std::string_view key) const;
    std::optional<std::string_view> base_value(std::string_view key) const;
    void log_change(std::string_view path);
    void parse_log() const;
    /// Calls f(child) for each direct child name under prefix ("/a/b/") in one source.
    void base_children(const std::string& prefix, const std::function<void(std::string_view)>& f) const;

    std::string file_;           ///< the loaded state file (only its nodes section is used)
    struct Indexed {
        uint32_t at;       ///< where the line starts in file_
        uint32_t key_len;  ///< up to the tab
        uint32_t line_len; ///< up to and with the newline
    };
    std::vector<Indexed> base_; ///< the nodes section's lines, sorted by key
    /// Nodes changed since load; nullopt is a node removed.
    std::map<std::string, std::optional<std::string>, std::less<>> overlay_;
    uint64_t seq_ = 0;
    /// The change log, parsed from log_text_ only when first needed (a read-only command
    /// never needs it).
    mutable std::deque<std::pair<uint64_t, std::string>> log_;
    mutable std::string log_text_;
};

} // namespace vbd::sim
