// The proxies local.so puts in the Host for the adapters that live in parts (parts.hpp): each
// loads its part at its first call, so a command pays for libxenlight, libkmod or libudev
// only when it uses them.

#include "../try.hpp"
#include "adapters.hpp"
#include "module.hpp"
#include "parts.hpp"

namespace vbd::local {

Result<const XenlightPart*> xenlight_part() {
    static const auto p = load_part<XenlightPart>("xenlight.so", "vbdctl_xenlight_part");
    return p;
}
Result<const KmodPart*> kmod_part() {
    static const auto p = load_part<KmodPart>("kmod.so", "vbdctl_kmod_part");
    return p;
}
Result<const JournalPart*> journal_part() {
    static const auto p = load_part<JournalPart>("journal.so", "vbdctl_journal_part");
    return p;
}
Result<const UdevPart*> udev_part() {
    static const auto p = load_part<UdevPart>("udev.so", "vbdctl_udev_part");
    return p;
}

namespace {

class LazyToolstack final : public Toolstack {
  public:
    explicit LazyToolstack(XenStore& xs) : xs_(xs) {}
    // libxl_domid_to_name is an xs_read of this node: read it without libxenlight.
    Result<std::optional<std::string>> domain_name(uint32_t domid) override {
        return xs_.read("/local/domain/" + std::to_string(domid) + "/name");
    }
    Result<std::vector<ToolstackDisk>> disks(uint32_t domid) override { return VBD_TRY(get())->disks(domid); }
    Result<std::vector<uint32_t>> domains() override { return VBD_TRY(get())->domains(); }

  private:
    Result<Xenlight*> get() {
        if (!xl_) xl_ = VBD_TRY(xenlight_part())->make();
        return xl_.get();
    }
    XenStore& xs_;
    std::unique_ptr<Xenlight> xl_;
};

class LazyModules final : public Modules {
  public:
    explicit LazyModules(std::string root) : root_(std::move(root)) {}
    Result<std::optional<LoadedModule>> loaded(std::string_view n) override { return VBD_TRY(get())->loaded(n); }
    Result<ModuleFile> inspect(std::string_view p) override { return VBD_TRY(get())->inspect(p); }
    Result<std::string> resolve(std::string_view n) override { return VBD_TRY(get())->resolve(n); }
    Result<std::vector<std::string>> files(std::string_view n) override { return VBD_TRY(get())->files(n); }
    Result<std::string> config_options(std::string_view n) override { return VBD_TRY(get())->config_options(n); }
    Result<void> load(std::string_view p, const std::map<std::string, std::string>& params) override {
        return VBD_TRY(get())->load(p, params);
    }
    Result<void> unload(std::string_view n) override { return VBD_TRY(get())->unload(n); }
    Result<std::string> keep_copy(std::string_view p, std::string_view dir) override {
        return VBD_TRY(get())->keep_copy(p, dir);
    }

  private:
    Result<Modules*> get() {
        if (!m_) m_ = VBD_TRY(VBD_TRY(kmod_part())->open(root_));
        return m_.get();
    }
    std::string root_;
    std::unique_ptr<Modules> m_;
};

class LazyEvents final : public HostEvents {
  public:
    LazyEvents(XenStore& xs, Clock& clock) : xs_(xs), clock_(clock) {}
    Result<void> subscribe() override { return VBD_TRY(get())->subscribe(); }
    Result<std::optional<HostEvent>> wait(Millis deadline) override { return VBD_TRY(get())->wait(deadline); }

  private:
    Result<HostEvents*> get() {
        if (!e_) e_ = VBD_TRY(udev_part())->make(xs_, &xenstore_fd, clock_);
        return e_.get();
    }
    XenStore& xs_;
    Clock& clock_;
    std::unique_ptr<HostEvents> e_;
};

} // namespace

std::unique_ptr<Toolstack> make_toolstack(XenStore& xs) { return std::make_unique<LazyToolstack>(xs); }
std::unique_ptr<Modules> make_modules(std::string root) { return std::make_unique<LazyModules>(std::move(root)); }
std::unique_ptr<HostEvents> make_host_events(XenStore& xs, Clock& clock) {
    return std::make_unique<LazyEvents>(xs, clock);
}

} // namespace vbd::local
