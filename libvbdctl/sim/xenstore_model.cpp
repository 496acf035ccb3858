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

XenstoreModel::Line XenstoreModel::line(size_t i) const {
    const Indexed& x = base_[i];
    const char* p = file_.data() + x.at;
    return {{p, x.key_len}, {p + x.key_len + 1, x.line_len - x.key_len - 2}};
}

size_t XenstoreModel::base_lower_bound(std::string_view key) const {
    size_t lo = 0, hi = base_.size();
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (line(mid).key < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

std::optional<std::string_view> XenstoreModel::base_value(std::string_view key) const {
    size_t i = base_lower_bound(key);
    if (i == base_.size()) return std::nullopt;
    Line l = line(i);
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
    for (size_t i = base_lower_bound(prefix); i < base_.size();) {
        std::string_view key = line(i).key;
        if (!key.starts_with(prefix)) break;
        std::string_view rest = key.substr(prefix.size());
        size_t slash = rest.find('/');
        if (slash == std::string_view::npos) {
            f(rest);
            ++i;
            continue;
        }
        // A grandchild: skip the child's whole subtree ('0' sorts right after '/').
        i = base_lower_bound(prefix + std::string(rest.substr(0, slash)) + "0");
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
    for (size_t i = base_lower_bound(top); i < base_.size(); ++i) {
        std::string_view key = line(i).key;
        if (!under(key, top)) break;
        overlay_.insert_or_assign(std::string(key), std::nullopt);
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
    size_t i = 0;
    auto base_until = [&](size_t end) {
        if (end <= i) return;
        const Indexed& last = base_[end - 1];
        pieces.emplace_back(file_.data() + base_[i].at, last.at + last.line_len - base_[i].at);
        i = end;
    };
    size_t n = 0;
    for (const auto& [key, value] : overlay_) {
        base_until(base_lower_bound(key));
        if (i < base_.size() && line(i).key == key) ++i; // replaced or removed
        auto [at, len] = formatted[n++];
        if (len) pieces.emplace_back(scratch.data() + at, len);
    }
    base_until(base_.size());
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

Result<XenstoreModel> XenstoreModel::load(std::string file, size_t nodes_at, size_t nodes_len, size_t log_at,
                                          size_t log_len, uint64_t seq) {
    auto bad = [] { return fail(Errc::bad_value, "not a vbdctl simulator state file of this version: "
                                                 "its xenstore section is damaged"); };
    XenstoreModel m;
    m.seq_ = seq;
    m.log_text_ = file.substr(log_at, log_len);
    m.file_ = std::move(file);
    std::string_view prev;
    m.base_.reserve(static_cast<size_t>(std::count(m.file_.begin() + static_cast<ptrdiff_t>(nodes_at),
                                                   m.file_.begin() + static_cast<ptrdiff_t>(nodes_at + nodes_len), '\n')));
    for (size_t at = nodes_at, end = nodes_at + nodes_len; at < end;) {
        const char* p = m.file_.data() + at;
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - at));
        if (!nl) return bad();
        std::string_view l(p, static_cast<size_t>(nl - p));
        size_t tab = l.find('\t');
        if (tab == std::string_view::npos) return bad();
        std::string_view key = l.substr(0, tab);
        // Sorted, unique and valid keys are what the binary search relies on.
        if (!valid_xenstore_path(key) || (!m.base_.empty() && key <= prev)) return bad();
        if (!well_escaped(l.substr(tab + 1))) return bad();
        prev = key;
        m.base_.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(tab), static_cast<uint32_t>(l.size() + 1)});
        at += l.size() + 1;
    }
    return m;
}

void XenstoreModel::parse_log() const {
    if (log_text_.empty()) return;
    std::string text = std::move(log_text_);
    log_text_.clear();
    std::deque<std::pair<uint64_t, std::string>> parsed;
    for (size_t at = 0; at < text.size();) {
        size_t tab = text.find('\t', at), nl = text.find('\n', at);
        if (tab == std::string::npos || nl == std::string::npos || tab > nl) break;
        auto n = parse_uint(std::string_view(text).substr(at, tab - at), UINT64_MAX);
        std::string path = text.substr(tab + 1, nl - tab - 1);
        at = nl + 1;
        // A damaged log only costs watchers a rescan (they see "/" changed).
        if (!n || !valid_xenstore_path(path)) break;
        parsed.emplace_back(*n, std::move(path));
    }
    for (auto& e : log_) parsed.push_back(std::move(e));
    log_ = std::move(parsed);
}

} // namespace vbd::sim
