#include "render.hpp"
#include "try.hpp"

#include "app.hpp"

#include <algorithm>

namespace vbdcli {

using nlohmann::json;

std::string state_name(const std::optional<vbd::XenbusState>& s) {
    return s ? std::string(vbd::to_string(*s)) : "-";
}

std::string queues_text(const vbd::Vbd& v) {
    if (!v.rings) return "-";
    return std::to_string(v.rings->queues.size()) + "x" + std::to_string(v.rings->geometry.size());
}

namespace {

// A vbd's members, in sorted key order (see json_out.hpp): one definition for the document
// (show, check) and for the text list writes as it goes.
template <class Obj> void put_vbd_members(Obj& o, const vbd::Vbd& v, bool full) {
    auto state = [](const std::optional<vbd::XenbusState>& st) {
        return st ? std::optional<int>(static_cast<int>(*st)) : std::nullopt;
    };
    o.member("backend_domid", v.backend_domid);
    if (full) {
        o.member("backend_nodes", v.backend_nodes);
        o.member("backend_path", v.backend_path);
    }
    o.member("backend_state", state(v.backend_state));
    o.member("bound", v.bound);
    o.member("device_present", v.device_present);
    o.member("devid", v.id.devid);
    o.member("domid", v.id.domid);
    o.member("error", v.error_node);
    if (full) {
        o.member("frontend_nodes", v.frontend_nodes);
        o.member("frontend_path", v.frontend_path);
    }
    o.member("frontend_state", state(v.frontend_state));
    o.member("mode", v.mode);
    o.member("name", v.name);
    if (full) o.member("params", v.params);
    o.member("physical_device", v.physical_device);
    o.member("problems", v.problems);
    o.member("protocol", v.rings ? std::optional<std::string_view>(vbd::to_string(v.rings->geometry.protocol))
                                 : std::nullopt);
    o.objects("queues", v.queues, [&](Obj& q, const vbd::QueueState& qs) {
        const auto& g = v.rings->geometry;
        const auto& snap = qs.snapshot;
        q.member("consistent", snap ? std::optional<bool>(snap->consistent(g.size())) : std::nullopt);
        if (!snap) q.member("error", qs.snapshot_error.value_or(""));
        if (full) q.member("event_channel", qs.refs.event_channel);
        q.member("index", qs.index);
        q.member("pending", snap ? std::optional<uint32_t>(snap->pending()) : std::nullopt);
        if (full && snap) q.member("req_event", snap->req_event);
        q.member("req_prod", snap ? std::optional<uint32_t>(snap->req_prod) : std::nullopt);
        q.member("ring_pages", g.pages());
        if (full) q.member("ring_refs", qs.refs.ring_refs);
        q.member("ring_size", g.size());
        if (full && snap) q.member("rsp_event", snap->rsp_event);
        q.member("rsp_prod", snap ? std::optional<uint32_t>(snap->rsp_prod) : std::nullopt);
    });
    o.member("ring_page_order", v.rings ? std::optional<unsigned>(v.rings->geometry.page_order) : std::nullopt);
    if (full) {
        o.member("statistics", v.statistics);
        o.member("sysfs_state", v.sysfs_state);
        if (const auto& d = v.toolstack_disk)
            o.object("toolstack_disk", [&](Obj& t) {
                t.member("backend_domid", d->backend_domid);
                t.member("format", d->format);
                t.member("target", d->target);
                t.member("vdev", d->vdev);
            });
        else
            o.member("toolstack_disk", nullptr);
        o.member("type", v.type);
    }
    o.member("vdev", v.vdev);
}

} // namespace

json vbd_json(const vbd::Vbd& v, bool full) {
    json j = json::object();
    JsonDoc o(j);
    put_vbd_members(o, v, full);
    return j;
}

void put_vbd(JsonText& o, const vbd::Vbd& v, bool full) { put_vbd_members(o, v, full); }

json check_json(const vbd::VbdCheck& c) {
    json j = vbd_json(c.vbd, false);
    j["ok"] = c.ok();
    j["skipped"] = c.skipped.empty() ? json(nullptr) : json(c.skipped);
    for (const auto& p : c.problems) j["problems"].push_back(p);
    for (auto& qj : j["queues"]) {
        unsigned idx = qj["index"];
        auto it = std::find_if(c.queues.begin(), c.queues.end(),
                               [&](const vbd::QueueCheck& q) { return q.queue == idx; });
        if (it == c.queues.end()) continue;
        qj["consistent"] = it->consistent;
        qj["progress"] = std::string(vbd::to_string(it->progress));
        qj["samples"] = it->samples.size();
        qj["reason"] = it->reason.empty() ? json(nullptr) : json(it->reason);
        if (!it->samples.empty()) {
            qj["req_prod"] = it->samples.back().req_prod;
            qj["rsp_prod"] = it->samples.back().rsp_prod;
            qj["pending"] = it->samples.back().pending();
        }
    }
    return j;
}

json param_json(std::string_view type, const std::optional<std::string>& value) {
    if (!value) return nullptr;
    if (type == "bool" || type == "invbool") {
        if (*value == "Y") return true;
        if (*value == "N") return false;
    }
    static const std::string_view ints[] = {"byte", "short", "ushort", "int", "uint", "long", "ulong", "ullong", "hexint"};
    if (std::find(std::begin(ints), std::end(ints), type) != std::end(ints)) {
        bool neg = value->starts_with("-");
        if (auto n = vbd::parse_uint(neg ? value->substr(1) : *value, INT64_MAX))
            return neg ? json(-static_cast<int64_t>(*n)) : json(*n);
    }
    return *value;
}

json module_json(const std::optional<vbd::LoadedModule>& m, const std::vector<vbd::ModuleParam>& types) {
    if (!m) return nullptr;
    json params = json::object();
    for (const auto& [k, v] : m->params) {
        auto t = std::find_if(types.begin(), types.end(), [&](const vbd::ModuleParam& p) { return p.name == k; });
        params[k] = param_json(t == types.end() ? "" : t->type, v);
    }
    return {{"name", m->name},
            {"loaded", true},
            {"builtin", m->builtin},
            {"refcnt", m->refcnt},
            {"srcversion", m->srcversion ? json(*m->srcversion) : json(nullptr)},
            {"version", m->version ? json(*m->version) : json(nullptr)},
            {"build_id", m->build_id ? json(*m->build_id) : json(nullptr)},
            {"params", params}};
}

std::vector<vbd::ModuleParam> blkback_param_types(vbd::Host& host) {
    auto path = host.modules.resolve("xen_blkback");
    if (!path) return {};
    auto f = host.modules.inspect(*path);
    return f ? f->params : std::vector<vbd::ModuleParam>{};
}

std::string Table::str() const {
    std::vector<size_t> w;
    for (const auto& r : rows_)
        for (size_t i = 0; i < r.size(); ++i) {
            if (w.size() <= i) w.push_back(0);
            w[i] = std::max(w[i], r[i].size());
        }
    std::string out;
    for (const auto& r : rows_) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

nlohmann::json plan_steps_json(const std::vector<vbd::StepInfo>& steps) {
    json out = json::array();
    for (size_t i = 0; i < steps.size(); ++i)
        out.push_back({{"number", i + 1}, {"name", steps[i].name}, {"does", steps[i].does}, {"undo", steps[i].undo_does}});
    return out;
}

std::string plan_steps_text(const std::vector<vbd::StepInfo>& steps) {
    std::string out;
    for (size_t i = 0; i < steps.size(); ++i)
        out += "  " + std::to_string(i + 1) + " " + steps[i].name + ": " + steps[i].does + "\n" +
               "      undo: " + steps[i].undo_does + "\n";
    return out;
}

json step_records_json(const std::vector<vbd::StepRecord>& steps) {
    json out = json::array();
    for (const auto& s : steps)
        out.push_back({{"number", s.number}, {"name", s.name}, {"ok", s.ok}, {"ms", s.ms},
                       {"detail", s.detail.empty() ? json(nullptr) : json(s.detail)}});
    return out;
}

} // namespace vbdcli
