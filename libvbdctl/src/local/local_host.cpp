// The real host: every adapter, opened together (those in parts when first used), after
// checking this is a Xen backend domain; and the entry point of local.so (module.hpp).

#include "vbdctl/local.hpp"
#include "../try.hpp"

#include "../run_history.hpp"
#include "../state_dir.hpp"
#include "adapters.hpp"
#include "module.hpp"
#include "parts.hpp"

namespace vbd {

namespace {

class Impl final : public LocalHost {
  public:
    Host& host() override { return *host_; }

    std::unique_ptr<XenStore> xs;
    std::unique_ptr<BackendBus> bus;
    std::unique_ptr<Modules> modules;
    std::unique_ptr<Kernel> kernel;
    std::unique_ptr<RingReader> rings;
    std::unique_ptr<Toolstack> toolstack;
    std::unique_ptr<StateDir> state;
    std::unique_ptr<Clock> clock;
    std::unique_ptr<AuditLog> audit;
    std::unique_ptr<RunHistory> runs;
    std::unique_ptr<HostEvents> events;
    std::unique_ptr<Host> host_;
};

Result<std::unique_ptr<LocalHost>> open_local_host(const LocalOptions& opts) {
    auto h = std::make_unique<Impl>();
    h->bus = local::make_sysfs_bus(opts.sysfs_root);
    auto xs = local::open_xenstore();
    if (!xs || !h->bus->present()) {
        std::string missing;
        if (!xs) missing = "xenstore (" + xs.error().what + ")";
        if (!h->bus->present())
            missing += std::string(missing.empty() ? "" : ", ") + "/sys/bus/xen-backend";
        return fail(Errc::not_xen, "this machine is not a Xen backend domain: missing " + missing, {},
                    "run vbdctl in dom0 or a driver domain, or try --host sim");
    }
    h->xs = std::move(*xs);
    h->modules = local::make_modules(opts.sysfs_root);
    h->kernel = local::make_kernel();
    h->rings = local::make_gnttab_reader();
    h->toolstack = local::make_toolstack(*h->xs);
    h->state = std::make_unique<FileStateDir>(opts.state_dir);
    h->clock = local::make_clock();
    h->audit = local::make_audit_log();
    h->runs = std::make_unique<FileRunHistory>(opts.runs_dir);
    h->events = local::make_host_events(*h->xs, *h->clock);
    h->host_ = std::make_unique<Host>(Host{*h->xs, *h->bus, *h->modules, *h->kernel, *h->rings,
                                           *h->toolstack, *h->state, *h->clock, *h->audit, *h->runs,
                                           *h->events});
    return std::unique_ptr<LocalHost>(std::move(h));
}

Result<std::string> modprobe_options(const std::vector<std::string>& config_dirs, std::string_view name) {
    return VBD_TRY(local::kmod_part())->modprobe_options(config_dirs, name);
}

} // namespace

} // namespace vbd

extern "C" const vbd::local::Module* vbdctl_local_module() {
    static const vbd::local::Module m{VBDCTL_VERSION, &vbd::open_local_host, &vbd::modprobe_options};
    return &m;
}
