#pragma once
/// Ports: the small abstract interfaces through which services reach a host. The real
/// adapters (host "local") and the simulator (host "sim") implement every one of them.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vbdctl/error.hpp"
#include "vbdctl/ring.hpp"

namespace vbd {

using Millis = std::chrono::milliseconds;

/// Monotonic time. Deadlines everywhere are points on this clock.
class Clock {
  public:
    virtual ~Clock() = default;
    /// Milliseconds on a monotonic clock (virtual time on the simulator).
    virtual Millis now() = 0;
    /// Milliseconds since the epoch (virtual on the simulator); kept in journals so
    /// another process can tell how long a vbd was without a backend.
    virtual Millis wall_now() = 0;
    /// Sleeps (the simulator advances its time instead). Used only where the kernel offers
    /// no event to wait for (the module refcount).
    virtual void sleep_for(Millis d) = 0;
};

/// One fired xenstore watch.
struct WatchEvent {
    std::string path;
    std::string token;
};

/// A xenstore transaction id; 0 is "no transaction" (XBT_NULL).
using Txn = uint32_t;
inline constexpr Txn no_txn = 0;

/// The xenstore daemon, as libxenstore shows it.
class XenStore {
  public:
    virtual ~XenStore() = default;
    /// The value at path; nullopt when the node does not exist.
    virtual Result<std::optional<std::string>> read(std::string_view path, Txn t = no_txn) = 0;
    /// read() of dir/KEY for each key, in the order of keys. xenstored answers one node per
    /// request, so this default asks for each in turn; the simulator finds them all in one
    /// pass over dir's nodes.
    virtual Result<std::vector<std::optional<std::string>>> read_many(std::string_view dir,
                                                                      std::span<const std::string_view> keys,
                                                                      Txn t = no_txn);
    /// Child names of path; nullopt when the node does not exist.
    virtual Result<std::optional<std::vector<std::string>>> directory(std::string_view path,
                                                                      Txn t = no_txn) = 0;
    virtual Result<void> write(std::string_view path, std::string_view value, Txn t = no_txn) = 0;
    virtual Result<void> remove(std::string_view path, Txn t = no_txn) = 0;
    virtual Result<Txn> transaction_start() = 0;
    /// Ends a transaction; false when it must be retried (EAGAIN).
    virtual Result<bool> transaction_end(Txn t, bool abort) = 0;
    /// Watches path and everything below it. A new watch fires once at once.
    virtual Result<void> watch(std::string_view path, std::string_view token) = 0;
    virtual Result<void> unwatch(std::string_view path, std::string_view token) = 0;
    /// Waits for the next watch event until deadline (a Clock time); nullopt on timeout.
    virtual Result<std::optional<WatchEvent>> wait(Millis deadline) = 0;
};

/// One kernel uevent, as udev's monitor of the kernel's netlink source receives it: a device of
/// the xen-backend bus added, removed, bound or unbound (driver core, Linux >= 4.14 for bind
/// and unbind), or a module added (after its init ran) or removed.
struct DeviceEvent {
    std::string subsystem; ///< "xen-backend" or "module"
    std::string action;    ///< "add", "remove", "bind", "unbind" ("change" and others pass through)
    std::string name;      ///< the sysname: "vbd-1-51712", "xen_blkback"
    std::string driver;    ///< DRIVER of a bind ("vbd"); empty otherwise (an unbind has none)
};

/// What woke a HostEvents::wait: a xenstore watch or a uevent.
using HostEvent = std::variant<WatchEvent, DeviceEvent>;

/// The host's events as one stream: the xenstore watches set through XenStore::watch and,
/// once subscribed, the kernel's uevents of the xen-backend bus and of modules, in the order
/// they came.
class HostEvents {
  public:
    virtual ~HostEvents() = default;
    /// Starts receiving uevents (those sent from now on). Without a call, wait() returns
    /// xenstore watch events only.
    virtual Result<void> subscribe() = 0;
    /// The next event, waiting until deadline (a Clock time); nullopt on timeout or when a
    /// signal interrupted the wait (the caller looks at its stop flag). Consumes the
    /// xenstore watch events that XenStore::wait would have returned.
    virtual Result<std::optional<HostEvent>> wait(Millis deadline) = 0;
};

/// A device on the xen-backend bus (/sys/bus/xen-backend/devices/NAME).
struct BusDevice {
    std::string name;                  ///< "vbd-1-51712"
    std::optional<std::string> state;  ///< the `state` attribute, a name ("Connected")
    std::optional<std::string> driver; ///< driver name when bound (the `driver` link)
    std::optional<std::string> physical_device; ///< blkback's attribute, while bound
    bool bound() const { return driver.has_value(); }
};

/// The xen-backend bus in sysfs: devices, driver binding and autoprobe.
class BackendBus {
  public:
    virtual ~BackendBus() = default;
    /// Whether the bus exists at all (it does in every Xen backend domain).
    virtual bool present() = 0;
    /// Names of every device on the bus (all device types).
    virtual Result<std::vector<std::string>> devices() = 0;
    virtual Result<BusDevice> device(std::string_view name) = 0;
    /// blkback's statistics/* of a device: empty while it is unbound. Apart from device():
    /// seven more files per vbd that a listing does not show.
    virtual Result<std::map<std::string, uint64_t>> statistics(std::string_view name) = 0;
    /// Whether driver `drv` ("vbd") is registered (drivers/vbd exists).
    virtual Result<bool> driver_registered(std::string_view drv) = 0;
    /// Names of the devices bound to driver `drv`: the driver core's links in drivers/DRV/,
    /// one directory read; empty when the driver is not registered.
    virtual Result<std::vector<std::string>> bound_to(std::string_view drv) = 0;
    /// Writes the device name to drivers/DRV/bind or unbind.
    virtual Result<void> bind(std::string_view drv, std::string_view device) = 0;
    virtual Result<void> unbind(std::string_view drv, std::string_view device) = 0;
    /// /sys/bus/xen-backend/drivers_autoprobe.
    virtual Result<bool> autoprobe() = 0;
    virtual Result<void> set_autoprobe(bool on) = 0;
};

/// A module as the running kernel has it loaded (/sys/module/NAME).
struct LoadedModule {
    std::string name;
    bool builtin = false; ///< built into the kernel: no refcnt, cannot be unloaded
    int refcnt = 0;
    std::optional<std::string> srcversion; ///< absent for in-tree modules without one
    std::optional<std::string> version;
    std::optional<std::string> build_id;   ///< hex GNU build-id from notes/, when present
    std::map<std::string, std::string> params;
    std::string taint;
};

/// A module parameter as modinfo lists it (`parmtype`: int, uint, bool, charp, ...).
struct ModuleParam {
    std::string name;
    std::string type;
};

/// What modinfo says about a module file.
struct ModuleFile {
    std::string path;
    std::string name;
    std::string vermagic;
    std::optional<std::string> srcversion;
    std::optional<std::string> version;
    std::optional<std::string> build_id;
    std::vector<ModuleParam> params;
    std::optional<std::string> signer;  ///< module signature's signer; nullopt when unsigned
    std::optional<std::string> sig_key; ///< the signing key's id (hex)

    /// The parameter called name, or nullptr.
    const ModuleParam* param(std::string_view param_name) const {
        for (const auto& p : params)
            if (p.name == param_name) return &p;
        return nullptr;
    }
};

/// Kernel modules (libkmod).
class Modules {
  public:
    virtual ~Modules() = default;
    /// The loaded module named name (built in counts as loaded); nullopt when not loaded.
    virtual Result<std::optional<LoadedModule>> loaded(std::string_view name) = 0;
    /// modinfo of a module file.
    virtual Result<ModuleFile> inspect(std::string_view path) = 0;
    /// The file modprobe would load for name on the running kernel.
    virtual Result<std::string> resolve(std::string_view name) = 0;
    /// Every file of module name for the running kernel in its module directories
    /// (/lib/modules/RELEASE and /usr/lib/modules/RELEASE), compressed (.ko.xz, .ko.zst,
    /// .ko.gz) or not; the one modprobe resolves first.
    virtual Result<std::vector<std::string>> files(std::string_view name) = 0;
    /// The options modprobe would pass to name from its configuration (`options` lines of
    /// modprobe.d), as one string ("NAME=VALUE NAME2=VALUE2"); empty when there are none.
    virtual Result<std::string> config_options(std::string_view name) = 0;
    /// Loads a module file with the given parameters (no dependency resolution).
    virtual Result<void> load(std::string_view path,
                              const std::map<std::string, std::string>& params) = 0;
    /// Unloads a module; Errc::busy while its refcount is not zero.
    virtual Result<void> unload(std::string_view name) = 0;
    /// Copies a module file into dir (created if missing); returns the copy's path.
    virtual Result<std::string> keep_copy(std::string_view path, std::string_view dir) = 0;
};

/// The running kernel.
class Kernel {
  public:
    virtual ~Kernel() = default;
    /// `uname -r`.
    virtual Result<std::string> release() = 0;
    /// `uname -v`, the build string ("#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-20)").
    virtual Result<std::string> version() = 0;
    /// Online CPUs of this domain (what max_queues=0 means).
    virtual Result<unsigned> online_cpus() = 0;
    /// Why this kernel loads only signed modules ("sig_enforce", "lockdown integrity"), or
    /// nullopt when it loads unsigned ones (tainting itself).
    virtual Result<std::optional<std::string>> signature_enforcement() = 0;
};

/// Reads the shared header of a ring through a read-only grant mapping of its page 0.
class RingReader {
  public:
    virtual ~RingReader() = default;
    virtual Result<RingSnapshot> read(uint32_t domid, uint32_t gref) = 0;
};

/// One disk as the toolstack configured it.
struct ToolstackDisk {
    std::string vdev;
    std::string target; ///< pdev_path
    std::string format;
    uint32_t backend_domid = 0;
};

/// The toolstack's view of guests (libxenlight).
class Toolstack {
  public:
    virtual ~Toolstack() = default;
    /// The guest's name, nullopt when the toolstack does not know it.
    virtual Result<std::optional<std::string>> domain_name(uint32_t domid) = 0;
    /// The guest's disks as configured; empty when unknown.
    virtual Result<std::vector<ToolstackDisk>> disks(uint32_t domid) = 0;
    /// Every domain the toolstack knows (running or not), in domid order; an error when it
    /// cannot list them (then /local/domain in xenstore is the list).
    virtual Result<std::vector<uint32_t>> domains() = 0;
};

/// One record of the audit trail: a mutation's plan, each step as it begins and ends, each
/// undo, and the result.
struct AuditRecord {
    enum class Event { plan, step, step_end, undo, result };
    Event event = Event::plan;
    std::string op;         ///< "upgrade", "unbind", "bind", "rebind", "recover"
    int step = 0;           ///< the step's number (0 for plan and result)
    std::string step_name;
    bool ok = true;         ///< step_end, undo, result: whether it succeeded
    std::vector<std::string> vbds; ///< the vbds the run concerns, as vbd-D-N
    std::string message;    ///< one line for a person, complete on its own
};
std::string_view to_string(AuditRecord::Event e);

/// The system's log, where every mutation leaves its trail: the systemd journal with
/// structured fields, syslog without it, nothing on a host with neither.
class AuditLog {
  public:
    virtual ~AuditLog() = default;
    /// Writes one record at once (a SIGKILL right after it loses nothing). A log that cannot
    /// be written never fails the mutation: the record is dropped.
    virtual void record(const AuditRecord& r) = 0;
};

/// A held lock; released when destroyed.
class Lock {
  public:
    virtual ~Lock() = default;
};

/// Where mutating commands keep their lock, journal and rollback copies (/run/vbdctl).
class StateDir {
  public:
    virtual ~StateDir() = default;
    /// Takes the one-mutator lock without blocking; Errc::busy when another process has it.
    virtual Result<std::unique_ptr<Lock>> lock() = 0;
    /// Whether another process holds the lock (Errc::busy naming it), without taking it or
    /// creating anything: what a dry run checks.
    virtual Result<void> lock_free() = 0;
    /// The journal's text, nullopt when there is none.
    virtual Result<std::optional<std::string>> read_journal() = 0;
    /// Replaces the journal atomically and durably (write, fsync, rename, fsync dir).
    virtual Result<void> write_journal(std::string_view text) = 0;
    virtual Result<void> clear_journal() = 0;
    /// The directory, for rollback copies and messages.
    virtual std::string path() const = 0;
};

/// One kept run: the final report of a mutating command, as it ended.
struct RunRecord {
    std::string id;       ///< "20261204T181425.123Z-upgrade-backend": ids sort as the runs ended
    std::string command;  ///< "upgrade-backend", "unbind", "recover", ...
    Millis started{0};    ///< wall clock, milliseconds since the epoch
    Millis ended{0};
    int exit = 0;         ///< the exit status it reported (0: success)
    std::string message;  ///< the error's message when it failed, else empty
    std::string report;   ///< the --json object it printed (or would have), as JSON text
    std::string text;     ///< what it printed on stdout without --json
    std::string damaged;  ///< set (why) when the kept file cannot be read; the rest is empty
};

/// Where the reports of mutating runs are kept (/var/lib/vbdctl/runs): the last keep_last,
/// one file each. Only a mutation writes here.
class RunHistory {
  public:
    static constexpr size_t keep_last = 50;
    virtual ~RunHistory() = default;
    /// Keeps r under a new id (returned), then removes the oldest beyond keep_last.
    virtual Result<std::string> keep(const RunRecord& r) = 0;
    /// Every kept run, oldest first, without report and text (a damaged one says why).
    virtual Result<std::vector<RunRecord>> list() = 0;
    /// One run, whole. Errc::invalid_argument for an id no run has.
    virtual Result<RunRecord> read(std::string_view id) = 0;
    /// The directory, for messages.
    virtual std::string path() const = 0;
};

/// Everything a service needs from one host. Owned by whoever opened the host.
struct Host {
    XenStore& xenstore;
    BackendBus& bus;
    Modules& modules;
    Kernel& kernel;
    RingReader& rings;
    Toolstack& toolstack;
    StateDir& state;
    Clock& clock;
    AuditLog& audit;
    RunHistory& runs;
    HostEvents& events;
};

} // namespace vbd
