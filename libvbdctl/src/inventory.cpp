#include "vbdctl/inventory.hpp"
#include "try.hpp"

#include <algorithm>

#include "paths.hpp"

namespace vbd {

namespace {

Result<uint32_t> read_ref(const NodeLookup& fe, const std::string& key) {
    auto v = fe(key);
    if (!v) return fail(Errc::bad_value, "frontend key " + key + " is missing");
    auto n = parse_uint(*v, UINT32_MAX);
    if (!n) return fail(Errc::bad_value, "frontend key " + key + ": " + n.error().what);
    return static_cast<uint32_t>(*n);
}

Result<QueueRefs> read_queue(const NodeLookup& fe, const std::string& dir,
                             std::optional<unsigned> order) {
    QueueRefs q;
    if (!order) {
        q.ring_refs.push_back(VBD_TRY(read_ref(fe, dir + "ring-ref")));
    } else {
        for (unsigned i = 0; i < (1u << *order); ++i)
            q.ring_refs.push_back(VBD_TRY(read_ref(fe, dir + "ring-ref" + std::to_string(i))));
    }
    // connect_ring gathers event-channel with the ring refs: missing, the connect fails.
    q.event_channel = VBD_TRY(read_ref(fe, dir + "event-channel"));
    return q;
}

// Recursively collects every node under base into out, keyed by the path below base.
void collect_nodes(XenStore& xs, const std::string& base, const std::string& rel,
                   std::map<std::string, std::string>& out, int depth = 0) {
    if (depth > 4) return;
    std::string path = rel.empty() ? base : base + "/" + rel;
    auto children = xs.directory(path);
    if (!children || !*children) return;
    for (const auto& c : **children) {
        std::string child_rel = rel.empty() ? c : rel + "/" + c;
        if (auto v = xs.read(base + "/" + child_rel); v && *v && !(*v)->empty())
            out[child_rel] = **v;
        collect_nodes(xs, base, child_rel, out, depth + 1);
    }
}

// Nodes of one directory, the usual ones read together (XenStore::read_many) and any other
// one on request. A node that cannot be read counts as absent, as describe reports it.
// With listed, the directory is listed first and only the keys in it are read: for a
// directory where some usual keys are often absent, that costs fewer requests.
class DirNodes {
  public:
    DirNodes(XenStore& xs, const std::string& dir, std::span<const std::string_view> keys, bool listed = false)
        : xs_(xs), dir_(dir), keys_(keys) {
        std::vector<std::string_view> asked(keys.begin(), keys.end());
        if (auto children = listed ? xs.directory(dir) : Result<std::optional<std::vector<std::string>>>();
            listed && children) { // a failed listing asks for each key
            if (!*children) asked.clear(); // no directory: every key is absent
            std::erase_if(asked, [&](std::string_view k) { return std::ranges::find(**children, k) == (*children)->end(); });
        }
        values_.resize(keys.size());
        auto r = xs.read_many(dir, asked);
        if (!r) return;
        for (size_t i = 0; i < asked.size(); ++i)
            values_[static_cast<size_t>(std::ranges::find(keys, asked[i]) - keys.begin())] = std::move((*r)[i]);
    }
    std::optional<std::string> operator[](std::string_view key) const {
        if (auto it = std::ranges::find(keys_, key); it != keys_.end())
            return values_[static_cast<size_t>(it - keys_.begin())];
        auto r = xs_.read(dir_ + "/" + std::string(key));
        return r ? *r : std::nullopt;
    }

  private:
    XenStore& xs_;
    const std::string& dir_;
    std::span<const std::string_view> keys_;
    std::vector<std::optional<std::string>> values_;
};

} // namespace

Result<FrontendRings> parse_frontend_rings(const NodeLookup& fe) {
    FrontendRings r;
    auto proto = fe("protocol");
    r.geometry.protocol = VBD_TRY(parse_protocol(proto ? std::optional<std::string_view>(*proto)
                                                       : std::nullopt));
    std::optional<unsigned> order;
    if (auto o = fe("ring-page-order")) {
        auto v = parse_uint(*o, max_ring_page_order);
        if (!v) return fail(Errc::bad_value, "frontend key ring-page-order: " + v.error().what);
        order = static_cast<unsigned>(*v);
        r.geometry.page_order = *order;
    }
    unsigned nq = 1;
    if (auto n = fe("multi-queue-num-queues")) {
        auto v = parse_uint(*n, 256);
        if (!v || *v == 0)
            return fail(Errc::bad_value,
                        "frontend key multi-queue-num-queues: '" + *n + "' is not 1..256");
        nq = static_cast<unsigned>(*v);
    }
    if (nq == 1) {
        r.queues.push_back(VBD_TRY(read_queue(fe, "", order)));
        return r;
    }
    for (unsigned q = 0; q < nq; ++q)
        r.queues.push_back(VBD_TRY(read_queue(fe, "queue-" + std::to_string(q) + "/", order)));
    return r;
}

Result<uint32_t> Inventory::self_domid() {
    if (self_) return *self_;
    auto v = VBD_TRY(host_.xenstore.read("domid"));
    uint32_t d = 0;
    if (v) {
        auto n = parse_uint(*v, max_domid);
        if (!n) return fail(Errc::bad_value, "xenstore domid: " + n.error().what);
        d = static_cast<uint32_t>(*n);
    }
    self_ = d;
    return d;
}

std::string Inventory::guest_name(uint32_t domid) {
    if (auto it = names_.find(domid); it != names_.end()) return it->second;
    std::string name;
    if (auto n = host_.toolstack.domain_name(domid); n && *n) {
        name = **n;
    } else if (auto v = host_.xenstore.read(paths::domain(domid) + "/name"); v && *v) {
        name = **v;
    }
    names_[domid] = name;
    return name;
}

Result<std::vector<VbdId>> Inventory::vbd_ids(std::optional<uint32_t> domid) {
    return ids(VBD_TRY(self_domid()), domid);
}

Result<std::vector<VbdId>> Inventory::ids(uint32_t self, std::optional<uint32_t> domid) {
    std::vector<VbdId> out;
    std::string base = paths::backend_vbd_root(self);
    auto domains = VBD_TRY(host_.xenstore.directory(base));
    if (!domains) return out;
    std::vector<uint32_t> domids;
    for (const auto& d : *domains) {
        auto n = parse_uint(d, max_domid);
        if (!n) continue; // not a domid: nothing blkback would serve either
        if (domid && *n != *domid) continue;
        domids.push_back(static_cast<uint32_t>(*n));
    }
    std::sort(domids.begin(), domids.end());
    for (uint32_t d : domids) {
        auto devs = VBD_TRY(host_.xenstore.directory(base + "/" + std::to_string(d)));
        if (!devs) continue;
        size_t first = out.size();
        for (const auto& s : *devs)
            if (auto n = parse_uint(s, UINT32_MAX)) out.push_back(VbdId{d, static_cast<uint32_t>(*n)});
        std::sort(out.begin() + static_cast<ptrdiff_t>(first), out.end(),
                  [](const VbdId& a, const VbdId& b) { return a.devid < b.devid; });
    }
    return out;
}

Result<std::vector<Vbd>> Inventory::list(std::optional<uint32_t> domid, Detail detail) {
    uint32_t self = VBD_TRY(self_domid());
    auto found = VBD_TRY(ids(self, domid));
    bool errors = VBD_TRY(any_errors(self));
    std::vector<Vbd> out;
    out.reserve(found.size());
    for (const VbdId& id : found) out.push_back(describe(self, id, detail, errors));
    return out;
}

Result<void> Inventory::each(std::optional<uint32_t> domid, Detail detail, const std::function<void(const Vbd&)>& f) {
    uint32_t self = VBD_TRY(self_domid());
    auto found = VBD_TRY(ids(self, domid));
    bool errors = VBD_TRY(any_errors(self));
    for (const VbdId& id : found) f(describe(self, id, detail, errors));
    return {};
}

Result<bool> Inventory::any_errors(uint32_t self) {
    return VBD_TRY(host_.xenstore.directory(paths::error_root(self))).has_value();
}

Result<Vbd> Inventory::get(VbdId id, Detail detail) {
    uint32_t self = VBD_TRY(self_domid());
    // Its frontend node, else (half written or half removed) its backend directory.
    bool exists = VBD_TRY(host_.xenstore.read(paths::backend(self, id) + "/frontend")).has_value() ||
                  VBD_TRY(host_.xenstore.directory(paths::backend(self, id))).has_value();
    if (!exists)
        return fail(Errc::not_found, "no such vbd served by domain " + std::to_string(self),
                    id.sysfs_name(), "see `vbdctl list " + std::to_string(id.domid) + "`");
    return describe(self, id, detail);
}

Result<std::vector<std::pair<uint32_t, std::string>>> Inventory::domain_names() {
    std::vector<uint32_t> domids;
    if (auto listed = host_.toolstack.domains(); listed && !listed->empty()) {
        domids = std::move(*listed);
    } else if (auto dir = VBD_TRY(host_.xenstore.directory("/local/domain"))) {
        for (const auto& d : *dir)
            if (auto n = parse_uint(d, max_domid)) domids.push_back(static_cast<uint32_t>(*n));
        std::sort(domids.begin(), domids.end());
    }
    std::vector<std::pair<uint32_t, std::string>> out;
    for (uint32_t d : domids)
        if (auto name = guest_name(d); !name.empty()) out.emplace_back(d, std::move(name));
    return out;
}

Result<uint32_t> Inventory::resolve_domain(std::string_view text) {
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) return parse_domid(text);
    if (text.empty() || text.size() > 64 || text.find_first_of("/\n") != std::string_view::npos)
        return fail(Errc::invalid_argument, "'" + std::string(text) + "' is neither a domid nor a domain name");
    std::vector<uint32_t> matches;
    for (const auto& [d, name] : VBD_TRY(domain_names()))
        if (name == text) matches.push_back(d);
    if (matches.size() == 1) return matches.front();
    if (matches.empty())
        return fail(Errc::invalid_argument, "no domain is named '" + std::string(text) + "'", {},
                    "`xl list` shows the names; a domid works too");
    std::string ids;
    for (uint32_t d : matches) ids += (ids.empty() ? "" : ", ") + std::to_string(d);
    return fail(Errc::invalid_argument, "'" + std::string(text) + "' names " + std::to_string(matches.size()) +
                                            " domains (" + ids + ")", {}, "give the domid instead");
}

Result<VbdId> Inventory::resolve(uint32_t domid, std::string_view text) {
    auto id = VBD_TRY(parse_vbd(domid, text));
    uint32_t self = VBD_TRY(self_domid());
    auto devs = VBD_TRY(host_.xenstore.directory(paths::backend_vbd_root(self) + "/" +
                                                 std::to_string(domid)));
    // Naming a vbd that is not there is bad input, like a malformed name.
    if (!devs)
        return fail(Errc::invalid_argument, "domain " + std::to_string(domid) + " has no vbd here",
                    {}, "see `vbdctl list`");
    bool by_name = !text.empty() && !(text[0] >= '0' && text[0] <= '9') && !text.starts_with("vbd-");
    for (const auto& s : *devs) {
        auto n = parse_uint(s, UINT32_MAX);
        if (!n) continue;
        if (*n == id.devid) return id;
        // A name may also denote the same disk in the 1<<28 encoding.
        if (by_name && devid_to_vdev(static_cast<uint32_t>(*n)) == std::string(text))
            return VbdId{domid, static_cast<uint32_t>(*n)};
    }
    return fail(Errc::invalid_argument, "no such vbd", id.sysfs_name(),
                "see `vbdctl list " + std::to_string(domid) + "`");
}

Vbd Inventory::describe(uint32_t self, VbdId id, Detail detail, bool errors) {
    XenStore& xs = host_.xenstore;
    Vbd v;
    v.id = id;
    v.vdev = devid_to_vdev(id.devid).value_or("");
    v.backend_domid = self;
    v.backend_path = paths::backend(self, id);
    v.frontend_path = paths::frontend(id);
    v.name = guest_name(id.domid);

    // The nodes describe needs from each end, each end's read together.
    static constexpr std::string_view be_keys[] = {"frontend", "state", "feature-persistent", "online",
                                                   "physical-device", "mode"};
    static constexpr std::string_view fe_keys[] = {"feature-persistent", "state", "protocol", "ring-page-order",
                                                   "multi-queue-num-queues", "ring-ref", "event-channel"};
    // blkfront writes ring-page-order and multi-queue-num-queues only when they are not 1,
    // and ring-ref and event-channel under queue-N/ when there are queues: of its seven
    // keys two or three are usually absent, and one listing costs less than asking for
    // each. The backend's six are all there once the vbd has connected.
    DirNodes be(xs, v.backend_path, be_keys), fe(xs, v.frontend_path, fe_keys, true);
    if (auto f = be["frontend"]; f && *f != v.frontend_path)
        v.problems.push_back("backend names frontend " + *f + ", expected " + v.frontend_path);
    if (auto s = be["state"]) {
        if (auto st = parse_xenbus_state(*s)) v.backend_state = *st;
        else v.problems.push_back("backend state: " + st.error().what);
    }
    auto flag = [](const std::optional<std::string>& text) {
        return text && parse_uint(*text, UINT32_MAX).value_or(0) != 0;
    };
    v.backend_persistent = flag(be["feature-persistent"]);
    if (auto o = be["online"]) v.online = parse_uint(*o, UINT32_MAX).value_or(1) != 0;
    v.physical_device = be["physical-device"].value_or("");
    v.mode = be["mode"].value_or("");
    if (errors)
        if (auto e = xs.read(paths::error_node(self, id)); e && *e) v.error_node = **e;

    v.frontend_persistent = flag(fe["feature-persistent"]);
    if (auto s = fe["state"]) {
        if (auto st = parse_xenbus_state(*s)) v.frontend_state = *st;
        else v.problems.push_back("frontend state: " + st.error().what);
    }
    // Rings exist from Initialised on; before that the keys may be stale or half written.
    if (v.frontend_state && *v.frontend_state >= XenbusState::Initialised &&
        *v.frontend_state <= XenbusState::Connected) {
        if (auto r = parse_frontend_rings([&](const std::string& key) { return fe[key]; })) v.rings = std::move(*r);
        else v.problems.push_back(r.error().what + ": blkback's connect would fail on it");
        if (!fe["protocol"])
            v.problems.push_back("frontend key protocol is absent: blkback's next connect would assume its "
                                 "default, x86_32-abi (name the guest's ABI with --protocol)");
    }
    if (v.rings)
        for (unsigned q = 0; q < v.rings->queues.size(); ++q)
            v.queues.push_back(QueueState{q, v.rings->queues[q], {}, {}});
    if (detail != Detail::states) refresh_rings(v);

    if (auto dev = host_.bus.device(id.sysfs_name())) {
        v.device_present = true;
        v.bound = dev->bound();
        v.sysfs_state = dev->state;
        if (v.physical_device.empty() && dev->physical_device) v.physical_device = *dev->physical_device;
    }
    if (detail == Detail::full) {
        static constexpr std::string_view full_keys[] = {"params", "type"};
        DirNodes more(xs, v.backend_path, full_keys);
        v.params = more["params"].value_or("");
        v.type = more["type"].value_or("");
        if (v.bound)
            if (auto st = host_.bus.statistics(id.sysfs_name())) v.statistics = std::move(*st);
        if (auto disks = host_.toolstack.disks(id.domid))
            for (const auto& d : *disks)
                if (!v.vdev.empty() && d.vdev == v.vdev) v.toolstack_disk = d;
        collect_nodes(xs, v.backend_path, "", v.backend_nodes);
        collect_nodes(xs, v.frontend_path, "", v.frontend_nodes);
    }
    return v;
}

void Inventory::refresh_rings(Vbd& v) {
    for (auto& q : v.queues) {
        if (q.refs.ring_refs.empty()) continue;
        auto s = host_.rings.read(v.id.domid, q.refs.ring_refs.front());
        if (s) {
            q.snapshot = *s;
            q.snapshot_error.reset();
        } else {
            q.snapshot.reset();
            q.snapshot_error = s.error().message();
        }
    }
}

} // namespace vbd
