#include "frontend_model.hpp"

namespace vbd::sim {

namespace {

std::string vdev_of(VbdId id) { return devid_to_vdev(id.devid).value_or(std::to_string(id.devid)); }

} // namespace

void FrontendModel::add_guest(uint32_t domid, const std::string& name) { guests_[domid] = Guest{name, true, {}}; }

bool FrontendModel::running(uint32_t domid) const {
    auto g = guests_.find(domid);
    return g != guests_.end() && g->second.running;
}

std::optional<std::string> FrontendModel::name(uint32_t domid) const {
    if (!running(domid)) return std::nullopt;
    return guests_.at(domid).name;
}

void FrontendModel::log(uint32_t domid, int64_t now, std::string text) {
    auto g = guests_.find(domid);
    if (g == guests_.end()) return;
    auto& c = g->second.console;
    c.push_back(ConsoleLine{now, std::move(text)});
    if (c.size() > 200) c.erase(c.begin());
}

void FrontendModel::destroy(uint32_t domid) {
    guests_.erase(domid);
    std::string prefix = "vbd-" + std::to_string(domid) + "-";
    std::erase_if(blkfronts_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
}

GuestView FrontendModel::view(uint32_t domid, const std::vector<uint32_t>& devids) const {
    GuestView v{domid, {}, {}, {}};
    auto g = guests_.find(domid);
    if (g == guests_.end()) return v;
    v.name = g->second.name;
    for (uint32_t devid : devids) {
        const Blkfront* f = find(VbdId{domid, devid}.sysfs_name());
        v.disks.push_back(FrontendView{devid, f && f->persistent, f && f->disabled});
    }
    for (const auto& l : g->second.console) v.console.emplace_back(l.at, l.text);
    return v;
}

std::vector<uint32_t> FrontendModel::domids() const {
    std::vector<uint32_t> out;
    for (const auto& [d, g] : guests_) out.push_back(d);
    return out;
}

const Blkfront* FrontendModel::find(const std::string& dev) const {
    auto it = blkfronts_.find(dev);
    return it == blkfronts_.end() ? nullptr : &it->second;
}

FrontendStep FrontendModel::backend_initwait(const XenstoreModel& xs, const std::string& dev,
                                             const std::string& fe) const {
    const Blkfront* f = find(dev);
    return f && f->live && xs.read(fe + "/state") == "1" ? FrontendStep::init : FrontendStep::none;
}

FrontendStep FrontendModel::backend_closing(XenstoreModel& xs, VbdId id, const std::string& fe, int64_t now) {
    auto state = xs.read(fe + "/state");
    if (state != "3" && state != "4") return FrontendStep::none;
    blkfront(id.sysfs_name()).disabled = true;
    log(id.domid, now, "blkfront: " + vdev_of(id) + ": backend Closing, the disk is gone (blkfront_closing)");
    return FrontendStep::close;
}

FrontendStep FrontendModel::backend_connected(const XenstoreModel& xs, VbdId id, const std::string& fe,
                                              const std::string& be, int64_t now) {
    const Blkfront* f = find(id.sysfs_name());
    auto state = xs.read(fe + "/state");
    if (state == "3" && f && f->live) return FrontendStep::connect;
    if (state == "4") {
        // A connected blkfront only re-reads the size (blkfront_connect): no renegotiation. One
        // that disabled the disk runs its first-connect path again and trips BUG_ON(info->gd)
        // in xenwatch (seen in the lab, Linux 6.1): the guest no longer reacts to xenstore.
        if (f && f->disabled) log(id.domid, now, "kernel BUG at drivers/block/xen-blkfront.c:1081!");
        else log(id.domid, now, "Setting capacity to " + xs.read(be + "/sectors").value_or("0"));
    }
    return FrontendStep::none;
}

void FrontendModel::connect(XenstoreModel& xs, const std::string& dev, const std::string& fe, const std::string& be) {
    if (xs.read(fe + "/state") != "3") return;
    blkfront(dev).persistent = xs.read(be + "/feature-persistent") == "1";
    xs.write(fe + "/state", "4");
}

void FrontendModel::close(XenstoreModel& xs, const std::string& fe) {
    if (!xs.exists(fe)) return;
    xs.write(fe + "/state", "5");
    xs.write(fe + "/state", "6");
}

void FrontendModel::grant_left_mapped(VbdId id, int64_t now, uint32_t gref) {
    log(id.domid, now, "backed has not unmapped grant: " + std::to_string(gref));
    log(id.domid, now, vdev_of(id) + " disabled for further use");
    blkfront(id.sysfs_name()).disabled = true;
}

} // namespace vbd::sim
