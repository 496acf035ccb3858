#include "render.hpp"
#include "try.hpp"

#include "app.hpp"

#include <algorithm>

namespace vbdcli {

using nlohmann::json;

namespace {
json state_json(const std::optional<vbd::XenbusState>& s) {
    return s ? json(static_cast<int>(*s)) : json(nullptr);
}
} // namespace

std::string state_name(const std::optional<vbd::XenbusState>& s) {
    return s ? std::string(vbd::to_string(*s)) : "-";
}

std::string queues_text(const vbd::Vbd& v) {
    if (!v.rings) return "-";
    return std::to_string(v.rings->queues.size()) + "x" + std::to_string(v.rings->geometry.size());
}

json vbd_json(const vbd::Vbd& v, bool full) {
    // Built key by key: an initializer list of pairs costs nlohmann several times more (each
    // element is built, checked to be a pair, then copied), and list prints a thousand of these.
    json j = json::object();
    j["domid"] = v.id.domid;
    j["devid"] = v.id.devid;
    j["vdev"] = v.vdev;
    j["name"] = v.name;
    j["backend_domid"] = v.backend_domid;
    j["backend_state"] = state_json(v.backend_state);
    j["frontend_state"] = state_json(v.frontend_state);
    j["bound"] = v.bound;
    j["device_present"] = v.device_present;
    j["physical_device"] = v.physical_device;
    j["mode"] = v.mode;
    j["protocol"] = v.rings ? json(std::string(vbd::to_string(v.rings->geometry.protocol))) : json(nullptr);
    j["ring_page_order"] = v.rings ? json(v.rings->geometry.page_order) : json(nullptr);
    json& queues = j["queues"] = json::array();
    for (const auto& q : v.queues) {
        json& qj = queues.emplace_back(json::object());
        qj["index"] = q.index;
        qj["ring_pages"] = v.rings->geometry.pages();
        qj["ring_size"] = v.rings->geometry.size();
        if (q.snapshot) {
            qj["req_prod"] = q.snapshot->req_prod;
            qj["rsp_prod"] = q.snapshot->rsp_prod;
            qj["pending"] = q.snapshot->pending();
            qj["consistent"] = q.snapshot->consistent(v.rings->geometry.size());
        } else {
            qj["req_prod"] = qj["rsp_prod"] = qj["pending"] = qj["consistent"] = nullptr;
            qj["error"] = q.snapshot_error.value_or("");
        }
        if (full) {
            qj["ring_refs"] = q.refs.ring_refs;
            qj["event_channel"] = q.refs.event_channel ? json(*q.refs.event_channel) : json(nullptr);
            if (q.snapshot) {
                qj["req_event"] = q.snapshot->req_event;
                qj["rsp_event"] = q.snapshot->rsp_event;
            }
        }
    }
    j["error"] = v.error_node ? json(*v.error_node) : json(nullptr);
    j["problems"] = v.problems;
    if (full) {
        j["backend_path"] = v.backend_path;
        j["frontend_path"] = v.frontend_path;
        j["sysfs_state"] = v.sysfs_state ? json(*v.sysfs_state) : json(nullptr);
        j["params"] = v.params;
        j["type"] = v.type;
        j["statistics"] = v.statistics;
        j["toolstack_disk"] = v.toolstack_disk
                                  ? json{{"vdev", v.toolstack_disk->vdev},
                                         {"target", v.toolstack_disk->target},
                                         {"format", v.toolstack_disk->format},
                                         {"backend_domid", v.toolstack_disk->backend_domid}}
                                  : json(nullptr);
        j["backend_nodes"] = v.backend_nodes;
        j["frontend_nodes"] = v.frontend_nodes;
    }
    return j;
}

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

vbd::Result<Selection> select_vbds(Context& c, const std::string& domid, const std::string& vbd) {
    Selection sel;
    if (!domid.empty()) sel.domid = VBD_TRY(vbd::parse_domid(domid));
    if (!vbd.empty()) {
        vbd::Inventory inv(*c.host);
        sel.vbd = VBD_TRY(inv.resolve(*sel.domid, vbd));
    }
    return sel;
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
