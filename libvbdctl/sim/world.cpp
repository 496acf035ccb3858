#include "world.hpp"

#include <algorithm>
#include <cmath>

#include "../src/paths.hpp"
#include "../src/try.hpp"

namespace vbd::sim {

namespace {

constexpr int64_t guest_react_ms = 10;     // a frontend reacting to a backend change

std::string dev_name(VbdId id) { return id.sysfs_name(); }

} // namespace

// ---------------------------------------------------------------- building worlds

void World::add_guest(uint32_t domid, const std::string& name) {
    frontends_.add_guest(domid, name);
    std::string d = paths::domain(domid);
    xs_.write(d + "/name", name);
    xs_.write(d + "/domid", std::to_string(domid));
    xs_.write(d + "/vm", "/vm/00000000-0000-0000-0000-" + std::to_string(100000000000 + domid));
}

std::string World::backend_path(VbdId id) const { return paths::backend(self_, id); }

void World::add_vbd(VbdId id, unsigned order, unsigned queues, const char* protocol,
                    XenbusState fe_state, double rate, uint32_t iodepth) {
    std::string vdev = devid_to_vdev(id.devid).value_or(std::to_string(id.devid));
    std::string be = backend_path(id);
    std::string fe = paths::frontend(id);
    std::string lv = "/dev/vg0/" + frontends_.name(id.domid).value_or("guest") + "-" + vdev;
    unsigned minor = static_cast<unsigned>(devices_.size());
    char pdev[32];
    std::snprintf(pdev, sizeof pdev, "fd:%x", minor);
    const std::pair<const char*, std::string> be_nodes[] = {
        {"frontend", fe},
        {"frontend-id", std::to_string(id.domid)},
        {"params", lv},
        {"script", "/etc/xen/scripts/block"},
        {"mode", "w"},
        {"type", "phy"},
        {"dev", vdev},
        {"device-type", "disk"},
        {"removable", "0"},
        {"bootable", "1"},
        {"online", "1"},
        {"discard-enable", "1"},
        {"physical-device", pdev},
        {"physical-device-path", lv},
        {"hotplug-status", "connected"},
        {"feature-max-indirect-segments", "256"},
        {"multi-queue-max-queues", std::to_string(cpus)},
        {"max-ring-page-order", "4"},
        {"feature-flush-cache", "1"},
        {"feature-discard", "1"},
        {"feature-persistent", modules_.param_bool("feature_persistent") ? "1" : "0"},
        {"sectors", "41943040"},
        {"info", "0"},
        {"sector-size", "512"},
        {"physical-sector-size", "512"},
    };
    for (const auto& [k, v] : be_nodes) xs_.write(be + "/" + k, v);
    bool fe_ready = fe_state >= XenbusState::Initialised && fe_state <= XenbusState::Connected;
    xs_.write(be + "/state", std::to_string(static_cast<int>(fe_ready ? XenbusState::Connected
                                                                      : XenbusState::InitWait)));
    xs_.write(fe + "/backend", be);
    xs_.write(fe + "/backend-id", std::to_string(self_));
    xs_.write(fe + "/virtual-device", std::to_string(id.devid));
    xs_.write(fe + "/device-type", "disk");
    xs_.write(fe + "/state", std::to_string(static_cast<int>(fe_state)));
    std::string libxl = "/libxl/" + std::to_string(id.domid) + "/device/vbd/" +
                        std::to_string(id.devid);
    xs_.write(libxl + "/frontend", fe);
    xs_.write(libxl + "/backend", be);
    xs_.write(libxl + "/params", lv);
    xs_.write(libxl + "/dev", vdev);
    xs_.write(libxl + "/mode", "w");

    Device dev;
    dev.bound = true;
    dev.blkif_ref = true;
    dev.connected = fe_ready;
    devices_[dev_name(id)] = dev;
    if (!fe_ready) return;

    publish_rings(id, order, queues, protocol, rate, iodepth);
    // Both ends connected at boot: each decided with the module's feature_persistent.
    frontends_.blkfront(dev_name(id)).persistent = modules_.param_bool("feature_persistent");
    devices_[dev_name(id)].be_persistent = modules_.param_bool("feature_persistent");
}

void World::create_guest(uint32_t domid, const std::string& name) {
    // xl create: the toolstack writes both ends at Initialising and the device appears on
    // the bus; blkback probes it when loaded and autoprobe is on, and the guest's blkfront
    // then connects as at any boot.
    add_guest(domid, name);
    VbdId id{domid, 51712};
    add_vbd(id, 0, 1, nullptr, XenbusState::Initialising, 0, 0);
    xs_.write(backend_path(id) + "/state", "1");
    Device& d = devices_[dev_name(id)];
    d.bound = d.blkif_ref = d.connected = false;
    frontends_.blkfront(dev_name(id)).live = true;
    uevent("xen-backend", "add", dev_name(id));
    if (modules_.loaded() && autoprobe) probe(dev_name(id));
}

void World::detach(VbdId id) {
    // xl block-detach: online 0 and Closing on the backend; blkfront closes in turn; libxl
    // waits for Closed (written by blkback when bound) up to 10 s, then removes the device.
    std::string name = dev_name(id), be = backend_path(id);
    auto it = devices_.find(name);
    if (it == devices_.end() || it->second.removed) return;
    xs_.write(be + "/online", "0");
    xs_.write(be + "/state", "5");
    react(FrontendStep::close, name);
    schedule(now_ + (it->second.bound ? 3 * guest_react_ms : 10000), "toolstack-remove", name);
}

void World::remove_vbd(VbdId id) {
    std::string name = dev_name(id);
    auto it = devices_.find(name);
    if (it == devices_.end()) return;
    Device& d = it->second;
    leave_bus(name, d);
    if (d.draining == 0) devices_.erase(it);
    std::string key = std::to_string(id.domid) + "/" + std::to_string(id.devid) + "/";
    std::erase_if(rings_, [&](const auto& kv) { return kv.first.starts_with(key); });
    xs_.remove(backend_path(id));
    xs_.remove(paths::frontend(id));
    frontends_.forget(name);
    xs_.remove("/libxl/" + std::to_string(id.domid) + "/device/vbd/" + std::to_string(id.devid));
}

// What blkfront's talk_to_blkback writes: the ring's grant refs and event channels, its
// protocol and feature-persistent; the guest then drives I/O at rate with iodepth in flight.
void World::publish_rings(VbdId id, unsigned order, unsigned queues, const char* protocol, double rate,
                          uint32_t iodepth) {
    std::string fe = paths::frontend(id);
    if (protocol) xs_.write(fe + "/protocol", protocol);
    if (order > 0) xs_.write(fe + "/ring-page-order", std::to_string(order));
    if (queues > 1) xs_.write(fe + "/multi-queue-num-queues", std::to_string(queues));
    xs_.write(fe + "/feature-persistent", "1"); // blkfront's own feature_persistent defaults to on
    RingGeometry g{protocol && std::string(protocol) == "x86_32-abi" ? Protocol::x86_32
                                                                     : Protocol::x86_64,
                   order};
    // Grant refs are allocated per guest; keep them unique within the domain.
    uint32_t next_gref = 8;
    const std::string mine = std::to_string(id.domid) + "/";
    for (auto it = rings_.lower_bound(mine); it != rings_.end() && it->first.starts_with(mine); ++it)
        for (uint32_t gr : it->second.grefs) next_gref = std::max(next_gref, gr + 1);
    for (unsigned q = 0; q < queues; ++q) {
        std::string dir = queues > 1 ? fe + "/queue-" + std::to_string(q) : fe;
        Ring r;
        r.size = g.size();
        r.iodepth = std::min(iodepth, r.size);
        r.rate = rate / queues;
        for (unsigned p = 0; p < (1u << order); ++p) {
            r.grefs.push_back(next_gref);
            xs_.write(dir + (order > 0 ? "/ring-ref" + std::to_string(p) : "/ring-ref"),
                     std::to_string(next_gref++));
        }
        xs_.write(dir + "/event-channel", std::to_string(20 + 2 * q + id.devid % 7));
        // Start busy rings near the uint32 wrap so wrap-safe arithmetic is exercised.
        uint32_t start = rate > 0 && q == 0 ? 0xFFFFFFF0u : 1000u * (q + 1);
        r.rsp_prod = start;
        r.req_prod = start + (rate > 0 ? r.iodepth / 2 : 0);
        r.req_event = r.req_prod + 1;
        r.rsp_event = r.rsp_prod + 1;
        rings_[std::to_string(id.domid) + "/" + std::to_string(id.devid) + "/" +
               std::to_string(q)] = r;
    }
}

Result<void> World::check_init(const InitOptions& opts) {
    if (opts.backend_domid > max_domid)
        return fail(Errc::invalid_argument, "--backend-domid must be 0 (dom0) or a driver domain's id, up to " +
                                                std::to_string(max_domid));
    if (opts.guests == 0 && opts.backend_domid >= 1 && opts.backend_domid <= 4)
        return fail(Errc::invalid_argument, "the built-in world's guests are domains 1-4: use another --backend-domid");
    for (const auto& [k, v] : opts.blkback_params)
        if (!ModulesModel::param_value(k, v))
            return fail(Errc::invalid_argument, "xen-blkback has no parameter " + k + " taking '" + v + "'",
                        k, "e.g. --blkback-param feature_persistent=N");
    return {};
}

World World::make(const InitOptions& opts) {
    World w;
    w.self_ = opts.backend_domid;
    w.connect_ms_ = opts.connect_ms;
    w.xs_.write("/local/domain/0/name", "Domain-0");
    w.xs_.write("/local/domain/0/domid", "0");
    if (w.self_ != 0) {
        w.xs_.write(paths::domain(w.self_) + "/name", "storage-dd");
        w.xs_.write(paths::domain(w.self_) + "/domid", std::to_string(w.self_));
    }
    w.xs_.write("/tool/xenstored", "");

    w.modules_ = ModulesModel::make(opts, w.cpus);

    if (opts.guests == 0) {
        // The built-in world: every shape of vbd an operator meets.
        w.add_guest(1, "web01");
        w.add_vbd({1, 51712}, 0, 1, "x86_64-abi", XenbusState::Connected, 400, 8);
        w.add_vbd({1, 51728}, 0, 4, "x86_64-abi", XenbusState::Connected, 1200, 16);
        w.add_guest(2, "db01");
        w.add_vbd({2, 51712}, 2, 1, "x86_64-abi", XenbusState::Connected, 1500, 64);
        w.add_vbd({2, 51728}, 1, 2, "x86_64-abi", XenbusState::Connected, 0, 0);
        w.add_guest(3, "legacy32");
        w.add_vbd({3, 51712}, 0, 1, "x86_32-abi", XenbusState::Connected, 100, 4);
        w.add_guest(4, "installer");
        w.add_vbd({4, 51712}, 0, 1, nullptr, XenbusState::Initialising, 0, 0);
        return w;
    }
    for (uint32_t d = 1, made = 0; made < opts.guests && d <= max_domid; ++d) {
        if (d == w.self_) continue; // the driver domain is not one of its own guests
        ++made;
        w.add_guest(d, "guest" + std::to_string(d));
        for (unsigned j = 0; j < opts.vbds_per_guest; ++j) {
            auto devid = vdev_to_devid("xvd" + std::string(1, 'a' + static_cast<char>(j % 26)) +
                                       (j >= 26 ? std::to_string(j / 26) : ""));
            unsigned shape = (d + j) % 3;
            w.add_vbd({d, *devid}, shape == 2 ? 2 : 0, shape == 1 ? 2 : 1, "x86_64-abi",
                      XenbusState::Connected, (d + j) % 4 == 0 ? 0 : 200.0 * (1 + j % 3), 8);
        }
    }
    return w;
}

// ---------------------------------------------------------------- time and guests

std::optional<int64_t> World::next_event() const {
    if (events_.empty()) return std::nullopt;
    return events_.begin()->first;
}

void World::schedule(int64_t at, const std::string& kind, const std::string& device) {
    events_.emplace(at, Event{at, kind, device});
}

void World::schedule_connect(const std::string& device, int64_t cost_ms) {
    // blkback connects in the xenwatch thread, one vbd after the other (the lab's dmesg shows
    // the "using N queues" lines of a reload's reconnects 0.3-0.7 s apart): a connect starts
    // when the last one queued has run.
    int64_t start = now_;
    for (const auto& [at, e] : events_)
        if (e.kind == "connect") start = std::max(start, at);
    schedule(start + cost_ms, "connect", device);
}

bool World::backend_serving(VbdId id) const {
    auto it = devices_.find(dev_name(id));
    if (it == devices_.end() || !it->second.bound || !it->second.connected) return false;
    return xs_.read(backend_path(id) + "/state") == "4";
}

void World::advance_rings(int64_t dt) {
    if (dt <= 0) return;
    for (auto& [key, r] : rings_) {
        if (r.rate <= 0) continue;
        auto a = key.find('/'), b = key.find('/', a + 1);
        VbdId id{static_cast<uint32_t>(std::stoul(key.substr(0, a))),
                 static_cast<uint32_t>(std::stoul(key.substr(a + 1, b - a - 1)))};
        if (!frontends_.running(id.domid)) continue;
        auto fe = xs_.read(paths::frontend(id) + "/state");
        if (fe != "4") continue;
        Device& dev = devices_[dev_name(id)];
        const Blkfront* front = frontends_.find(dev_name(id));
        if (front && front->disabled) continue; // the guest lost this disk: its I/O hangs, nothing moves
        uint32_t pending = r.req_prod - r.rsp_prod;
        if (pending > r.size) continue; // a corrupt ring: nothing sane moves on it
        r.carry += r.rate * static_cast<double>(dt) / 1000.0;
        auto k = static_cast<uint32_t>(std::min(std::floor(r.carry), 1e9));
        r.carry -= k;
        if (backend_serving(id) && !r.stalled) {
            // The backend answers everything outstanding; the guest refills its queue.
            r.rsp_prod += pending;
            if (pending > 0 && dev.be_persistent && !(front && front->persistent)) {
                // blkback kept the data grants mapped (persistent) while blkfront expects them
                // back: blkif_completion fails and blkfront stops the device for good.
                frontends_.grant_left_mapped(id, now_, r.grefs.empty() ? 0 : r.grefs.back() + 1);
                // Every queue's outstanding requests were answered; the guest submits no more
                // (its processes hang in D state): dom0 sees idle rings, both ends Connected.
                for (auto& [k2, other] : rings_of(id))
                    if (other->req_prod - other->rsp_prod <= other->size) other->rsp_prod = other->req_prod;
                continue;
            }
            auto& st = dev.stats;
            st[VbdStats::wr_req] += pending / 2;
            st[VbdStats::rd_req] += pending - pending / 2;
            st[VbdStats::wr_sect] += 8 * (pending / 2);
            st[VbdStats::rd_sect] += 8 * (pending - pending / 2);
            r.req_prod += std::min(k, r.iodepth);
        } else {
            // Unbound or stalled: requests queue in the ring up to the guest's depth.
            uint32_t room = r.iodepth > pending ? r.iodepth - pending : 0;
            r.req_prod += std::min(k, room);
        }
        r.req_event = r.req_prod + 1;
        r.rsp_event = r.rsp_prod + 1;
    }
}

void World::advance_to(int64_t t) {
    while (true) {
        auto it = events_.begin();
        if (it == events_.end() || it->first > t) break;
        Event e = it->second;
        events_.erase(it);
        advance_rings(e.at - now_);
        now_ = std::max(now_, e.at);
        auto d = devices_.find(e.device);
        auto id = parse_sysfs_name(e.device);
        if (d == devices_.end() || !id) continue;
        std::string fe = paths::frontend(*id);
        if (e.kind == "connect") {
            connect(e.device);
        } else if (e.kind == "drained") {
            // The old instance's deferred free: its in-flight requests got their responses,
            // spread over the queues: answer each ring's own share only.
            uint32_t left = d->second.inflight;
            for (auto& [k, r] : rings_of(*id)) {
                uint32_t pending = r->req_prod - r->rsp_prod;
                uint32_t take = pending <= r->size ? std::min(pending, left) : 0;
                r->rsp_prod += take;
                left -= take;
            }
            d->second.inflight = 0;
            if (d->second.draining > 0) --d->second.draining;
            if (d->second.removed && d->second.draining == 0) devices_.erase(d);
        } else if (e.kind == "frontend-init") {
            // blkfront saw InitWait: talk_to_blkback publishes its ring and says Initialised.
            if (xs_.read(fe + "/state") != "1") continue;
            publish_rings(*id, 0, 1, "x86_64-abi", 300, 8);
            xs_.write(fe + "/state", "3");
            if (d->second.bound) schedule_connect(e.device, connect_ms_);
        } else if (e.kind == "frontend-connected") {
            frontends_.connect(xs_, e.device, fe, backend_path(*id));
        } else if (e.kind == "toolstack-remove") {
            remove_vbd(*id);
        } else if (e.kind == "frontend-closed") {
            frontends_.close(xs_, fe);
        }
    }
    advance_rings(t - now_);
    now_ = std::max(now_, t);
}

std::vector<std::pair<std::string, Ring*>> World::rings_of(VbdId id) {
    std::vector<std::pair<std::string, Ring*>> out;
    std::string prefix = std::to_string(id.domid) + "/" + std::to_string(id.devid) + "/";
    for (auto it = rings_.lower_bound(prefix); it != rings_.end() && it->first.starts_with(prefix);
         ++it)
        out.emplace_back(it->first, &it->second);
    return out;
}

// ---------------------------------------------------------------- bus and blkback

bool World::rebind_supported() const {
    unsigned major = 0, minor = 0;
    if (std::sscanf(modules_.release.c_str(), "%u.%u", &major, &minor) != 2) return false;
    return major > 5 || (major == 5 && minor >= 5);
}

std::vector<std::string> World::bus_devices() const {
    std::vector<std::string> out;
    for (const auto& [name, d] : devices_)
        if (!d.removed) out.push_back(name);
    return out;
}

std::vector<std::string> World::bound_devices() const {
    std::vector<std::string> out;
    for (const auto& [name, d] : devices_)
        if (!d.removed && d.bound) out.push_back(name);
    return out;
}

Result<BusDevice> World::bus_device(const std::string& name) const {
    auto it = devices_.find(name);
    if (it == devices_.end() || it->second.removed)
        return fail(Errc::not_found, "no such device on the xen-backend bus", name);
    auto id = parse_sysfs_name(name);
    BusDevice b;
    b.name = name;
    // The attributes mirror the backend's nodes: xenbus's state, and blkback's own while bound.
    static constexpr std::string_view keys[] = {"state", "physical-device"};
    auto nodes = xs_.read_many(id ? backend_path(*id) : "", keys);
    if (nodes[0])
        if (auto st = parse_xenbus_state(*nodes[0])) b.state = std::string(to_string(*st));
    if (it->second.bound) {
        b.driver = "vbd";
        b.physical_device = nodes[1].value_or("");
    }
    return b;
}

Result<std::map<std::string, uint64_t>> World::bus_statistics(const std::string& name) const {
    auto it = devices_.find(name);
    if (it == devices_.end() || it->second.removed)
        return fail(Errc::not_found, "no such device on the xen-backend bus", name);
    std::map<std::string, uint64_t> out;
    if (it->second.bound)
        for (size_t k = 0; k < VbdStats::count; ++k) out.emplace(VbdStats::names[k], it->second.stats.value[k]);
    return out;
}

std::vector<GuestView> World::guests() const {
    std::vector<GuestView> out;
    for (uint32_t domid : frontends_.domids()) {
        std::vector<uint32_t> disks;
        for (const auto& [name, d] : devices_) {
            auto id = parse_sysfs_name(name);
            if (id && id->domid == domid && !d.removed) disks.push_back(id->devid);
        }
        out.push_back(frontends_.view(domid, disks));
    }
    return out;
}

void World::react(FrontendStep step, const std::string& name) {
    static const char* const kinds[] = {nullptr, "frontend-init", "frontend-connected", "frontend-closed"};
    if (step != FrontendStep::none) schedule(now_ + guest_react_ms, kinds[static_cast<int>(step)], name);
}

int World::refcnt() const {
    int n = 0;
    for (const auto& [name, d] : devices_)
        n += (d.bound ? 1 : 0) + (d.blkif_ref ? 1 : 0) + static_cast<int>(d.draining);
    return n;
}

void World::probe(const std::string& name) {
    Device& d = devices_[name];
    auto id = parse_sysfs_name(name);
    if (!id) return;
    // xenbus_dev_probe takes a module reference, backend_probe allocates the blkif (another).
    d.bound = true;
    d.blkif_ref = true;
    d.connected = false;
    // The writes and their order are the real kernel's (tests/data/lab-traces/cell-A/02-bind-*).
    std::string be = backend_path(*id);
    xs_.write(be + "/feature-max-indirect-segments", "256");
    xs_.write(be + "/multi-queue-max-queues", std::to_string(modules_.param_uint("max_queues", cpus)));
    xs_.write(be + "/max-ring-page-order", std::to_string(modules_.param_uint("max_ring_page_order", 4)));
    xs_.write(be + "/state", "2");
    uevent("xen-backend", "bind", name, "vbd");
    auto fe = xs_.read(paths::frontend(*id) + "/state");
    if (fe == "3" || fe == "4")
        schedule_connect(name, connect_ms_ + static_cast<int64_t>(rings_of(*id).size()));
    else
        react(frontends_.backend_initwait(xs_, name, paths::frontend(*id)), name);
}

void World::fatal(const std::string& name, const std::string& msg) {
    auto id = parse_sysfs_name(name);
    if (!id) return;
    // xenbus_dev_fatal: the message under error/, then the backend switches to Closing.
    xs_.write(paths::error_node(self_, *id), msg);
    xs_.write(backend_path(*id) + "/state", "5");
    Device& d = devices_[name];
    d.connected = false;
    // blkback_changed -> blkfront_closing: the guest marks the disk dead and closes its end.
    react(frontends_.backend_closing(xs_, *id, paths::frontend(*id), now_), name);
}

void World::connect(const std::string& name) {
    auto id = parse_sysfs_name(name);
    Device& d = devices_[name];
    if (!id || !d.bound) return;
    std::string fe = paths::frontend(*id);
    if (take_fault("reconnect-fatal", id->domid, id->devid))
        return fatal(name, "-5 mapping ring-ref port 0 (simulated reconnect-fatal)");
    if (take_fault("hang-connect", id->domid, id->devid)) return; // stays InitWait
    unsigned order = static_cast<unsigned>(
        parse_uint(xs_.read(fe + "/ring-page-order").value_or("0"), 64).value_or(0));
    unsigned max_order = modules_.param_uint("max_ring_page_order", 4);
    if (order > max_order)
        return fatal(name, "-22 " + fe + " ring page order " + std::to_string(order) +
                               " exceeds max:" + std::to_string(max_order));
    unsigned queues = static_cast<unsigned>(
        parse_uint(xs_.read(fe + "/multi-queue-num-queues").value_or("1"), 1024).value_or(1));
    unsigned max_q = modules_.param_uint("max_queues", cpus);
    if (queues > max_q)
        return fatal(name, "-22 Frontend " + fe + " requested " + std::to_string(queues) +
                               " queues, max " + std::to_string(max_q));
    for (auto& [k, r] : rings_of(*id))
        if (r->req_prod - r->rsp_prod > r->size)
            return fatal(name, "-5 mapping ring-ref port " + k + ": req_prod - rsp_prod > " +
                                   std::to_string(r->size));
    // xen_blkif_map attaches with req_cons = rsp_prod_pvt = rsp_prod; statistics restart.
    d.connected = true;
    // connect_ring: persistent grants when the parameter is on and the frontend offers them.
    d.be_persistent = modules_.param_bool("feature_persistent") &&
                      parse_uint(xs_.read(fe + "/feature-persistent").value_or("0"), UINT32_MAX).value_or(0) != 0;
    d.stats = {};
    // connect() advertises the device, then switches to Connected (lab trace order).
    std::string be = backend_path(*id);
    const std::pair<const char*, std::string> advertised[] = {
        {"feature-flush-cache", "1"}, {"discard-granularity", "4096"}, {"discard-alignment", "0"},
        {"discard-secure", "0"},      {"feature-discard", "1"},        {"feature-barrier", "1"},
        // Since 6.0-rc4 blkback advertises its parameter, not the negotiated value.
        {"feature-persistent", modules_.param_bool("feature_persistent") ? "1" : "0"},
        {"sectors", xs_.read(be + "/sectors").value_or("0")},
        {"info", "0"},                {"sector-size", "512"},          {"physical-sector-size", "512"},
    };
    for (const auto& [k, v] : advertised) xs_.write(be + "/" + k, v);
    xs_.write(be + "/state", "4");
    react(frontends_.backend_connected(xs_, *id, fe, be, now_), name);
}

Result<void> World::bind(const std::string& name) {
    if (!modules_.loaded())
        return fail(Errc::io, "cannot write drivers/vbd/bind: No such file or directory", name,
                    "load xen-blkback first");
    auto it = devices_.find(name);
    if (it == devices_.end() || it->second.removed || it->second.bound)
        return fail(Errc::io, "write to drivers/vbd/bind failed: No such device", name);
    probe(name);
    return {};
}

Result<void> World::unbind(const std::string& name) {
    auto it = devices_.find(name);
    if (!modules_.loaded() || it == devices_.end() || it->second.removed || !it->second.bound)
        return fail(Errc::io, "write to drivers/vbd/unbind failed: No such device", name);
    auto id = parse_sysfs_name(name);
    Device& d = it->second;
    uint32_t inflight = 0;
    for (auto& [k, r] : rings_of(*id)) {
        uint32_t p = r->req_prod - r->rsp_prod;
        if (p <= r->size) inflight += p;
    }
    std::string be = backend_path(*id);
    auto state = xs_.read(be + "/state");
    if (!rebind_supported()) {
        // Without allow_rebind, xenbus_dev_remove closes the device: the guest loses it.
        xs_.write(be + "/state", "6");
        react(FrontendStep::close, name);
    } else if (state == "5") {
        xs_.write(be + "/state", "6");
    }
    // xen_blkbk_remove returns before in-flight I/O completes; the free runs later.
    int64_t drain = static_cast<int64_t>(drain_ms_);
    for (const auto& f : faults_)
        if (f.kind == "slow-drain") drain = static_cast<int64_t>(f.seconds * 1000);
    d.inflight = std::min<uint32_t>(inflight, 8);
    if (d.inflight == 0 && drain == static_cast<int64_t>(drain_ms_)) drain = 1;
    retire(name, d, drain);
    uevent("xen-backend", "unbind", name);
    return {};
}

void World::leave_bus(const std::string& name, Device& d) {
    if (d.removed) return;
    bool was_bound = d.bound;
    d.removed = true;
    retire(name, d, static_cast<int64_t>(drain_ms_));
    if (was_bound) uevent("xen-backend", "unbind", name);
    uevent("xen-backend", "remove", name);
}

void World::uevent(const char* subsystem, const char* action, const std::string& name, const char* driver) {
    uevents_.push_back(UEvent{++uevent_seq_, xs_.seq(), DeviceEvent{subsystem, action, name, driver}});
    while (uevents_.size() > uevent_log_len) uevents_.pop_front();
}

std::vector<UEvent> World::uevents_since(uint64_t seq) const {
    std::vector<UEvent> out;
    for (const auto& u : uevents_)
        if (u.seq > seq) out.push_back(u);
    return out;
}

void World::retire(const std::string& name, Device& d, int64_t drain_ms) {
    bool had_blkif = d.blkif_ref;
    d.bound = d.connected = d.blkif_ref = false;
    if (!had_blkif) return;
    ++d.draining;
    schedule(now_ + drain_ms, "drained", name);
}

// ---------------------------------------------------------------- modules and blkback

Result<void> World::load_module(const std::string& path, const std::map<std::string, std::string>& params) {
    VBD_TRY_VOID(modules_.load(path, params, cpus, [&] { return take_fault("module-load-fail").has_value(); }));
    // blkback's module init registers the driver: with autoprobe on, it probes every device.
    if (autoprobe)
        for (auto& [name, d] : devices_)
            if (!d.bound && !d.removed) probe(name);
    uevent("module", "add", "xen_blkback");
    return {};
}

Result<void> World::unload_module() {
    VBD_TRY_VOID(modules_.unload(refcnt()));
    uevent("module", "remove", "xen_blkback");
    return {};
}

std::optional<vbd::LoadedModule> World::loaded_module() const { return modules_.loaded_module(refcnt()); }

Result<RingSnapshot> World::ring_snapshot(uint32_t domid, uint32_t gref) const {
    std::string prefix = std::to_string(domid) + "/";
    for (auto it = rings_.lower_bound(prefix); it != rings_.end() && it->first.starts_with(prefix);
         ++it)
        if (!it->second.grefs.empty() && it->second.grefs.front() == gref) {
            const Ring& r = it->second;
            return RingSnapshot{r.req_prod, r.req_event, r.rsp_prod, r.rsp_event};
        }
    return fail(Errc::io, "mapping grant " + std::to_string(gref) + " of domain " +
                              std::to_string(domid) + " failed: Invalid argument");
}

std::optional<std::string> World::guest_name(uint32_t domid) const { return frontends_.name(domid); }

std::vector<uint32_t> World::running_domids() const {
    std::vector<uint32_t> out;
    for (uint32_t d : frontends_.domids())
        if (frontends_.running(d)) out.push_back(d);
    return out;
}

// ---------------------------------------------------------------- faults

std::optional<Fault> World::take_fault(const std::string& kind, uint32_t domid, uint32_t devid) {
    for (auto it = faults_.begin(); it != faults_.end(); ++it)
        if (it->kind == kind && it->domid == domid && it->devid == devid) {
            Fault f = *it;
            faults_.erase(it);
            return f;
        }
    return std::nullopt;
}

Result<void> World::add_fault(const Fault& f) {
    const FaultKind* kind = fault_kind(f.kind);
    if (!kind)
        return fail(Errc::invalid_argument, "unknown fault kind '" + f.kind + "'", {}, "see `vbdctl sim fault --help`");
    if (kind->at_step && f.step < 1)
        return fail(Errc::invalid_argument, f.kind + " needs --at-step K >= 1");
    switch (kind->args) {
    case FaultArgs::vbd:
        if (!devices_.contains(VbdId{f.domid, f.devid}.sysfs_name()))
            return fail(Errc::not_found, "no such vbd", VbdId{f.domid, f.devid}.sysfs_name());
        break;
    case FaultArgs::domid:
        if (f.kind == "create-guest" ? (frontends_.has_guest(f.domid) || f.domid == 0 || f.domid > max_domid)
                                     : !frontends_.has_guest(f.domid))
            return fail(Errc::invalid_argument, "domain " + std::to_string(f.domid) +
                                                    (f.kind == "create-guest" ? " exists or is not a guest domid"
                                                                              : " is not a guest here"));
        break;
    case FaultArgs::seconds:
        if (!(f.seconds >= 0 && f.seconds <= 3600))
            return fail(Errc::invalid_argument, f.kind + " needs SECONDS in 0..3600");
        std::erase_if(faults_, [&](const Fault& x) { return x.kind == f.kind; });
        break;
    case FaultArgs::step:
        if (f.step < 1) return fail(Errc::invalid_argument, f.kind + " needs a step >= 1");
        break;
    case FaultArgs::none: break;
    }
    // Faults that change the world at once rather than waiting for their moment.
    if (f.kind == "stall-ring") {
        for (auto& [k, r] : rings_of({f.domid, f.devid})) r->stalled = true;
        return {};
    }
    if (f.kind == "corrupt-ring") {
        auto rings = rings_of({f.domid, f.devid});
        if (rings.empty()) return fail(Errc::invalid_argument, "that vbd has no ring yet");
        Ring& r = *rings.front().second;
        r.req_prod = r.rsp_prod + r.size + 7; // more requests than the ring can hold
        return {};
    }
    faults_.push_back(f);
    return {};
}

bool World::on_journal_step(int k) {
    // crash-after-step K: step K has run; die before anything of a later step (the journal
    // still names step K).
    for (auto it = faults_.begin(); it != faults_.end(); ++it)
        if (it->kind == "crash-after-step" && k > it->step) {
            faults_.erase(it);
            return true;
        }
    for (auto it = faults_.begin(); it != faults_.end();) {
        const FaultKind* kind = fault_kind(it->kind);
        if (!kind || !kind->at_step || it->step != k) {
            ++it;
            continue;
        }
        Fault f = *it;
        it = faults_.erase(it);
        if (f.kind == "destroy-guest") destroy_guest(f.domid);
        else if (f.kind == "create-guest") create_guest(f.domid, "new" + std::to_string(f.domid));
        else detach({f.domid, f.devid});
    }
    return false;
}

bool World::on_journal_cleared(int last_step) {
    // The run finished its last step: a crash-after-step of a step it reached fires.
    for (auto it = faults_.begin(); it != faults_.end(); ++it)
        if (it->kind == "crash-after-step" && it->step <= last_step) {
            faults_.erase(it);
            return true;
        }
    return false;
}

void World::destroy_guest(uint32_t domid) {
    if (!frontends_.has_guest(domid)) return;
    // The toolstack tears the devices down: the backend directories go, so xenbus removes
    // the devices; each blkif still drains before its module reference is dropped.
    for (auto& [name, d] : devices_) {
        auto id = parse_sysfs_name(name);
        if (!id || id->domid != domid || d.removed) continue;
        leave_bus(name, d);
    }
    std::erase_if(devices_, [](const auto& kv) { return kv.second.removed && kv.second.draining == 0; });
    std::erase_if(rings_, [&](const auto& kv) { return kv.first.starts_with(std::to_string(domid) + "/"); });
    xs_.remove(paths::backend_vbd_root(self_) + "/" + std::to_string(domid));
    xs_.remove(paths::domain(domid));
    xs_.remove("/libxl/" + std::to_string(domid));
    frontends_.destroy(domid);
}

} // namespace vbd::sim
