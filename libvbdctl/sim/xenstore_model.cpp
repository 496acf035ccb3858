#include "xenstore_model.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "../src/paths.hpp"
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

// How many leading bytes a and b share, of the first n: eight at a time, since a key
// repeats most of the one before it ("/local/domain/0/backend/vbd/7/51712/...").
size_t common_prefix(const char* a, const char* b, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        std::memcpy(&x, a + i, 8);
        std::memcpy(&y, b + i, 8);
        if (uint64_t d = x ^ y) {
            if constexpr (std::endian::native == std::endian::little) return i + std::countr_zero(d) / 8;
            else return i + std::countl_zero(d) / 8;
        }
    }
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

// Whether any of the eight bytes in w is c: a byte is c where w ^ c has a zero byte, and
// (x - 0x01..) & ~x & 0x80.. is nonzero exactly when x has one.
bool has_byte(uint64_t w, char c) {
    constexpr uint64_t ones = 0x0101010101010101, highs = 0x8080808080808080;
    uint64_t x = w ^ (ones * static_cast<unsigned char>(c));
    return ((x - ones) & ~x & highs) != 0;
}

// Checks one line of the nodes section at text[at] in a single pass, as load() must for
// every node of a large world: the key is a valid path (valid_xenstore_path's rules) that
// sorts after prev, and the value is what append_escaped writes (no tab, every backslash
// followed by a character of the line). What the key shares with prev was checked
// with prev. Returns the offsets of the line's tab and newline.
std::optional<std::pair<size_t, size_t>> check_line(std::string_view text, size_t at, std::string_view prev) {
    const char* p = text.data() + at;
    const size_t n = text.size() - at;
    size_t i = common_prefix(p, prev.data(), std::min(prev.size(), n));
    if (i == n) return std::nullopt;
    // Sorted and unique: at the first difference the key must be the greater one, and not
    // end there (a key that ends where prev goes on sorts before it).
    if (p[i] == '\t' || (i < prev.size() && static_cast<unsigned char>(p[i]) < static_cast<unsigned char>(prev[i])))
        return std::nullopt;
    // The text ends in a newline (load() checked), which neither a key nor a value holds:
    // the loops below stop at it without counting.
    char before = i ? p[i - 1] : '\0';
    size_t k = i;
    for (; p[k] != '\t'; before = p[k++])
        if (!paths::path_char(p[k]) || (p[k] == '/' && before == '/')) return std::nullopt;
    if (p[0] != '/' || k > paths::max_len || (k > 1 && p[k - 1] == '/')) return std::nullopt;
    // Values are often paths themselves: skip eight plain bytes at a time to the first byte
    // that needs a look.
    size_t v = k + 1;
    while (v + 8 <= n) {
        uint64_t w;
        std::memcpy(&w, p + v, 8);
        if (has_byte(w, '\n') | has_byte(w, '\t') | has_byte(w, '\\')) break;
        v += 8;
    }
    for (;; ++v) {
        if (p[v] == '\n') return std::pair{at + k, at + v};
        if (p[v] == '\t') return std::nullopt;
        if (p[v] == '\\' && (p[++v] == '\n' || p[v] == '\t')) return std::nullopt;
    }
}

} // namespace

XenstoreModel::Line XenstoreModel::line(size_t at) const {
    // load() checked that every line has a tab and ends in a newline.
    size_t tab = nodes_.find('\t', at), nl = nodes_.find('\n', tab);
    return {nodes_.substr(at, tab - at), nodes_.substr(tab + 1, nl - tab - 1), nl + 1};
}

size_t XenstoreModel::base_lower_bound(std::string_view key) const {
    const size_t n = marks_.size();
    if (n == 0) return 0;
    auto below = [&](size_t i) { return nodes_.substr(marks_[i].at, marks_[i].key_len) < key; };
    // The first mark whose key is >= key lies in [lo, hi]. Found by galloping from the
    // previous lookup's mark: a command reads the nodes of one vbd after another, so the
    // next key is usually a mark or two away, not log2(n) halvings.
    size_t h = std::min(hint_, n - 1), lo = 0, hi = n;
    if (below(h)) {
        lo = h + 1;
        for (size_t step = 1; lo + step - 1 < n; step *= 2) {
            size_t p = lo + step - 1;
            if (!below(p)) {
                hi = p;
                break;
            }
            lo = p + 1;
        }
    } else {
        hi = h;
        for (size_t step = 1; hi >= step; step *= 2) {
            size_t p = hi - step;
            if (below(p)) {
                lo = p + 1;
                break;
            }
            hi = p;
        }
    }
    size_t k = static_cast<size_t>(std::partition_point(marks_.begin() + static_cast<ptrdiff_t>(lo),
                                                        marks_.begin() + static_cast<ptrdiff_t>(hi),
                                                        [&](const Mark& m) { return below(static_cast<size_t>(&m - marks_.data())); }) -
                                   marks_.begin());
    hint_ = k ? k - 1 : 0;
    // The line at the mark before k sorts below key; the one at k (or the end) does not.
    return *walk(k == 0 ? 0 : marks_[k - 1].at, k == n ? nodes_.size() : marks_[k].at, key);
}

std::optional<size_t> XenstoreModel::walk(size_t at, size_t end, std::string_view key, size_t budget) const {
    // A line is compared as it stands: its tab sorts below every character a path may hold,
    // so the raw line orders as its key does.
    for (; at < end; at = nodes_.find('\n', at) + 1) { // load() checked every line ends in one
        if (budget-- == 0) return std::nullopt;
        size_t c = common_prefix(nodes_.data() + at, key.data(), std::min(key.size(), nodes_.size() - at));
        if (c == key.size()) return at;
        if (at + c == nodes_.size()) return end; // only a key holding a newline gets here
        if (static_cast<unsigned char>(nodes_[at + c]) > static_cast<unsigned char>(key[c])) return at;
        at += c;
    }
    return end;
}

std::optional<std::string_view> XenstoreModel::base_value(std::string_view key) const {
    return value_at(base_lower_bound(key), key);
}

std::optional<std::string_view> XenstoreModel::value_at(size_t at, std::string_view key) const {
    size_t tab = at + key.size();
    if (tab >= nodes_.size() || nodes_[tab] != '\t' || nodes_.compare(at, key.size(), key) != 0) return std::nullopt;
    return nodes_.substr(tab + 1, nodes_.find('\n', tab) - tab - 1);
}

std::optional<std::string> XenstoreModel::read(std::string_view path) const {
    if (auto it = overlay_.find(path); it != overlay_.end()) return it->second;
    auto raw = base_value(path);
    if (!raw) return std::nullopt;
    return unescape(*raw); // load() checked every value unescapes
}

std::vector<std::optional<std::string>> XenstoreModel::read_many(std::string_view dir,
                                                                std::span<const std::string_view> keys) const {
    // In sorted order the keys' lines come one after another: after the first search, each
    // is a short walk on from the last (a search again if it is not).
    std::vector<size_t> order(keys.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b]; });
    std::vector<std::optional<std::string>> out(keys.size());
    std::string path(dir);
    path += '/';
    const size_t base = path.size();
    std::optional<size_t> at;
    for (size_t i : order) {
        path.resize(base);
        path += keys[i];
        if (auto it = overlay_.find(path); it != overlay_.end()) {
            out[i] = it->second;
            continue;
        }
        if (at) at = walk(*at, nodes_.size(), path, 2 * mark_stride);
        if (!at) at = base_lower_bound(path);
        if (auto raw = value_at(*at, path)) out[i] = unescape(*raw);
    }
    return out;
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
    std::erase_if(names, [&](const std::string& c) { return c.empty() || (!overlay_.empty() && !exists(prefix + c)); });
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
    if (!m.nodes_.empty() && m.nodes_.back() != '\n') return bad(); // check_line relies on it
    std::string_view prev;
    m.marks_.reserve(m.nodes_.size() / (mark_stride * 32));
    for (size_t at = 0, n = 0; at < m.nodes_.size(); ++n) {
        // Sorted, unique and valid keys are what the binary search relies on.
        auto split = check_line(m.nodes_, at, prev);
        if (!split) return bad();
        auto [tab, nl] = *split;
        prev = m.nodes_.substr(at, tab - at);
        if (n % mark_stride == 0) m.marks_.push_back({static_cast<uint32_t>(at), static_cast<uint32_t>(tab - at)});
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
