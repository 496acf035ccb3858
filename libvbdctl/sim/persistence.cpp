// The simulator's persistence: a world as its state file, every model's part of it except
// xenstore's (XenstoreModel keeps its nodes in their file form). A header line gives the sizes
// of six sections: JSON for the small things (clock, modules, guests, faults, events), then
// xenstore's nodes and change log, then devices, rings and blkfronts as text, one line each:
// they grow with the vbds, and as JSON objects they were most of a large world's load time.

#include <array>
#include <charconv>

#include <nlohmann/json.hpp>

#include "../src/try.hpp"

#include "world.hpp"

namespace vbd::sim {

using nlohmann::json;

namespace {

constexpr std::string_view state_magic = "vbdctl-sim-state 5";
constexpr size_t sections = 6; // JSON, xenstore nodes, xenstore log, devices, rings, blkfronts

// A text section's line: space-separated fields.
template <class T> void put(std::string& out, T v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
    out += ' ';
}

/// Reads the space-separated fields of one line in order; any failure sticks.
class Fields {
  public:
    explicit Fields(std::string_view line) : rest_(line) {}
    std::string_view word() {
        size_t sp = rest_.find(' ');
        std::string_view w = rest_.substr(0, sp);
        rest_ = sp == std::string_view::npos ? std::string_view() : rest_.substr(sp + 1);
        if (w.empty()) ok_ = false;
        return w;
    }
    template <class T> T num() {
        std::string_view w = word();
        T v{};
        auto r = std::from_chars(w.data(), w.data() + w.size(), v);
        if (r.ec != std::errc() || r.ptr != w.data() + w.size()) ok_ = false;
        return v;
    }
    bool flag() {
        auto v = num<unsigned>();
        if (v > 1) ok_ = false;
        return v == 1;
    }
    bool ok() const { return ok_ && rest_.empty(); }

  private:
    std::string_view rest_;
    bool ok_ = true;
};

// The comma-separated items of a field ("-" is none).
template <class F> bool each_item(std::string_view field, F f) {
    for (size_t at = 0; field != "-" && at <= field.size();) {
        size_t comma = std::min(field.find(',', at), field.size());
        if (!f(field.substr(at, comma - at))) return false;
        at = comma + 1;
    }
    return true;
}

template <class F> bool each_line(std::string_view text, F f) {
    for (size_t at = 0; at < text.size();) {
        size_t nl = text.find('\n', at);
        if (nl == std::string_view::npos) return false;
        if (!f(text.substr(at, nl - at))) return false;
        at = nl + 1;
    }
    return true;
}

} // namespace

json World::to_json() const {
    json j;
    j["format"] = 5;
    j["now_ms"] = now_;
    j["cpus"] = cpus;
    j["self_domid"] = self_;
    j["connect_ms"] = connect_ms_;
    j["autoprobe"] = autoprobe;
    modules_.to_json(j);
    j["xs_seq"] = xs_.seq();
    frontends_.to_json(j);
    json faults = json::array();
    for (const auto& f : faults_)
        faults.push_back({{"kind", f.kind}, {"domid", f.domid}, {"devid", f.devid},
                          {"step", f.step}, {"seconds", f.seconds}});
    j["faults"] = std::move(faults);
    json events = json::array();
    for (const auto& [at, e] : events_) events.push_back({{"at", e.at}, {"kind", e.kind}, {"device", e.device}});
    j["events"] = std::move(events);
    j["uevent_seq"] = uevent_seq_;
    json uevents = json::array();
    for (const auto& u : uevents_)
        uevents.push_back({{"seq", u.seq}, {"xs_seq", u.xs_seq}, {"subsystem", u.ev.subsystem},
                           {"action", u.ev.action}, {"name", u.ev.name}, {"driver", u.ev.driver}});
    j["uevents"] = std::move(uevents);
    return j;
}

Result<World> World::from_json(const json& j) try {
    if (j.value("format", 0) != 5)
        return fail(Errc::bad_value, "not a vbdctl simulator state file of this version (format 5)");
    World w;
    w.now_ = j.at("now_ms").get<int64_t>();
    w.cpus = j.at("cpus").get<unsigned>();
    w.self_ = j.at("self_domid").get<uint32_t>();
    w.connect_ms_ = j.value("connect_ms", int64_t{InitOptions{}.connect_ms}); // files from before the option
    w.autoprobe = j.at("autoprobe").get<bool>();
    w.modules_ = ModulesModel::from_json(j);
    w.frontends_.guests_from_json(j);
    for (const auto& f : j.at("faults"))
        w.faults_.push_back(Fault{f.at("kind"), f.at("domid"), f.at("devid"), f.at("step"), f.at("seconds")});
    for (const auto& e : j.at("events")) {
        Event ev{e.at("at"), e.at("kind"), e.at("device")};
        w.events_.emplace(ev.at, std::move(ev));
    }
    // Files saved before uevents were modelled have none.
    w.uevent_seq_ = j.value("uevent_seq", uint64_t{0});
    for (const auto& u : j.value("uevents", json::array()))
        w.uevents_.push_back(UEvent{u.at("seq"), u.at("xs_seq"),
                                    DeviceEvent{u.at("subsystem"), u.at("action"), u.at("name"), u.at("driver")}});
    return w;
} catch (const json::exception& e) {
    return fail(Errc::bad_value, std::string("simulator state file is damaged: ") + e.what());
}

std::string World::devices_section() const {
    std::string out;
    for (const auto& [n, d] : devices_) {
        out += n;
        out += ' ';
        for (bool b : {d.bound, d.blkif_ref}) put(out, int(b));
        put(out, d.draining);
        for (bool b : {d.connected, d.removed}) put(out, int(b));
        put(out, d.inflight);
        put(out, int(d.be_persistent));
        for (size_t k = 0; k < VbdStats::count; ++k) {
            out += k ? "," : "";
            out += VbdStats::names[k];
            out += '=';
            out += std::to_string(d.stats.value[k]);
        }
        out += '\n';
    }
    return out;
}

std::string World::rings_section() const {
    std::string out;
    for (const auto& [k, r] : rings_) {
        out += k;
        out += ' ';
        for (uint32_t v : {r.req_prod, r.req_event, r.rsp_prod, r.rsp_event, r.iodepth}) put(out, v);
        put(out, r.rate);
        put(out, r.carry);
        put(out, int(r.stalled));
        put(out, r.size);
        std::string grefs;
        for (uint32_t g : r.grefs) grefs += (grefs.empty() ? "" : ",") + std::to_string(g);
        out += grefs.empty() ? "-" : grefs;
        out += '\n';
    }
    return out;
}

bool World::load_devices(std::string_view text) {
    return each_line(text, [&](std::string_view line) {
        Fields f(line);
        std::string name(f.word());
        Device d;
        d.bound = f.flag();
        d.blkif_ref = f.flag();
        d.draining = f.num<uint32_t>();
        d.connected = f.flag();
        d.removed = f.flag();
        d.inflight = f.num<uint32_t>();
        d.be_persistent = f.flag();
        std::string_view stats = f.word();
        if (!f.ok()) return false;
        // Every counter once, as "name=value,...".
        unsigned seen = 0;
        bool items_ok = each_item(stats, [&](std::string_view kv) {
            size_t eq = kv.find('=');
            if (eq == std::string_view::npos) return false;
            auto k = std::ranges::find(VbdStats::names, kv.substr(0, eq)) - VbdStats::names.begin();
            auto v = parse_uint(kv.substr(eq + 1), UINT64_MAX);
            if (k == VbdStats::count || (seen & (1u << k)) || !v) return false;
            seen |= 1u << k;
            d.stats.value[static_cast<size_t>(k)] = *v;
            return true;
        }) && seen == (1u << VbdStats::count) - 1;
        if (!items_ok) return false;
        devices_.emplace_hint(devices_.end(), std::move(name), std::move(d));
        return true;
    });
}

bool World::load_rings(std::string_view text) {
    return each_line(text, [&](std::string_view line) {
        Fields f(line);
        std::string key(f.word());
        Ring r;
        r.req_prod = f.num<uint32_t>();
        r.req_event = f.num<uint32_t>();
        r.rsp_prod = f.num<uint32_t>();
        r.rsp_event = f.num<uint32_t>();
        r.iodepth = f.num<uint32_t>();
        r.rate = f.num<double>();
        r.carry = f.num<double>();
        r.stalled = f.flag();
        r.size = f.num<uint32_t>();
        std::string_view grefs = f.word();
        if (!f.ok()) return false;
        bool items_ok = each_item(grefs, [&](std::string_view g) {
            auto v = parse_uint(g, UINT32_MAX);
            if (v) r.grefs.push_back(static_cast<uint32_t>(*v));
            return v.has_value();
        });
        if (!items_ok) return false;
        rings_.emplace_hint(rings_.end(), std::move(key), std::move(r));
        return true;
    });
}

void FrontendModel::to_json(json& j) const {
    json guests = json::object();
    for (const auto& [d, g] : guests_) {
        json console = json::array();
        for (const auto& l : g.console) console.push_back({l.at, l.text});
        guests[std::to_string(d)] = {{"name", g.name}, {"running", g.running}, {"console", console}};
    }
    j["guests"] = std::move(guests);
}

void FrontendModel::guests_from_json(const json& j) {
    for (const auto& [d, g] : j.at("guests").items()) {
        auto domid = parse_uint(d, max_domid);
        if (!domid) throw json::other_error::create(501, "guest domid " + d, nullptr);
        Guest guest{g.at("name"), g.at("running"), {}};
        for (const auto& l : g.value("console", json::array()))
            guest.console.push_back(ConsoleLine{l.at(0).get<int64_t>(), l.at(1).get<std::string>()});
        guests_[static_cast<uint32_t>(*domid)] = std::move(guest);
    }
}

std::string FrontendModel::blkfronts_section() const {
    std::string out;
    for (const auto& [n, f] : blkfronts_) {
        out += n;
        out += ' ';
        for (bool b : {f.persistent, f.disabled}) put(out, int(b));
        out += f.live ? "1\n" : "0\n";
    }
    return out;
}

bool FrontendModel::load_blkfronts(std::string_view text) {
    return each_line(text, [&](std::string_view line) {
        Fields f(line);
        std::string name(f.word());
        Blkfront b;
        b.persistent = f.flag();
        b.disabled = f.flag();
        b.live = f.flag();
        if (!f.ok()) return false;
        blkfronts_.emplace_hint(blkfronts_.end(), std::move(name), b);
        return true;
    });
}

void ModulesModel::to_json(json& j) const {
    j["kernel"] = release;
    j["builtin"] = builtin;
    if (signature_enforcement) j["signature_enforcement"] = *signature_enforcement;
    if (module_) j["module"] = {{"path", module_->path}, {"params", module_->params}};
    json files = json::object();
    for (const auto& [p, f] : files_) {
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
}

ModulesModel ModulesModel::from_json(const json& j) {
    ModulesModel m;
    m.release = j.at("kernel").get<std::string>();
    m.builtin = j.value("builtin", false);
    if (j.contains("signature_enforcement")) m.signature_enforcement = j["signature_enforcement"].get<std::string>();
    if (j.contains("module"))
        m.module_ = ModuleLoad{j["module"].at("path"), j["module"].at("params").get<std::map<std::string, std::string>>()};
    for (const auto& [p, f] : j.at("module_files").items()) {
        ModuleFile info{p, f.at("name"), f.at("vermagic"), std::nullopt, std::nullopt, std::nullopt, {},
                        std::nullopt, std::nullopt};
        for (const auto& [pn, pt] : f.at("params").items()) info.params.push_back({pn, pt.get<std::string>()});
        if (f.contains("srcversion")) info.srcversion = f["srcversion"].get<std::string>();
        if (f.contains("version")) info.version = f["version"].get<std::string>();
        if (f.contains("build_id")) info.build_id = f["build_id"].get<std::string>();
        if (f.contains("signer")) info.signer = f["signer"].get<std::string>();
        if (f.contains("sig_key")) info.sig_key = f["sig_key"].get<std::string>();
        m.files_[p] = info;
    }
    return m;
}

std::unique_ptr<World::Saved> World::save() const {
    auto out = std::make_unique<Saved>();
    std::string meta = to_json().dump();
    auto nodes = xs_.nodes_section(out->scratch);
    out->log = xs_.log_section();
    out->devices = devices_section();
    out->rings = rings_section();
    out->blkfronts = frontends_.blkfronts_section();
    size_t nodes_size = 0;
    for (auto p : nodes) nodes_size += p.size();
    out->head = std::string(state_magic);
    for (size_t n : {meta.size(), nodes_size, out->log.size(), out->devices.size(), out->rings.size(),
                     out->blkfronts.size()})
        out->head += " " + std::to_string(n);
    out->head += "\n" + meta;
    out->pieces.reserve(nodes.size() + 5);
    out->pieces.emplace_back(out->head);
    out->pieces.insert(out->pieces.end(), nodes.begin(), nodes.end());
    for (const std::string* s : {&out->log, &out->devices, &out->rings, &out->blkfronts})
        out->pieces.emplace_back(*s);
    return out;
}

Result<World> World::load(FileBytes bytes) {
    auto bad = [](const std::string& what) {
        return fail(Errc::bad_value, "not a vbdctl simulator state file of this version: " + what);
    };
    std::string_view all = bytes.view();
    size_t nl = all.find('\n');
    if (!all.starts_with(state_magic) || nl == std::string_view::npos || nl > 200 || nl == state_magic.size() ||
        all[state_magic.size()] != ' ')
        return bad("no header");
    std::array<size_t, sections> len{}, at{};
    {
        Fields head(all.substr(state_magic.size() + 1, nl - state_magic.size() - 1));
        size_t total = nl + 1;
        for (size_t k = 0; k < sections; ++k) {
            len[k] = head.num<uint32_t>();
            at[k] = total;
            total += len[k];
        }
        if (!head.ok()) return bad("header sizes");
        if (total != all.size()) return bad("sizes do not match the file (truncated?)");
    }
    json j = json::parse(all.substr(at[0], len[0]), nullptr, false);
    if (j.is_discarded()) return bad("its JSON section does not parse");
    auto w = VBD_TRY(from_json(j));
    if (!j.contains("xs_seq") || !j["xs_seq"].is_number_unsigned()) return bad("no xenstore sequence");
    const auto xs_seq = j["xs_seq"].get<uint64_t>();
    // Freed before the large sections load, so that they reuse its memory: every fresh
    // page of heap costs a page fault.
    j = nullptr;
    if (!w.load_devices(all.substr(at[3], len[3]))) return bad("its devices section is damaged");
    if (!w.load_rings(all.substr(at[4], len[4]))) return bad("its rings section is damaged");
    if (!w.frontends_.load_blkfronts(all.substr(at[5], len[5]))) return bad("its blkfronts section is damaged");
    w.xs_ = VBD_TRY(XenstoreModel::load(std::move(bytes), at[1], len[1], at[2], len[2], xs_seq));
    return w;
}

} // namespace vbd::sim
