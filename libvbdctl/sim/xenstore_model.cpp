#include "xenstore_model.hpp"

#include <algorithm>
#include <cstring>

#include "vbdctl/types.hpp"

namespace vbd::sim {

namespace {

constexpr size_t log_cap = 4096; // a watcher further behind rescans everything

bool under(std::string_view path, std::string_view top) {
    return path == top || (path.size() > top.size() && path.starts_with(top) && path[top.size()] == '/');
}

// Values (never paths: valid_path keeps them plain) may hold tab, newline and backslash;
// in the file a backslash escapes them.
void append_escaped(std::string& out, std::string_view s) {
    if (s.find_first_of("\\\t\n") == std::string_view::npos) {
        out += s;
        return;
    }
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\t') out += "\\t";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
}

// What append_escaped can have written: no tab, every backslash followed by a character.
bool well_escaped(std::string_view raw) {
    if (raw.find('\t') != std::string_view::npos) return false;
    for (size_t i = raw.find('\\'); i != std::string_view::npos; i = raw.find('\\', i + 2))
        if (i + 1 == raw.size()) return false;
    return true;
}

std::string unescape(std::string_view raw) {
    if (raw.find('\\') == std::string_view::npos) return std::string(raw);
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\') {
            out += raw[i];
            continue;
        }
        if (++i == raw.size()) break; // load() refused such a value
        out += raw[i] == 't' ? '\t' : raw[i] == 'n' ? '\n' : raw[i];
    }
    return out;
}

} // namespace

XenstoreModel::Line XenstoreModel::line(size_t at) const {
    // load() checked that every line has a tab and ends in a newline.
    size_t tab = nodes_.find('\t', at), nl = nodes_.find('\n', tab);
    return {nodes_.substr(at, tab - at), nodes_.substr(tab + 1, nl - tab - 1), nl + 1};
}

size_t XenstoreModel::base_lower_bound(std::string_view key) const {
    auto k = std::ranges::partition_point(
        marks_, [&](const Mark& m) { return nodes_.substr(m.at, m.key_len) < key; });
    // The line at the mark before k sorts below key; the one at k (or the end) does not.
    size_t at = k == marks_.begin() ? 0 : std::prev(k)->at;
    size_t end = k == marks_.end() ? nodes_.size() : k->at;
    while (at < end) {
        Line l = line(at);
        if (l.key >= key) return at;
        at = l.next;
    }
    return end;
}

std::optional<std::string_view> XenstoreModel::base_value(std::string_view key) const {
    size_t at = base_lower_bound(key);
    if (at == nodes_.size()) return std::nullopt;
    Line l = line(at);
    if (l.key != key) return std::nullopt;
    return l.value;
}

std::optional<std::string> XenstoreModel::read(std::string_view path) const {
    if (auto it = overlay_.find(path); it != overlay_.end()) return it->second;
    auto raw = base_value(path);
    if (!raw) return std::nullopt;
    return unescape(*raw); // load() checked every value unescapes
}

bool XenstoreModel::exists(std::string_view path) const {
    if (auto it = overlay_.find(path); it != overlay_.end()) return it->second.has_value();
    return base_value(path).has_value();
}

void XenstoreModel::base_children(const std::string& prefix, const std::function<void(std::string_view)>& f) const {
    for (size_t at = base_lower_bound(prefix); at < nodes_.size();) {
        Line l = line(at);
        if (!l.key.starts_with(prefix)) break;
        std::string_view rest = l.key.substr(prefix.size());
        size_t slash = rest.find('/');
        if (slash == std::string_view::npos) {
            f(rest);
            at = l.next;
            continue;
        }
        // A grandchild: skip the child's whole subtree ('0' sorts right after '/').
        at = base_lower_bound(prefix + std::string(rest.substr(0, slash)) + "0");
    }
}

std::optional<std::vector<std::string>> XenstoreModel::directory(std::string_view path) const {
    if (path != "/" && !exists(path)) return std::nullopt;
    std::string prefix = path == "/" ? "/" : std::string(path) + "/";
    std::vector<std::string> names;
    base_children(prefix, [&](std::string_view c) { names.emplace_back(c); });
    for (auto it = overlay_.lower_bound(prefix); it != overlay_.end() && it->first.starts_with(prefix);) {
        std::string_view rest = std::string_view(it->first).substr(prefix.size());
        size_t slash = rest.find('/');
        names.emplace_back(rest.substr(0, slash));
        it = slash == std::string_view::npos ? std::next(it)
                                             : overlay_.lower_bound(prefix + std::string(rest.substr(0, slash)) + "0");
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    // A child removed since load is a tombstone over its base line; writing a node creates
    // its parents, so a child that exists is itself a node.
    std::erase_if(names, [&](const std::string& c) { return c.empty() || !exists(prefix + c); });
    return names;
}

void XenstoreModel::write(std::string_view path, std::string_view value) {
    for (size_t pos = path.find('/', 1); pos != std::string_view::npos; pos = path.find('/', pos + 1)) {
        std::string_view parent = path.substr(0, pos);
        if (!exists(parent)) overlay_.insert_or_assign(std::string(parent), std::string());
    }
    overlay_.insert_or_assign(std::string(path), std::string(value));
    log_change(path);
}

void XenstoreModel::remove(std::string_view path) {
    std::string top(path);
    for (size_t at = base_lower_bound(top); at < nodes_.size();) {
        Line l = line(at);
        if (!under(l.key, top)) break;
        overlay_.insert_or_assign(std::string(l.key), std::nullopt);
        at = l.next;
    }
    for (auto it = overlay_.lower_bound(top); it != overlay_.end() && under(it->first, top); ++it)
        it->second = std::nullopt;
    log_change(path);
}

void XenstoreModel::log_change(std::string_view path) {
    parse_log();
    log_.emplace_back(++seq_, std::string(path));
    if (log_.size() > log_cap) log_.pop_front();
}

std::vector<std::pair<uint64_t, std::string>> XenstoreModel::changes_since(uint64_t seq) const {
    parse_log();
    std::vector<std::pair<uint64_t, std::string>> out;
    if (!log_.empty() && log_.front().first > seq + 1) {
        out.emplace_back(0, "/");
        seq = log_.front().first - 1;
    }
    auto it = std::lower_bound(log_.begin(), log_.end(), seq + 1,
                               [](const auto& e, uint64_t s) { return e.first < s; });
    for (; it != log_.end(); ++it) out.push_back(*it);
    return out;
}

std::vector<std::string_view> XenstoreModel::nodes_section(std::string& scratch) const {
    // Format the changed nodes first (scratch must not grow once views into it exist), then
    // merge them with the base lines, both sorted.
    std::vector<std::pair<size_t, size_t>> formatted; // (offset, length) in scratch, per overlay entry
    formatted.reserve(overlay_.size());
    for (const auto& [key, value] : overlay_) {
        size_t at = scratch.size();
        if (value) {
            scratch += key;
            scratch += '\t';
            append_escaped(scratch, *value);
            scratch += '\n';
        }
        formatted.emplace_back(at, scratch.size() - at);
    }
    std::vector<std::string_view> pieces;
    size_t done = 0; // base text up to here is written
    auto base_until = [&](size_t end) {
        if (end <= done) return;
        pieces.push_back(nodes_.substr(done, end - done));
        done = end;
    };
    size_t n = 0;
    for (const auto& [key, value] : overlay_) {
        base_until(base_lower_bound(key));
        if (done < nodes_.size()) // replaced or removed
            if (Line l = line(done); l.key == key) done = l.next;
        auto [at, len] = formatted[n++];
        if (len) pieces.emplace_back(scratch.data() + at, len);
    }
    base_until(nodes_.size());
    return pieces;
}

std::string XenstoreModel::log_section() const {
    parse_log();
    std::string log;
    for (const auto& [seq, path] : log_) {
        log += std::to_string(seq);
        log += '\t';
        log += path;
        log += '\n';
    }
    return log;
}

Result<XenstoreModel> XenstoreModel::load(FileBytes file, size_t nodes_at, size_t nodes_len, size_t log_at,
                                          size_t log_len, uint64_t seq) {
    auto bad = [] { return fail(Errc::bad_value, "not a vbdctl simulator state file of this version: "
                                                 "its xenstore section is damaged"); };
    XenstoreModel m;
    m.seq_ = seq;
    std::string_view all = file.view();
    m.log_text_ = all.substr(log_at, log_len);
    m.nodes_ = all.substr(nodes_at, nodes_len);
    m.file_ = std::move(file);
    std::string_view prev;
    m.marks_.reserve(m.nodes_.size() / (mark_stride * 32));
    for (size_t at = 0, n = 0; at < m.nodes_.size(); ++n) {
        size_t nl = m.nodes_.find('\n', at);
        if (nl == std::string_view::npos) return bad();
        std::string_view l = m.nodes_.substr(at, nl - at);
        size_t tab = l.find('\t');
        if (tab == std::string_view::npos) return bad();
        std::string_view key = l.substr(0, tab);
        // Sorted, unique and valid keys are what the binary search relies on. What a key
        // shares with the one before was checked with it.
        if (at > 0 && key <= prev) return bad();
        size_t shared = static_cast<size_t>(std::ranges::mismatch(key, prev).in1 - key.begin());
        if (!valid_xenstore_path(key, shared)) return bad();
        if (!well_escaped(l.substr(tab + 1))) return bad();
        prev = key;
        if (n % mark_stride == 0) m.marks_.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(tab)});
        at = nl + 1;
    }
    return m;
}

void XenstoreModel::parse_log() const {
    if (log_text_.empty()) return;
    std::string_view text = log_text_;
    log_text_ = {};
    std::deque<std::pair<uint64_t, std::string>> parsed;
    for (size_t at = 0; at < text.size();) {
        size_t tab = text.find('\t', at), nl = text.find('\n', at);
        if (tab == std::string_view::npos || nl == std::string_view::npos || tab > nl) break;
        auto n = parse_uint(text.substr(at, tab - at), UINT64_MAX);
        std::string path(text.substr(tab + 1, nl - tab - 1));
        at = nl + 1;
        // A damaged log only costs watchers a rescan (they see "/" changed).
        if (!n || !valid_xenstore_path(path)) break;
        parsed.emplace_back(*n, std::move(path));
    }
    for (auto& e : log_) parsed.push_back(std::move(e));
    log_ = std::move(parsed);
}

} // namespace vbd::sim
