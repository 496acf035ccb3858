#pragma once
// Factories for the real adapters. Each adapter lives in its own file and is the only
// file that includes its C library's headers; those over heavy libraries are parts, modules
// of their own (parts.hpp).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vbdctl/ports.hpp"

struct xentoollog_logger; // <xentoollog.h>

namespace vbd::local {

/// For every Xen library handle: a logger that writes nothing. Left NULL, libxengnttab and
/// the others log to stderr; the library prints nothing, and their failures reach callers as
/// errors (errno) anyway.
xentoollog_logger* silent_xen_logger();

Result<std::unique_ptr<XenStore>> open_xenstore();
std::unique_ptr<BackendBus> make_sysfs_bus(std::string root);
/// libkmod's Modules (in kmod.so; local.so's Host holds make_modules()'s proxy).
Result<std::unique_ptr<Modules>> open_kmod(std::string root);
/// The modprobe options for module name from the configuration in config_dirs only (read
/// through libkmod, as modprobe reads /etc/modprobe.d): lets the simulator honour a directory.
/// In kmod.so.
Result<std::string> modprobe_options(const std::vector<std::string>& config_dirs, std::string_view name);
std::unique_ptr<RingReader> make_gnttab_reader();
/// Proxies that load their part (parts.hpp) at their first call. Guest names need no part.
std::unique_ptr<Toolstack> make_toolstack(XenStore& xs);
std::unique_ptr<Modules> make_modules(std::string root);
std::unique_ptr<Kernel> make_kernel();
std::unique_ptr<Clock> make_clock();
std::unique_ptr<AuditLog> make_audit_log();
/// The host's events: xs's watches merged with the kernel's uevents (libudev's monitor of the
/// kernel source, in udev.so; it needs no udev daemon). xs must be open_xenstore()'s.
std::unique_ptr<HostEvents> make_host_events(XenStore& xs, Clock& clock);
/// The fd that becomes readable when a watch event of xs (open_xenstore()'s) is queued.
int xenstore_fd(XenStore& xs);

/// Milliseconds on CLOCK_MONOTONIC: the time base of the real Clock and xenstore waits.
Millis monotonic_now();

} // namespace vbd::local
