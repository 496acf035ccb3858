#pragma once
// The simulated host's kernel: the xen-backend bus and xen-blkback (each device's bound
// instance and the old instances still draining, with the module references each holds),
// the shared rings, and the event loop that runs the other models forward: xenstore
// (xenstore_model), the module loader (modules_model), the guests' blkfront
// (frontend_model), faults (faults.cpp) and the state file (persistence.cpp). It behaves as
// ../../shared/XEN-FACTS.md and the lab's traces describe. Time is virtual (milliseconds)
// and only moves when a caller waits or sleeps, so every run is deterministic.

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vbdctl/error.hpp"
#include "vbdctl/ports.hpp"
#include "vbdctl/sim.hpp"
#include "vbdctl/types.hpp"
#include "frontend_model.hpp"
#include "modules_model.hpp"
#include "xenstore_model.hpp"

namespace vbd::sim {

/// One queue's shared ring and the guest I/O that drives it.
struct Ring {
    uint32_t req_prod = 0, req_event = 1, rsp_prod = 0, rsp_event = 1;
    uint32_t iodepth = 0;  ///< requests the guest keeps outstanding (<= ring size)
    double rate = 0;       ///< requests per second the guest submits; 0 is an idle guest
    double carry = 0;      ///< fractional requests not yet submitted
    bool stalled = false;  ///< fault: the backend stops answering this ring
    uint32_t size = 32;    ///< entries, from the frontend's geometry
    std::vector<uint32_t> grefs; ///< grant refs of the ring's pages
};

/// blkback's per-device counters: the files of a bound vbd's sysfs statistics/ directory.
struct VbdStats {
    enum Counter { oo_req, rd_req, wr_req, f_req, ds_req, rd_sect, wr_sect, count };
    static constexpr std::array<std::string_view, count> names{"oo_req", "rd_req", "wr_req", "f_req",
                                                               "ds_req", "rd_sect", "wr_sect"};
    std::array<uint64_t, count> value{};

    uint64_t& operator[](Counter c) { return value[c]; }
};

/// A device on the simulated xen-backend bus, with blkback's per-device state.
struct Device {
    bool bound = false;          ///< bound to blkback: xenbus_dev_probe's module reference
    bool blkif_ref = false;      ///< the bound instance's blkif holds a module reference
    /// Unbound (or removed) instances whose deferred free has not run: each still holds its
    /// blkif's module reference, so an old instance and a rebound one can coexist.
    uint32_t draining = 0;
    bool connected = false;      ///< blkback attached to the rings
    bool removed = false;        ///< gone from the bus (guest destroyed), ref still draining
    uint32_t inflight = 0;       ///< requests the unbound instance still completes
    VbdStats stats;
    /// blkback's persistent-grant decision at its last connect (its parameter && the
    /// frontend's key); it is remade at every connect.
    bool be_persistent = false;
};

/// Something the kernel does later: finish a connect, run a deferred free.
struct Event {
    int64_t at = 0;
    std::string kind; ///< "connect", "drained", "frontend-init", "frontend-connected", "frontend-closed", "toolstack-remove"
    std::string device;
};

/// A uevent the simulated kernel sent, numbered, with the xenstore write it followed
/// (xs_seq: the model's sequence number then), so a follower merges both streams in the
/// kernel's order.
struct UEvent {
    uint64_t seq = 0;
    uint64_t xs_seq = 0;
    DeviceEvent ev;
};

class World {
  public:
    static World make(const InitOptions& opts);
    /// Errc::invalid_argument for options make() cannot honour (an unknown parameter...).
    static Result<void> check_init(const InitOptions& opts);
    /// The state file (sim/persistence.cpp): what save() returns, written in order, and
    /// back; Errc::bad_value for a file that is not one, damaged or truncated.
    struct Saved {
        std::string head;    ///< the header line and the JSON section
        std::string scratch; ///< the xenstore lines changed since load
        std::string log, devices, rings, blkfronts;
        std::vector<std::string_view> pieces; ///< into the above and the world: valid while both live
    };
    std::unique_ptr<Saved> save() const;
    static Result<World> load(FileBytes bytes);

    // --- xenstore ---------------------------------------------------------------------
    XenstoreModel& xenstore() { return xs_; }
    const XenstoreModel& xenstore() const { return xs_; }

    // --- kernel: bus, blkback, modules ---------------------------------------------------
    int64_t now() const { return now_; }
    /// The domain this host is (dom0 or a driver domain).
    uint32_t self_domid() const { return self_; }
    /// Runs time forward to t: guests submit I/O, bound backends complete it, events fire.
    void advance_to(int64_t t);
    /// Moves the clock without running anything: for a process that only follows a world
    /// another process owns.
    void jump_to(int64_t t) { now_ = std::max(now_, t); }
    /// Time of the next scheduled kernel event, if any.
    std::optional<int64_t> next_event() const;

    /// The uevents sent after seq (exclusive), oldest first. The log keeps the last
    /// uevent_log_len, as a netlink socket's buffer keeps only so many.
    std::vector<UEvent> uevents_since(uint64_t seq) const;
    uint64_t uevent_seq() const { return uevent_seq_; }
    static constexpr size_t uevent_log_len = 256;

    std::vector<std::string> bus_devices() const;
    std::vector<std::string> bound_devices() const; ///< bound to blkback
    Result<BusDevice> bus_device(const std::string& name) const;
    Result<std::map<std::string, uint64_t>> bus_statistics(const std::string& name) const;
    Result<void> bind(const std::string& name);
    Result<void> unbind(const std::string& name);
    bool autoprobe = true;

    // --- the module loader; loading and unloading involve blkback (probes, references) ----
    ModulesModel& modules() { return modules_; }
    const ModulesModel& modules() const { return modules_; }
    std::optional<vbd::LoadedModule> loaded_module() const;
    Result<void> load_module(const std::string& path, const std::map<std::string, std::string>& params);
    Result<void> unload_module();

    unsigned cpus = 4;
    /// Linux >= 5.5: blkback sets allow_rebind.
    bool rebind_supported() const;

    Result<RingSnapshot> ring_snapshot(uint32_t domid, uint32_t gref) const;
    std::optional<std::string> guest_name(uint32_t domid) const;
    /// The guests that are running.
    std::vector<uint32_t> running_domids() const;
    /// Every guest with its frontends' view of each disk and its console.
    std::vector<GuestView> guests() const;

    // --- faults --------------------------------------------------------------------------
    Result<void> add_fault(const Fault& f);
    const std::vector<Fault>& faults() const { return faults_; }
    void clear_faults() { faults_.clear(); }
    /// Called when a mutating command is about to journal step k (the steps before it are
    /// done); fires the faults armed for step k and returns true when it must crash first.
    bool on_journal_step(int k);
    /// Called when a run that reached last_step clears its journal (it is done); true when
    /// it must crash first.
    bool on_journal_cleared(int last_step);
    void destroy_guest(uint32_t domid);
    /// `xl create` of a guest with one disk (xvda) while the host runs.
    void create_guest(uint32_t domid, const std::string& name);
    /// `xl block-detach`: the toolstack takes one vbd away.
    void detach(VbdId id);

  private:
    /// Sends a uevent (kobject_uevent): KOBJ_BIND at the end of a successful probe, KOBJ_UNBIND
    /// after the driver's remove, a module's KOBJ_ADD after its init and KOBJ_REMOVE when it
    /// is freed (drivers/base/dd.c, kernel/module/main.c of Linux 6.1).
    void uevent(const char* subsystem, const char* action, const std::string& name, const char* driver = "");
    /// A device leaves the bus (device_del): unbound first when bound, then removed.
    void leave_bus(const std::string& name, Device& d);
    void add_guest(uint32_t domid, const std::string& name);
    void add_vbd(VbdId id, unsigned order, unsigned queues, const char* protocol,
                 XenbusState fe_state, double rate, uint32_t iodepth);
    /// Schedules what blkfront does after the guest's reaction time.
    void react(FrontendStep step, const std::string& name);
    void publish_rings(VbdId id, unsigned order, unsigned queues, const char* protocol, double rate,
                       uint32_t iodepth);
    void remove_vbd(VbdId id);
    std::string backend_path(VbdId id) const;
    void advance_rings(int64_t dt_ms);
    void probe(const std::string& name);
    void connect(const std::string& name);
    void fatal(const std::string& name, const std::string& msg);
    void schedule(int64_t at, const std::string& kind, const std::string& device);
    /// Queues a connect of device that takes cost_ms of xenwatch's time.
    void schedule_connect(const std::string& device, int64_t cost_ms);
    std::optional<Fault> take_fault(const std::string& kind, uint32_t domid = 0, uint32_t devid = 0);
    int refcnt() const;
    std::vector<std::pair<std::string, Ring*>> rings_of(VbdId id);
    static Result<World> from_json(const nlohmann::json& j); ///< all but xenstore
    nlohmann::json to_json() const;
    std::string devices_section() const;
    std::string rings_section() const;
    [[nodiscard]] bool load_devices(std::string_view text);
    [[nodiscard]] bool load_rings(std::string_view text);
    bool backend_serving(VbdId id) const;
    /// The bound instance goes: its probe reference at once, its blkif's after drain_ms.
    void retire(const std::string& name, Device& d, int64_t drain_ms);

    int64_t now_ = 0;
    uint32_t self_ = 0;
    int64_t connect_ms_ = InitOptions{}.connect_ms;
    XenstoreModel xs_;
    std::map<std::string, Device> devices_;
    std::map<std::string, Ring> rings_; ///< "D/N/Q"
    FrontendModel frontends_;
    ModulesModel modules_;
    std::vector<Fault> faults_;
    std::multimap<int64_t, Event> events_; ///< by time; equal times in the order scheduled
    double drain_ms_ = 20;
    std::deque<UEvent> uevents_;
    uint64_t uevent_seq_ = 0;
};

} // namespace vbd::sim
