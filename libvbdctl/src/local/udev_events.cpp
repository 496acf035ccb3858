// vbdctl/udev.so: HostEvents over libxenstore's watch fd and libudev's monitor of the kernel's
// uevents.

#include <cerrno>
#include <cstring>
#include <deque>
#include <poll.h>

#include <libudev.h>

#include "parts.hpp"

namespace vbd::local {

namespace {

class UdevHostEvents final : public HostEvents {
  public:
    UdevHostEvents(XenStore& xs, int (*xs_fd)(XenStore&), Clock& clock) : xs_(xs), xs_fd_(xs_fd), clock_(clock) {}
    ~UdevHostEvents() override {
        if (mon_) udev_monitor_unref(mon_);
        if (udev_) udev_unref(udev_);
    }

    Result<void> subscribe() override {
        if (mon_) return {};
        udev_ = udev_new();
        if (!udev_) return fail(Errc::io, std::string("udev_new failed: ") + std::strerror(errno));
        // The kernel's own netlink messages, not udevd's: dom0s often run no udev daemon.
        mon_ = udev_monitor_new_from_netlink(udev_, "kernel");
        if (!mon_)
            return fail(Errc::io, std::string("cannot listen to kernel uevents: ") + std::strerror(errno), {},
                        "vbdctl watch needs a NETLINK_KOBJECT_UEVENT socket");
        for (const char* subsystem : {"xen-backend", "module"})
            if (int rc = udev_monitor_filter_add_match_subsystem_devtype(mon_, subsystem, nullptr); rc < 0)
                return fail(Errc::io, std::string("cannot filter uevents: ") + std::strerror(-rc));
        // An upgrade of many vbds sends two uevents per vbd within milliseconds.
        (void)udev_monitor_set_receive_buffer_size(mon_, 4 << 20);
        if (int rc = udev_monitor_enable_receiving(mon_); rc < 0)
            return fail(Errc::io, std::string("cannot listen to kernel uevents: ") + std::strerror(-rc));
        return {};
    }

    Result<std::optional<HostEvent>> wait(Millis deadline) override {
        while (true) {
            // What has come, xenstore first: when both are pending the order is unknown, and
            // a probe's writes precede its bind uevent (drivers/base/dd.c: driver_bound).
            auto w = xs_.wait(Millis(0));
            if (!w) return std::unexpected(w.error());
            if (*w) return std::optional<HostEvent>(std::move(**w));
            if (mon_)
                if (udev_device* d = udev_monitor_receive_device(mon_)) return std::optional<HostEvent>(take(d));
            auto left = deadline - clock_.now();
            if (left.count() <= 0) return std::optional<HostEvent>{};
            int xfd = xs_fd_(xs_);
            if (xfd < 0) return fail(Errc::io, std::string("cannot get the xenstore watch fd: ") + std::strerror(errno));
            pollfd p[2] = {{xfd, POLLIN, 0}, {mon_ ? udev_monitor_get_fd(mon_) : -1, POLLIN, 0}};
            int rc = ::poll(p, mon_ ? 2 : 1, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
            // A signal: hand control back so the caller can look at its stop flag.
            if (rc < 0 && errno == EINTR) return std::optional<HostEvent>{};
            if (rc < 0) return fail(Errc::io, std::string("poll on host events failed: ") + std::strerror(errno));
        }
    }

  private:
    static DeviceEvent take(udev_device* d) {
        auto str = [](const char* s) { return std::string(s ? s : ""); };
        DeviceEvent e{str(udev_device_get_subsystem(d)), str(udev_device_get_action(d)),
                      str(udev_device_get_sysname(d)), str(udev_device_get_property_value(d, "DRIVER"))};
        udev_device_unref(d);
        return e;
    }

    XenStore& xs_;
    int (*xs_fd_)(XenStore&);
    Clock& clock_;
    udev* udev_ = nullptr;
    udev_monitor* mon_ = nullptr;
};

std::unique_ptr<HostEvents> make_udev_events(XenStore& xs, int (*xs_fd)(XenStore&), Clock& clock) {
    return std::make_unique<UdevHostEvents>(xs, xs_fd, clock);
}

} // namespace

} // namespace vbd::local

extern "C" const vbd::local::UdevPart* vbdctl_udev_part() {
    static const vbd::local::UdevPart p{VBDCTL_VERSION, &vbd::local::make_udev_events};
    return &p;
}
