#include "vbdctl/status.hpp"
#include "try.hpp"

#include "vbdctl/inventory.hpp"
#include "vbdctl/kernel_fixes.hpp"

namespace vbd {

std::map<std::string, std::string> blkback_param_defaults(unsigned online_cpus) {
    return {{"max_buffer_pages", "1024"},
            {"max_persistent_grants", "1056"},
            {"persistent_grant_unused_seconds", "60"},
            {"max_queues", std::to_string(online_cpus)}, // xen_blkif_init: 0 means num_online_cpus()
            {"max_ring_page_order", "4"},                // XENBUS_MAX_RING_GRANT_ORDER
            {"log_stats", "0"},
            {"feature_persistent", "Y"},
            {"buffer_squeeze_duration_ms", "10"}};
}

Result<HostStatus> host_status(Host& host, const CheckOptions& opts) {
    HostStatus s;
    s.kernel_release = VBD_TRY(host.kernel.release());
    s.rebind = VBD_TRY(rebind_support(host, false));
    if (!s.rebind.supported) s.problems.push_back(s.rebind.evidence);
    s.kernel_fixes = VBD_TRY(check_kernel_fixes(host.kernel, {}));
    for (const auto& f : s.kernel_fixes)
        if (!f.ok) s.problems.push_back(f.detail);

    s.module = VBD_TRY(host.modules.loaded("xen_blkback"));
    if (!s.module) {
        s.problems.push_back("xen_blkback is not loaded: no vbd has a backend");
    } else {
        auto cpus = host.kernel.online_cpus();
        for (const auto& [name, def] : blkback_param_defaults(cpus ? *cpus : 0)) {
            auto v = s.module->params.find(name);
            if (v != s.module->params.end() && v->second != def) s.params_changed.push_back({name, v->second, def});
        }
    }
    if (auto path = host.modules.resolve("xen_blkback"); !path) {
        s.module_file_error = path.error().message();
    } else if (auto file = host.modules.inspect(*path); !file) {
        s.module_file_error = file.error().message();
    } else {
        s.module_file = std::move(*file);
    }
    if (auto ap = host.bus.autoprobe()) {
        s.autoprobe = *ap;
        if (!*ap) s.problems.push_back("drivers_autoprobe is 0: a disk attached now gets no backend");
    }

    auto vbds = VBD_TRY(Inventory(host).list(std::nullopt));
    s.vbds = vbds.size();
    for (const auto& v : vbds) {
        ++s.by_backend_state[v.backend_state ? std::string(to_string(*v.backend_state)) : "absent"];
        if (!v.device_present) continue;
        if (v.bound) {
            ++s.bound;
        } else {
            ++s.unbound;
            if (v.frontend_state == XenbusState::Connected)
                s.problems.push_back(v.id.sysfs_name() + " has no backend bound under a Connected frontend");
        }
    }
    for (auto& c : VBD_TRY(check_rings(host, std::move(vbds), opts))) {
        // An unbound vbd is reported as such above, not again as its waiting ring.
        if (c.ok() || !c.skipped.empty() || (c.vbd.device_present && !c.vbd.bound)) continue;
        std::string why;
        for (const auto& q : c.queues)
            if (!q.ok()) why += (why.empty() ? "" : "; ") + std::string("queue ") + std::to_string(q.queue) + ": " +
                                (q.reason.empty() ? std::string(to_string(q.progress)) : q.reason);
        for (const auto& p : c.problems) why += (why.empty() ? "" : "; ") + p;
        s.problems.push_back(c.vbd.id.sysfs_name() + ": " + why);
        s.failing.push_back(std::move(c));
    }

    s.run = VBD_TRY(run_state(host.state));
    if (!s.run.journal_error.empty()) s.problems.push_back("the journal is unreadable: " + s.run.journal_error);
    // Under a held lock the journal is a run in progress, not one to recover.
    if (s.run.journal && !s.run.lock_holder) {
        auto m = describe(*s.run.journal);
        s.problems.push_back(m.what + ": " + m.hint);
    }
    return s;
}

} // namespace vbd
