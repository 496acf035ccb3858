// The simulator's ports: each one a thin view of the shared World.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <poll.h>
#include <sstream>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../src/local/module.hpp"
#include "../src/run_history.hpp"
#include "../src/state_dir.hpp"
#include "../src/try.hpp"
#include "vbdctl/sim.hpp"
#include "world.hpp"

namespace vbd::sim {

namespace {

using nlohmann::json;

int64_t real_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool watch_matches(const std::string& watch, const std::string& path) {
    // A watch fires for its node and everything below it; a removal of a parent fires too.
    auto below = [](const std::string& p, const std::string& base) {
        return p == base || base == "/" ||
               (p.size() > base.size() && p.starts_with(base) && p[base.size()] == '/');
    };
    return below(path, watch) || below(watch, path);
}

class Impl;

class SimClock final : public Clock {
  public:
    explicit SimClock(Impl& s) : s_(s) {}
    Millis now() override;
    Millis wall_now() override;
    void sleep_for(Millis d) override;

  private:
    Impl& s_;
};

class SimXenStore final : public XenStore {
  public:
    explicit SimXenStore(Impl& s) : s_(s) {}
    Result<std::optional<std::string>> read(std::string_view path, Txn) override;
    Result<std::vector<std::optional<std::string>>> read_many(std::string_view dir, std::span<const std::string_view> keys,
                                                              Txn) override;
    Result<std::optional<std::vector<std::string>>> directory(std::string_view path, Txn) override;
    Result<void> write(std::string_view path, std::string_view value, Txn) override;
    Result<void> remove(std::string_view path, Txn) override;
    Result<Txn> transaction_start() override { return ++txn_; }
    // One process mutates a simulated world at a time, so transactions always commit.
    Result<bool> transaction_end(Txn, bool) override { return true; }
    Result<void> watch(std::string_view path, std::string_view token) override;
    Result<void> unwatch(std::string_view path, std::string_view token) override;
    Result<std::optional<WatchEvent>> wait(Millis deadline) override;
    void reset_seen();
    /// Queues the watch events of the writes since the last call.
    void collect();
    /// The xenstore sequence number of the next queued event (0: a new watch's first
    /// firing); nullopt when none is queued.
    std::optional<uint64_t> next_seq() const;
    WatchEvent take();

  private:
    /// The absolute path xenstored would use (relative ones are built in scratch), or EINVAL.
    /// The first `known` characters of an absolute path were checked already.
    Result<std::string_view> resolve(std::string_view path, std::string& scratch, size_t known = 0) const;
    Result<std::string> abs(std::string_view path) const;

    Impl& s_;
    Txn txn_ = 0;
    uint64_t seen_ = 0;
    std::vector<std::pair<std::string, std::string>> watches_;
    std::deque<std::pair<uint64_t, WatchEvent>> queue_;
};

// The simulated kernel's uevents (World's log), merged with the xenstore watches in the order
// the model made them.
class SimHostEvents final : public HostEvents {
  public:
    SimHostEvents(Impl& s, SimXenStore& xs) : s_(s), xs_(xs) {}
    Result<void> subscribe() override;
    Result<std::optional<HostEvent>> wait(Millis deadline) override;
    void reset_seen();

  private:
    void collect();

    Impl& s_;
    SimXenStore& xs_;
    bool subscribed_ = false;
    uint64_t seen_ = 0;
    std::deque<UEvent> queue_;
};

class SimBus final : public BackendBus {
  public:
    explicit SimBus(Impl& s) : s_(s) {}
    bool present() override { return true; }
    Result<std::vector<std::string>> devices() override;
    Result<BusDevice> device(std::string_view name) override;
    Result<std::map<std::string, uint64_t>> statistics(std::string_view name) override;
    Result<bool> driver_registered(std::string_view drv) override;
    Result<std::vector<std::string>> bound_to(std::string_view drv) override;
    Result<void> bind(std::string_view drv, std::string_view device) override;
    Result<void> unbind(std::string_view drv, std::string_view device) override;
    Result<bool> autoprobe() override;
    Result<void> set_autoprobe(bool on) override;

  private:
    Impl& s_;
};

class SimModules final : public Modules {
  public:
    explicit SimModules(Impl& s) : s_(s) {}
    Result<std::optional<LoadedModule>> loaded(std::string_view name) override;
    Result<ModuleFile> inspect(std::string_view path) override;
    Result<std::string> resolve(std::string_view name) override;
    Result<std::string> config_options(std::string_view name) override;
    Result<std::vector<std::string>> files(std::string_view name) override;
    Result<void> load(std::string_view path, const std::map<std::string, std::string>& params) override;
    Result<void> unload(std::string_view name) override;
    Result<std::string> keep_copy(std::string_view path, std::string_view dir) override;

  private:
    Impl& s_;
};

class SimKernel final : public Kernel {
  public:
    explicit SimKernel(Impl& s) : s_(s) {}
    Result<std::string> release() override;
    Result<std::string> version() override;
    Result<unsigned> online_cpus() override;
    Result<std::optional<std::string>> signature_enforcement() override;

  private:
    Impl& s_;
};

class SimRings final : public RingReader {
  public:
    explicit SimRings(Impl& s) : s_(s) {}
    Result<RingSnapshot> read(uint32_t domid, uint32_t gref) override;

  private:
    Impl& s_;
};

class SimToolstack final : public Toolstack {
  public:
    explicit SimToolstack(Impl& s) : s_(s) {}
    Result<std::optional<std::string>> domain_name(uint32_t domid) override;
    Result<std::vector<ToolstackDisk>> disks(uint32_t domid) override;
    Result<std::vector<uint32_t>> domains() override;

  private:
    Impl& s_;
};

// The simulator's lock, journal and rollback copies live in real files beside the state
// file; journal writes are where injected crashes and guest destruction happen.
class SimStateDir final : public StateDir {
  public:
    SimStateDir(Impl& s, std::string dir) : s_(s), files_(std::move(dir)) {}
    Result<std::unique_ptr<Lock>> lock() override;
    Result<void> lock_free() override { return files_.lock_free(); }
    Result<std::optional<std::string>> read_journal() override { return files_.read_journal(); }
    Result<void> write_journal(std::string_view text) override;
    Result<void> clear_journal() override;
    std::string path() const override { return files_.path(); }

  private:
    Impl& s_;
    FileStateDir files_;
};

// The simulated host's system log: one JSON object per line in STATE.d/audit.log, with the
// fields the real host gives the journal (VBDCTL_OP, _EVENT, _STEP, ...).
class SimAuditLog final : public AuditLog {
  public:
    explicit SimAuditLog(const StateDir& dir) : dir_(dir) {}
    void record(const AuditRecord& r) override {
        nlohmann::json j = {{"op", r.op},         {"event", to_string(r.event)}, {"step", r.step},
                            {"step_name", r.step_name}, {"ok", r.ok},          {"vbds", r.vbds},
                            {"message", r.message}};
        std::ofstream(dir_.path() + "/audit.log", std::ios::app) << j.dump() << "\n" << std::flush;
    }

  private:
    const StateDir& dir_;
};

class Impl final : public SimHost {
  public:
    Impl(World w, std::optional<std::string> state_file, std::string state_dir)
        : world(std::move(w)), file(std::move(state_file)), clock_(*this), xs_(*this), bus_(*this),
          mods_(*this), kernel_(*this), rings_(*this), ts_(*this),
          state_(*this, std::move(state_dir)), audit_(state_), runs_(state_.path() + "/runs"),
          events_(*this, xs_), host_{xs_, bus_, mods_, kernel_, rings_, ts_, state_, clock_, audit_, runs_, events_} {}
    ~Impl() override {
        (void)flush();
        if (follow_fd >= 0) ::close(follow_fd);
        std::error_code ec;
        if (!file) std::filesystem::remove_all(state_.path(), ec);
    }

    Host& host() override { return host_; }
    Result<void> init(const InitOptions& opts) override {
        VBD_TRY_VOID(World::check_init(opts));
        VBD_TRY_VOID(mutating("sim init"));
        world = World::make(opts);
        xs_.reset_seen();
        events_.reset_seen();
        dirty = true;
        return flush();
    }
    Result<void> add_fault(const Fault& f) override {
        VBD_TRY_VOID(mutating("sim fault"));
        VBD_TRY_VOID(world.add_fault(f));
        return flush();
    }
    std::vector<Fault> faults() override { return world.faults(); }
    Result<void> clear_faults() override {
        VBD_TRY_VOID(mutating("sim fault clear"));
        world.clear_faults();
        return flush();
    }
    std::vector<GuestView> guests() override { return world.guests(); }
    Result<void> write_param(const std::string& name, const std::string& value) override {
        VBD_TRY_VOID(mutating("parameter write"));
        VBD_TRY_VOID(world.modules().write_param(name, value));
        return flush();
    }
    std::vector<ModuleFile> module_files() override {
        std::vector<ModuleFile> out;
        for (const auto& [p, f] : world.modules().files()) out.push_back(f);
        return out;
    }

    Result<void> flush() override {
        if (!file || !locked || !dirty) return {};
        std::string tmp = *file + ".tmp";
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) return fail(Errc::io, std::string("cannot write simulator state: ") + std::strerror(errno), tmp);
        // Most of a large world is runs of the loaded file, written from where they lie.
        auto saved = world.save();
        auto& pieces = saved->pieces;
        bool ok = true;
        for (size_t at = 0; ok && at < pieces.size();) {
            std::vector<iovec> iov;
            for (size_t k = at; k < pieces.size() && iov.size() < IOV_MAX; ++k)
                iov.push_back({const_cast<char*>(pieces[k].data()), pieces[k].size()});
            ssize_t n = ::writev(fd, iov.data(), static_cast<int>(iov.size()));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                ok = false;
                break;
            }
            // Drop what was written; a short write leaves the rest of a piece for the next call.
            for (size_t left = static_cast<size_t>(n); left > 0 && at < pieces.size();) {
                size_t take = std::min(left, pieces[at].size());
                pieces[at].remove_prefix(take);
                left -= take;
                if (pieces[at].empty()) ++at;
            }
            while (at < pieces.size() && pieces[at].empty()) ++at;
        }
        if (::close(fd) != 0) ok = false;
        if (!ok) return fail(Errc::io, "cannot write simulator state", tmp);
        if (std::rename(tmp.c_str(), file->c_str()) != 0)
            return fail(Errc::io, "cannot replace simulator state", *file);
        dirty = false;
        last_save = real_ms();
        return {};
    }

    /// Every change a port makes goes through here: without the lock it is refused, loudly,
    /// as a second writer's change would be lost (and a dry run must change nothing).
    Result<void> mutating(std::string_view what) {
        if (!locked)
            return fail(Errc::refused, "simulated host: " + std::string(what) + " without holding the lock",
                        file.value_or("sim"), "a mutating command takes the lock first (StateDir::lock)");
        dirty = true;
        return {};
    }

    /// Saves at most every 200 ms of real time while a long operation runs.
    void maybe_flush() {
        if (dirty && real_ms() - last_save > 200) (void)flush();
    }

    /// With VBDCTL_SIM_PACE=N, virtual time also passes for real, N times slower, and every
    /// step is saved, so a `watch` in another terminal sees each state as it happens (demos).
    void pace(int64_t virtual_ms) {
        if (pace_factor <= 0) return;
        (void)flush();
        ::usleep(static_cast<useconds_t>(std::clamp<int64_t>(virtual_ms * pace_factor, 0, 2000) * 1000));
    }

    Result<void> reload() {
        // Not written yet (first use; a writer is about to create it): the default world stands.
        if (!file || ::access(file->c_str(), F_OK) != 0) return {};
        auto w = load_file(*file);
        if (!w) return std::unexpected(w.error());
        world = std::move(*w);
        return {};
    }

    /// Reads one file through one descriptor: a writer replaces the state by rename, so
    /// sizing it by name and then opening it could pair one version's size with the next's bytes.
    static Result<World> load_file(const std::string& path) {
        constexpr off_t cap = off_t(1) << 30;
        struct stat st{};
        if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) // never open a device or a FIFO
            return fail(Errc::invalid_argument, "the simulator state file is not a regular file", path,
                        "name a file with --host sim:FILE");
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) return fail(Errc::io, std::string("cannot read simulator state: ") + std::strerror(errno), path);
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            return fail(Errc::invalid_argument, "the simulator state file is not a regular file", path,
                        "name a file with --host sim:FILE");
        }
        if (st.st_size > cap) {
            ::close(fd);
            return fail(Errc::invalid_argument, "the simulator state file is over 1 GiB", path,
                        "name another file, or run `vbdctl --host sim:FILE sim init` on it");
        }
        auto bytes = FileBytes::map(fd, static_cast<size_t>(st.st_size));
        ::close(fd);
        if (!bytes) return fail(bytes.error().code, bytes.error().what, path);
        auto w = World::load(std::move(*bytes));
        if (!w) return fail(Errc::bad_value, w.error().what, path, "run `vbdctl --host sim:FILE sim init` to replace it");
        return w;
    }

    /// Waits until ready() or deadline; false on timeout or a signal. When another process
    /// owns the world (a `watch` beside an upgrade) it follows the file, in real time;
    /// otherwise it runs this process's copy of the kernel forward.
    Result<bool> wait_for(Millis deadline, const std::function<bool()>& ready);

    World world;
    std::optional<std::string> file;
    bool replacing = false; ///< opened by `sim init`: a damaged file is about to be replaced
    bool locked = false;
    bool dirty = false;
    int64_t pace_factor = [] {
        const char* p = std::getenv("VBDCTL_SIM_PACE");
        return p ? std::clamp<int64_t>(std::atoll(p), 0, 1000) : 0;
    }();
    int64_t last_save = 0;
    /// inotify on the state file's directory, from the first wait that follows another
    /// process until this host closes: a save between two waits is not missed.
    int follow_fd = -1;

  private:
    SimClock clock_;
    SimXenStore xs_;
    SimBus bus_;
    SimModules mods_;
    SimKernel kernel_;
    SimRings rings_;
    SimToolstack ts_;
    SimStateDir state_;
    SimAuditLog audit_;
    FileRunHistory runs_; ///< STATE.d/runs: reports are the CLI's, kept as on a real host
    SimHostEvents events_;
    Host host_;
};

// ---------------------------------------------------------------- clock

Millis SimClock::now() { return Millis(s_.world.now()); }
// Virtual time is persisted, so it serves as the wall clock across processes too.
Millis SimClock::wall_now() { return Millis(s_.world.now()); }

void SimClock::sleep_for(Millis d) {
    s_.pace(d.count());
    s_.world.advance_to(s_.world.now() + d.count());
    s_.dirty = true;
    s_.maybe_flush();
}

// ---------------------------------------------------------------- xenstore

Result<std::string_view> SimXenStore::resolve(std::string_view path, std::string& scratch, size_t known) const {
    // Relative paths are the caller's domain's.
    if (!path.starts_with("/")) {
        path = scratch = "/local/domain/" + std::to_string(s_.world.self_domid()) + "/" + std::string(path);
        known = 0;
    }
    if (!valid_xenstore_path(path, known))
        return fail(Errc::invalid_argument, "xenstore refused the path: EINVAL", std::string(path),
                    "a path is absolute or relative, of [A-Za-z0-9-/_@], with no empty component");
    return path;
}

Result<std::string> SimXenStore::abs(std::string_view path) const {
    std::string scratch;
    return std::string(VBD_TRY(resolve(path, scratch)));
}

Result<std::optional<std::string>> SimXenStore::read(std::string_view path, Txn) {
    std::string scratch;
    return s_.world.xenstore().read(VBD_TRY(resolve(path, scratch)));
}

Result<std::vector<std::optional<std::string>>> SimXenStore::read_many(std::string_view dir,
                                                                       std::span<const std::string_view> keys, Txn) {
    std::string scratch, path, unused;
    std::string_view d = VBD_TRY(resolve(dir, scratch));
    for (std::string_view k : keys) // what xenstored would refuse, node by node
        VBD_TRY(resolve(path.assign(d).append(1, '/').append(k), unused, d.size()));
    return s_.world.xenstore().read_many(d, keys);
}

Result<std::optional<std::vector<std::string>>> SimXenStore::directory(std::string_view path, Txn) {
    std::string scratch;
    return s_.world.xenstore().directory(VBD_TRY(resolve(path, scratch)));
}

Result<void> SimXenStore::write(std::string_view path, std::string_view value, Txn) {
    auto full = VBD_TRY(abs(path));
    VBD_TRY_VOID(s_.mutating("xenstore write of " + full));
    s_.world.xenstore().write(full, value);
    return {};
}

Result<void> SimXenStore::remove(std::string_view path, Txn) {
    auto full = VBD_TRY(abs(path));
    VBD_TRY_VOID(s_.mutating("xenstore rm of " + full));
    s_.world.xenstore().remove(full);
    return {};
}

Result<void> SimXenStore::watch(std::string_view path, std::string_view token) {
    // C xenstored's per-domain watch quota (quota-nb-watch-per-domain, 128); dom0 is exempt.
    constexpr size_t watch_quota = 128;
    if (s_.world.self_domid() != 0 && watches_.size() >= watch_quota)
        return fail(Errc::io, "xenstore watch refused: E2BIG (this domain's quota of " +
                                  std::to_string(watch_quota) + " watches is used)",
                    std::string(path));
    auto full = VBD_TRY(abs(path));
    if (watches_.empty()) seen_ = s_.world.xenstore().seq();
    watches_.emplace_back(full, std::string(token));
    queue_.emplace_back(0, WatchEvent{full, std::string(token)}); // a new watch fires at once
    return {};
}

Result<void> SimXenStore::unwatch(std::string_view path, std::string_view token) {
    auto full = VBD_TRY(abs(path));
    std::erase_if(watches_, [&](const auto& w) { return w.first == full && w.second == token; });
    std::erase_if(queue_, [&](const auto& e) { return e.second.token == token; });
    return {};
}

void SimXenStore::reset_seen() {
    seen_ = s_.world.xenstore().seq();
    queue_.clear();
}

void SimXenStore::collect() {
    for (const auto& [seq, path] : s_.world.xenstore().changes_since(seen_)) {
        for (const auto& [wpath, token] : watches_)
            if (watch_matches(wpath, path)) queue_.emplace_back(seq, WatchEvent{seq == 0 ? wpath : path, token});
        if (seq > seen_) seen_ = seq;
    }
    seen_ = std::max(seen_, s_.world.xenstore().seq());
}

std::optional<uint64_t> SimXenStore::next_seq() const {
    if (queue_.empty()) return std::nullopt;
    return queue_.front().first;
}

WatchEvent SimXenStore::take() {
    WatchEvent e = std::move(queue_.front().second);
    queue_.pop_front();
    return e;
}

Result<std::optional<WatchEvent>> SimXenStore::wait(Millis deadline) {
    auto ready = VBD_TRY(s_.wait_for(deadline, [this] {
        collect();
        return !queue_.empty();
    }));
    if (!ready) return std::optional<WatchEvent>{};
    return std::optional<WatchEvent>(take());
}

Result<bool> Impl::wait_for(Millis deadline, const std::function<bool()>& ready) {
    bool external = file && !locked;
    while (true) {
        if (ready()) return true;
        int64_t now = world.now();
        if (now >= deadline.count()) return false;
        if (!external) {
            auto next = world.next_event();
            int64_t to = next && *next <= deadline.count() ? *next : deadline.count();
            pace(to - now);
            world.advance_to(to);
            dirty = true;
            maybe_flush();
            continue;
        }
        int64_t start = real_ms();
        bool changed = false;
        if (follow_fd < 0) {
            follow_fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
            std::string dir = file->find('/') == std::string::npos ? "." : file->substr(0, file->rfind('/') + 1);
            if (follow_fd < 0 || ::inotify_add_watch(follow_fd, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
                return fail(Errc::io, "cannot watch the simulator state file", *file);
            changed = true; // it may have been saved since this process read it
        } else {
            pollfd p{follow_fd, POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(deadline.count() - now, 1000)));
            if (rc < 0 && errno == EINTR) return false; // let the caller look at its stop flag
            if (rc > 0) {
                char buf[4096];
                while (::read(follow_fd, buf, sizeof buf) > 0) {
                }
                changed = true;
            }
        }
        if (changed) {
            int64_t mine = world.now();
            VBD_TRY_VOID(reload());
            // Keep this process's time monotonic across reloads.
            world.jump_to(mine);
        }
        world.jump_to(world.now() + (real_ms() - start));
    }
}

// ---------------------------------------------------------------- events

Result<void> SimHostEvents::subscribe() {
    if (!subscribed_) seen_ = s_.world.uevent_seq();
    subscribed_ = true;
    return {};
}

void SimHostEvents::reset_seen() {
    seen_ = s_.world.uevent_seq();
    queue_.clear();
}

void SimHostEvents::collect() {
    if (!subscribed_) return;
    if (s_.world.uevent_seq() < seen_) seen_ = 0; // the world was replaced (`sim init`)
    for (auto& u : s_.world.uevents_since(seen_)) {
        seen_ = u.seq;
        queue_.push_back(std::move(u));
    }
}

Result<std::optional<HostEvent>> SimHostEvents::wait(Millis deadline) {
    auto ready = VBD_TRY(s_.wait_for(deadline, [this] {
        xs_.collect();
        collect();
        return xs_.next_seq() || !queue_.empty();
    }));
    if (!ready) return std::optional<HostEvent>{};
    // A uevent sent after xenstore write U comes before the watch event of any later write.
    auto xs_next = xs_.next_seq();
    if (!queue_.empty() && (!xs_next || queue_.front().xs_seq < *xs_next)) {
        DeviceEvent e = std::move(queue_.front().ev);
        queue_.pop_front();
        return std::optional<HostEvent>(std::move(e));
    }
    return std::optional<HostEvent>(xs_.take());
}

// ---------------------------------------------------------------- bus

Result<std::vector<std::string>> SimBus::devices() { return s_.world.bus_devices(); }

Result<BusDevice> SimBus::device(std::string_view name) {
    return s_.world.bus_device(std::string(name));
}

Result<std::map<std::string, uint64_t>> SimBus::statistics(std::string_view name) {
    return s_.world.bus_statistics(std::string(name));
}

Result<bool> SimBus::driver_registered(std::string_view drv) {
    return drv == "vbd" && s_.world.modules().loaded();
}

Result<std::vector<std::string>> SimBus::bound_to(std::string_view drv) {
    if (drv != "vbd") return std::vector<std::string>{};
    return s_.world.bound_devices();
}

Result<void> SimBus::bind(std::string_view drv, std::string_view device) {
    if (drv != "vbd") return fail(Errc::not_found, "no such driver", std::string(drv));
    VBD_TRY_VOID(s_.mutating("bind of " + std::string(device)));
    return s_.world.bind(std::string(device));
}

Result<void> SimBus::unbind(std::string_view drv, std::string_view device) {
    if (drv != "vbd") return fail(Errc::not_found, "no such driver", std::string(drv));
    VBD_TRY_VOID(s_.mutating("unbind of " + std::string(device)));
    return s_.world.unbind(std::string(device));
}

Result<bool> SimBus::autoprobe() { return s_.world.autoprobe; }

Result<void> SimBus::set_autoprobe(bool on) {
    VBD_TRY_VOID(s_.mutating("write to drivers_autoprobe"));
    s_.world.autoprobe = on;
    return {};
}

// ---------------------------------------------------------------- modules, kernel, rings

Result<std::optional<LoadedModule>> SimModules::loaded(std::string_view name) {
    if (name != "xen_blkback" && name != "xen-blkback") return std::optional<LoadedModule>{};
    return s_.world.loaded_module();
}

Result<ModuleFile> SimModules::inspect(std::string_view path) {
    return s_.world.modules().file(std::string(path));
}

Result<std::string> SimModules::resolve(std::string_view name) {
    if (name != "xen_blkback" && name != "xen-blkback")
        return fail(Errc::not_found, "module not found", std::string(name));
    return s_.world.modules().modprobe_path();
}

Result<std::vector<std::string>> SimModules::files(std::string_view name) {
    if (name != "xen_blkback" && name != "xen-blkback") return std::vector<std::string>{};
    return s_.world.modules().files_of_kernel();
}

// The simulated host's /etc/modprobe.d is FILE.d/modprobe.d, read by the real libkmod.
Result<std::string> SimModules::config_options(std::string_view name) {
    std::string dir = s_.host().state.path() + "/modprobe.d";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return std::string();
    return VBD_TRY(local::module())->modprobe_options({dir}, name);
}

Result<void> SimModules::load(std::string_view path, const std::map<std::string, std::string>& params) {
    VBD_TRY_VOID(s_.mutating("module load"));
    return s_.world.load_module(std::string(path), params);
}

Result<void> SimModules::unload(std::string_view name) {
    if (name != "xen_blkback" && name != "xen-blkback")
        return fail(Errc::not_found, "module not loaded", std::string(name));
    VBD_TRY_VOID(s_.mutating("module unload"));
    return s_.world.unload_module();
}

Result<std::string> SimModules::keep_copy(std::string_view path, std::string_view dir) {
    VBD_TRY_VOID(s_.mutating("rollback copy of a module file"));
    return s_.world.modules().copy_file(std::string(path), std::string(dir));
}

Result<std::string> SimKernel::release() { return s_.world.modules().release; }
Result<std::string> SimKernel::version() { return std::string("#1 SMP PREEMPT_DYNAMIC (simulated)"); }
Result<unsigned> SimKernel::online_cpus() { return s_.world.cpus; }
Result<std::optional<std::string>> SimKernel::signature_enforcement() { return s_.world.modules().signature_enforcement; }

Result<RingSnapshot> SimRings::read(uint32_t domid, uint32_t gref) {
    return s_.world.ring_snapshot(domid, gref);
}

// As libxl_domid_to_name: the domain's name node, which `xl rename` rewrites.
Result<std::optional<std::string>> SimToolstack::domain_name(uint32_t domid) {
    if (!s_.world.guest_name(domid)) return std::nullopt;
    return s_.world.xenstore().read("/local/domain/" + std::to_string(domid) + "/name");
}

// As libxl_list_domain: this domain and every running guest.
Result<std::vector<uint32_t>> SimToolstack::domains() {
    std::vector<uint32_t> out = s_.world.running_domids();
    out.push_back(s_.world.self_domid());
    std::sort(out.begin(), out.end());
    return out;
}

Result<std::vector<ToolstackDisk>> SimToolstack::disks(uint32_t domid) {
    std::vector<ToolstackDisk> out;
    std::string base = "/libxl/" + std::to_string(domid) + "/device/vbd";
    auto devs = s_.world.xenstore().directory(base);
    if (!devs) return out;
    for (const auto& d : *devs)
        out.push_back(ToolstackDisk{s_.world.xenstore().read(base + "/" + d + "/dev").value_or(""),
                                    s_.world.xenstore().read(base + "/" + d + "/params").value_or(""),
                                    "raw", s_.world.self_domid()});
    return out;
}

// ---------------------------------------------------------------- state dir

class SimLock final : public Lock {
  public:
    SimLock(Impl& s, std::unique_ptr<Lock> inner) : s_(s), inner_(std::move(inner)) {}
    ~SimLock() override {
        (void)s_.flush();
        s_.locked = false;
    }

  private:
    Impl& s_;
    std::unique_ptr<Lock> inner_;
};

Result<std::unique_ptr<Lock>> SimStateDir::lock() {
    auto inner = VBD_TRY(files_.lock());
    // Holding the lock, this process owns the world: start from what the last owner saved.
    // Another process may have created or changed the world since this one read it.
    bool exists = s_.file && ::access(s_.file->c_str(), F_OK) == 0;
    if (exists && !s_.dirty)
        if (auto r = s_.reload(); !r && !(s_.replacing && r.error().code == Errc::bad_value))
            return std::unexpected(r.error());
    s_.locked = true;
    return std::unique_ptr<Lock>(std::make_unique<SimLock>(s_, std::move(inner)));
}

// crash-after-step: die as a crash would, with no cleanup of any kind, after saving the
// world as the kernel left it (the kernel's state outlives the process).
[[noreturn]] void crash_now(Impl& s) {
    s.dirty = true;
    (void)s.flush();
    ::kill(::getpid(), SIGKILL);
    std::abort();
}

Result<void> SimStateDir::write_journal(std::string_view text) {
    VBD_TRY_VOID(s_.mutating("journal write"));
    json j = json::parse(text, nullptr, false);
    int step = j.is_object() ? j.value("step", 0) : 0;
    if (s_.world.on_journal_step(step)) crash_now(s_);
    VBD_TRY_VOID(files_.write_journal(text));
    s_.dirty = true;
    return s_.flush();
}

Result<void> SimStateDir::clear_journal() {
    VBD_TRY_VOID(s_.mutating("journal removal"));
    auto text = VBD_TRY(files_.read_journal());
    json j = text ? json::parse(*text, nullptr, false) : json();
    int step = j.is_object() ? j.value("step", 0) : 0;
    if (text && s_.world.on_journal_cleared(step)) crash_now(s_);
    VBD_TRY_VOID(files_.clear_journal());
    s_.dirty = true;
    return s_.flush();
}

} // namespace

Result<std::unique_ptr<SimHost>> SimHost::open(std::optional<std::string> file, bool replacing) {
    if (!file) {
        char tmpl[] = "/tmp/vbdctl-sim-XXXXXX";
        if (!::mkdtemp(tmpl)) return fail(Errc::io, "cannot create a temporary directory");
        return std::unique_ptr<SimHost>(
            std::make_unique<Impl>(World::make({}), std::nullopt, std::string(tmpl)));
    }
    if (file->empty()) return fail(Errc::invalid_argument, "empty simulator state file name");
    std::string state_dir = *file + ".d";
    if (::access(file->c_str(), F_OK) != 0) {
        // First use: the default world, in memory. It is written (with FILE.d) only when a
        // command that changes the host takes the lock: reading creates nothing.
        return std::unique_ptr<SimHost>(std::make_unique<Impl>(World::make({}), file, state_dir));
    }
    auto w = Impl::load_file(*file);
    // `sim init` replaces a damaged world (never a directory or a device).
    if (!w && replacing && w.error().code == Errc::bad_value) w = World::make({});
    if (!w) return std::unexpected(w.error());
    auto impl = std::make_unique<Impl>(std::move(*w), file, state_dir);
    impl->replacing = replacing;
    return std::unique_ptr<SimHost>(std::move(impl));
}

} // namespace vbd::sim
