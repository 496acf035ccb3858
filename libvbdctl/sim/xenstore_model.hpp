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
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "file_bytes.hpp"
#include "vbdctl/error.hpp"

namespace vbd::sim {

class XenstoreModel {
  public:
    std::optional<std::string> read(std::string_view path) const;
    /// read() of dir/KEY for each key, in the order of keys.
    std::vector<std::optional<std::string>> read_many(std::string_view dir, std::span<const std::string_view> keys) const;
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
    static Result<XenstoreModel> load(FileBytes file, size_t nodes_at, size_t nodes_len, size_t log_at,
                                      size_t log_len, uint64_t seq);

  private:
    /// A line of the loaded nodes section, found by its offset in nodes_.
    struct Line {
        std::string_view key;
        std::string_view value; ///< escaped, as in the file
        size_t next;            ///< where the next line starts
    };
    Line line(size_t at) const;
    /// Offset of the first base line whose key is >= key (nodes_.size() when none is).
    size_t base_lower_bound(std::string_view key) const;
    /// The first line in [at, end) whose key is >= key, or end; nullopt once budget lines
    /// were passed.
    std::optional<size_t> walk(size_t at, size_t end, std::string_view key, size_t budget = SIZE_MAX) const;
    std::optional<std::string_view> base_value(std::string_view key) const;
    /// The value of key's base line, if the line at `at` is that line.
    std::optional<std::string_view> value_at(size_t at, std::string_view key) const;
    void log_change(std::string_view path);
    void parse_log() const;
    /// Calls f(child) for each direct child name under prefix ("/a/b/") in one source.
    void base_children(const std::string& prefix, const std::function<void(std::string_view)>& f) const;

    FileBytes file_; ///< the loaded state file, which the views below point into
    /// The nodes section: sorted "key<TAB>value" lines.
    std::string_view nodes_;
    /// Every mark_stride-th line of nodes_: a lookup searches these, then walks at most a
    /// stride of lines. A full index would be megabytes of fresh pages for a large world.
    static constexpr size_t mark_stride = 8;
    struct Mark {
        uint32_t at;      ///< where the line starts in nodes_
        uint32_t key_len; ///< up to the tab
    };
    std::vector<Mark> marks_;
    /// The mark the last lookup ended at, where the next one starts its search.
    mutable size_t hint_ = 0;
    /// Nodes changed since load; nullopt is a node removed.
    std::map<std::string, std::optional<std::string>, std::less<>> overlay_;
    uint64_t seq_ = 0;
    /// The change log, parsed from log_text_ only when first needed (a read-only command
    /// never needs it).
    mutable std::deque<std::pair<uint64_t, std::string>> log_;
    mutable std::string_view log_text_;
};

} // namespace vbd::sim
