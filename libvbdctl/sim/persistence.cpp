// The simulator's persistence: a world as one JSON document (its state file).

#include <array>

#include <nlohmann/json.hpp>

#include "../src/try.hpp"

#include "world.hpp"

namespace vbd::sim {

using nlohmann::json;

namespace {

constexpr std::string_view state_magic = "vbdctl-sim-state 3";

// Tab and newline separate fields and lines; a backslash escapes them.
void append_escaped(std::string& out, std::string_view s) {
    if (s.find_first_of("\\\t\n") == std::string_view::npos) {
        out += s; // the common case: nothing to escape
        return;
    }
    for (char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\t') out += "\\t";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
}

// The field from at up to end (unescaped); at moves past end. nullopt when end is missing.
std::optional<std::string> next_field(std::string_view s, size_t& at, char end) {
    size_t stop = s.find(end, at);
    if (stop == std::string_view::npos) return std::nullopt;
    std::string_view raw = s.substr(at, stop - at);
    at = stop + 1;
    if (raw.find_first_of("\t\n") != std::string_view::npos) return std::nullopt;
    if (raw.find('\\') == std::string_view::npos) return std::string(raw);
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\') {
            out += raw[i];
            continue;
        }
        if (++i == raw.size()) return std::nullopt;
        out += raw[i] == 't' ? '\t' : raw[i] == 'n' ? '\n' : raw[i];
    }
    return out;
}

} // namespace

json World::to_json() const {
    json j;
    j["format"] = 3;
    j["now_ms"] = now_;
    j["kernel"] = kernel_release;
    j["cpus"] = cpus;
    j["self_domid"] = self_;
    j["autoprobe"] = autoprobe;
    j["builtin"] = builtin;
    if (signature_enforcement) j["signature_enforcement"] = *signature_enforcement;
    j["xs_seq"] = xs_seq_;
    json devs = json::object();
    for (const auto& [n, d] : devices_)
        devs[n] = {{"bound", d.bound},         {"blkif_ref", d.blkif_ref}, {"draining", d.draining},
                   {"connected", d.connected}, {"removed", d.removed},
                   {"inflight", d.inflight},   {"stats", d.stats},
                   {"be_persistent", d.be_persistent}, {"fe_persistent", d.fe_persistent},
                   {"fe_disabled", d.fe_disabled}, {"fe_live", d.fe_live}};
    j["devices"] = std::move(devs);
    json rings = json::object();
    for (const auto& [k, r] : rings_)
        rings[k] = {{"req_prod", r.req_prod}, {"req_event", r.req_event}, {"rsp_prod", r.rsp_prod},
                    {"rsp_event", r.rsp_event}, {"iodepth", r.iodepth}, {"rate", r.rate},
                    {"carry", r.carry}, {"stalled", r.stalled}, {"size", r.size},
                    {"grefs", r.grefs}};
    j["rings"] = std::move(rings);
    json guests = json::object();
    for (const auto& [d, g] : guests_) {
        json console = json::array();
        for (const auto& l : g.console) console.push_back({l.at, l.text});
        guests[std::to_string(d)] = {{"name", g.name}, {"running", g.running}, {"console", console}};
    }
    j["guests"] = std::move(guests);
    if (module_) j["module"] = {{"path", module_->path}, {"params", module_->params}};
    json files = json::object();
    for (const auto& [p, f] : module_files_) {
        json params = json::object();
        for (const auto& prm : f.params) params[prm.name] = prm.type;
        json fj = {{"name", f.name}, {"vermagic", f.vermagic}, {"params", params}};
        if (f.srcversion) fj["srcversion"] = *f.srcversion;
        if (f.version) fj["version"] = *f.version;
        if (f.build_id) fj["build_id"] = *f.build_id;
        if (f.signer) fj["signer"] = *f.signer;
        if (f.sig_key) fj["sig_key"] = *f.sig_key;
        files[p] = std::move(fj);
    }
    j["module_files"] = std::move(files);
    json faults = json::array();
    for (const auto& f : faults_)
        faults.push_back({{"kind", f.kind}, {"domid", f.domid}, {"devid", f.devid},
                          {"step", f.step}, {"seconds", f.seconds}});
    j["faults"] = std::move(faults);
    json events = json::array();
    for (const auto& [at, e] : events_) events.push_back({{"at", e.at}, {"kind", e.kind}, {"device", e.device}});
    j["events"] = std::move(events);
    return j;
}

Result<World> World::from_json(const json& j) try {
    if (j.value("format", 0) != 3)
        return fail(Errc::bad_value, "not a vbdctl simulator state file of this version (format 3)");
    World w;
    w.now_ = j.at("now_ms").get<int64_t>();
    w.kernel_release = j.at("kernel").get<std::string>();
    w.cpus = j.at("cpus").get<unsigned>();
    w.self_ = j.at("self_domid").get<uint32_t>();
    w.autoprobe = j.at("autoprobe").get<bool>();
    w.builtin = j.value("builtin", false);
    if (j.contains("signature_enforcement")) w.signature_enforcement = j["signature_enforcement"].get<std::string>();
    w.xs_seq_ = j.at("xs_seq").get<uint64_t>();
    for (const auto& [n, d] : j.at("devices").items()) {
        Device dev;
        dev.bound = d.at("bound");
        dev.blkif_ref = d.at("blkif_ref");
        dev.draining = d.value("draining", 0u);
        dev.connected = d.at("connected");
        dev.removed = d.at("removed");
        dev.inflight = d.at("inflight");
        dev.stats = d.at("stats").get<std::map<std::string, uint64_t>>();
        dev.be_persistent = d.value("be_persistent", true);
        dev.fe_persistent = d.value("fe_persistent", true);
        dev.fe_disabled = d.value("fe_disabled", false);
        dev.fe_live = d.value("fe_live", false);
        w.devices_[n] = dev;
    }
    for (const auto& [k, r] : j.at("rings").items()) {
        Ring ring;
        ring.req_prod = r.at("req_prod");
        ring.req_event = r.at("req_event");
        ring.rsp_prod = r.at("rsp_prod");
        ring.rsp_event = r.at("rsp_event");
        ring.iodepth = r.at("iodepth");
        ring.rate = r.at("rate");
        ring.carry = r.at("carry");
        ring.stalled = r.at("stalled");
        ring.size = r.at("size");
        ring.grefs = r.at("grefs").get<std::vector<uint32_t>>();
        w.rings_[k] = ring;
    }
    for (const auto& [d, g] : j.at("guests").items())
    {
        Guest guest{g.at("name"), g.at("running"), {}};
        for (const auto& l : g.value("console", json::array()))
            guest.console.push_back(ConsoleLine{l.at(0).get<int64_t>(), l.at(1).get<std::string>()});
        w.guests_[static_cast<uint32_t>(std::stoul(d))] = std::move(guest);
    }
    if (j.contains("module"))
        w.module_ = ModuleLoad{j["module"].at("path"),
                                 j["module"].at("params").get<std::map<std::string, std::string>>()};
    for (const auto& [p, f] : j.at("module_files").items()) {
        ModuleFile info{p, f.at("name"), f.at("vermagic"), std::nullopt, std::nullopt, std::nullopt, {},
                        std::nullopt, std::nullopt};
        for (const auto& [pn, pt] : f.at("params").items()) info.params.push_back({pn, pt.get<std::string>()});
        if (f.contains("srcversion")) info.srcversion = f["srcversion"].get<std::string>();
        if (f.contains("version")) info.version = f["version"].get<std::string>();
        if (f.contains("build_id")) info.build_id = f["build_id"].get<std::string>();
        if (f.contains("signer")) info.signer = f["signer"].get<std::string>();
        if (f.contains("sig_key")) info.sig_key = f["sig_key"].get<std::string>();
        w.module_files_[p] = info;
    }
    for (const auto& f : j.at("faults"))
        w.faults_.push_back(Fault{f.at("kind"), f.at("domid"), f.at("devid"), f.at("step"), f.at("seconds")});
    for (const auto& e : j.at("events")) {
        Event ev{e.at("at"), e.at("kind"), e.at("device")};
        w.events_.emplace(ev.at, std::move(ev));
    }
    return w;
} catch (const json::exception& e) {
    return fail(Errc::bad_value, std::string("simulator state file is damaged: ") + e.what());
}

// The state file: a header line with the three sections' sizes, then the sections. The
// JSON section holds everything but xenstore; xenstore and its change log are text, one
// node per line, read in one pass: they are most of a world, and as JSON they made every
// command's start cost grow with the world (4 MB of JSON for 1000 vbds).
std::string World::save() const {
    parse_log();
    std::string meta = to_json().dump();
    std::string xs, log;
    for (const auto& [k, v] : xs_) {
        append_escaped(xs, k);
        xs += '\t';
        append_escaped(xs, v);
        xs += '\n';
    }
    for (const auto& [seq, path] : xs_log_) {
        log += std::to_string(seq);
        log += '\t';
        append_escaped(log, path);
        log += '\n';
    }
    return std::string(state_magic) + " " + std::to_string(meta.size()) + " " + std::to_string(xs.size()) + " " +
           std::to_string(log.size()) + "\n" + meta + xs + log;
}

Result<World> World::load(std::string_view bytes) {
    auto bad = [](const std::string& what) {
        return fail(Errc::bad_value, "not a vbdctl simulator state file of this version: " + what);
    };
    size_t nl = bytes.find('\n');
    if (!bytes.starts_with(state_magic) || nl == std::string_view::npos || nl > 100) return bad("no header");
    std::array<uint64_t, 3> len{};
    {
        std::string_view head = bytes.substr(state_magic.size(), nl - state_magic.size());
        size_t at = 0;
        for (auto& n : len) {
            while (at < head.size() && head[at] == ' ') ++at;
            size_t end = head.find(' ', at);
            auto v = parse_uint(head.substr(at, end == std::string_view::npos ? head.size() - at : end - at), UINT32_MAX);
            if (!v) return bad("header sizes");
            n = *v;
            at = end == std::string_view::npos ? head.size() : end;
        }
    }
    if (nl + 1 + len[0] + len[1] + len[2] != bytes.size()) return bad("sizes do not match the file (truncated?)");
    std::string_view meta = bytes.substr(nl + 1, len[0]);
    std::string_view xs = bytes.substr(nl + 1 + len[0], len[1]);
    std::string_view log = bytes.substr(nl + 1 + len[0] + len[1], len[2]);
    json j = json::parse(meta, nullptr, false);
    if (j.is_discarded()) return bad("its JSON section does not parse");
    auto w = VBD_TRY(from_json(j));
    for (size_t at = 0; at < xs.size();) {
        auto k = next_field(xs, at, '\t');
        auto v = next_field(xs, at, '\n');
        if (!k || !v) return bad("its xenstore section is damaged");
        w.xs_.emplace_hint(w.xs_.end(), std::move(*k), std::move(*v));
    }
    w.xs_log_text_ = std::string(log);
    return w;
}

void World::parse_log() const {
    if (xs_log_text_.empty()) return;
    std::string text = std::move(xs_log_text_);
    xs_log_text_.clear();
    std::deque<std::pair<uint64_t, std::string>> parsed;
    for (size_t at = 0; at < text.size();) {
        auto seq = next_field(text, at, '\t');
        auto path = next_field(text, at, '\n');
        auto n = seq ? parse_uint(*seq, UINT64_MAX) : Result<uint64_t>(fail(Errc::bad_value, ""));
        // A damaged log only costs watchers a rescan (they see "/" changed).
        if (!n || !path) break;
        parsed.emplace_back(*n, std::move(*path));
    }
    for (auto& e : xs_log_) parsed.push_back(std::move(e));
    xs_log_ = std::move(parsed);
}

} // namespace vbd::sim
