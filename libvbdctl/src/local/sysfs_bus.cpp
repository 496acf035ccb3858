// BackendBus over /sys/bus/xen-backend, under a configurable root so tests can point it
// at fixture trees copied from a real dom0 (tests/data/sysfs-*).

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "adapters.hpp"
#include "../try.hpp"
#include "vbdctl/types.hpp"

namespace vbd::local {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_attr(const fs::path& p) {
    std::ifstream in(p);
    if (!in) return std::nullopt;
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// sysfs attributes take one write(2) each; a short write or an errno is the kernel's answer.
Result<void> write_attr(const fs::path& p, std::string_view value, const std::string& object) {
    int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(Errc::io, "cannot open " + p.string() + ": " + std::strerror(errno), object,
                    errno == EACCES ? "run as root" : "");
    ssize_t n = ::write(fd, value.data(), value.size());
    int e = errno;
    ::close(fd);
    if (n < 0) return fail(Errc::io, "write to " + p.string() + " failed: " + std::strerror(e), object);
    return {};
}

class SysfsBus final : public BackendBus {
  public:
    explicit SysfsBus(std::string root) : bus_(fs::path(root) / "sys/bus/xen-backend") {}

    bool present() override {
        std::error_code ec;
        return fs::is_directory(bus_, ec);
    }

    Result<std::vector<std::string>> devices() override {
        std::vector<std::string> out;
        std::error_code ec;
        for (fs::directory_iterator it(bus_ / "devices", ec), end; !ec && it != end; it.increment(ec))
            out.push_back(it->path().filename().string());
        if (ec && ec != std::errc::no_such_file_or_directory)
            return fail(Errc::io, "cannot list " + (bus_ / "devices").string() + ": " + ec.message());
        std::sort(out.begin(), out.end());
        return out;
    }

    // The device's directory, for a name that is one and exists.
    Result<fs::path> device_dir(std::string_view name) const {
        std::string n(name);
        if (n.empty() || n.find('/') != std::string::npos || n == "." || n == "..")
            return fail(Errc::invalid_argument, "invalid device name", n);
        fs::path d = bus_ / "devices" / n;
        std::error_code ec;
        if (!fs::exists(d, ec)) return fail(Errc::not_found, "no such device on the xen-backend bus", n);
        return d;
    }

    Result<BusDevice> device(std::string_view name) override {
        fs::path d = VBD_TRY(device_dir(name));
        std::error_code ec;
        BusDevice b;
        b.name = std::string(name);
        b.state = read_attr(d / "state");
        // One readlink: it fails (ENOENT) while the device is unbound.
        if (auto link = fs::read_symlink(d / "driver", ec); !ec) b.driver = link.filename().string();
        if (b.driver) b.physical_device = read_attr(d / "physical_device");
        return b;
    }

    Result<std::map<std::string, uint64_t>> statistics(std::string_view name) override {
        fs::path d = VBD_TRY(device_dir(name));
        std::map<std::string, uint64_t> out;
        std::error_code ec;
        for (fs::directory_iterator it(d / "statistics", ec), end; !ec && it != end; it.increment(ec)) {
            auto v = read_attr(it->path());
            if (!v) continue;
            if (auto num = parse_uint(*v)) out[it->path().filename().string()] = *num;
        }
        return out;
    }

    Result<bool> driver_registered(std::string_view drv) override {
        std::error_code ec;
        return fs::is_directory(bus_ / "drivers" / std::string(drv), ec);
    }

    Result<std::vector<std::string>> bound_to(std::string_view drv) override {
        std::vector<std::string> out;
        std::error_code ec;
        fs::path d = bus_ / "drivers" / std::string(drv);
        // Beside the devices' links: bind, unbind, uevent, and the `module` link.
        for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec))
            if (auto name = it->path().filename().string(); name != "module" && it->is_symlink(ec))
                out.push_back(std::move(name));
        if (ec && ec != std::errc::no_such_file_or_directory)
            return fail(Errc::io, "cannot list " + d.string() + ": " + ec.message());
        std::sort(out.begin(), out.end());
        return out;
    }

    Result<void> bind(std::string_view drv, std::string_view device) override {
        return write_attr(bus_ / "drivers" / std::string(drv) / "bind", device, std::string(device));
    }

    Result<void> unbind(std::string_view drv, std::string_view device) override {
        return write_attr(bus_ / "drivers" / std::string(drv) / "unbind", device, std::string(device));
    }

    Result<bool> autoprobe() override {
        auto v = read_attr(bus_ / "drivers_autoprobe");
        if (!v) return fail(Errc::io, "cannot read drivers_autoprobe", bus_.string());
        return *v == "1";
    }

    Result<void> set_autoprobe(bool on) override {
        return write_attr(bus_ / "drivers_autoprobe", on ? "1" : "0", "drivers_autoprobe");
    }

  private:
    fs::path bus_;
};

} // namespace

std::unique_ptr<BackendBus> make_sysfs_bus(std::string root) {
    return std::make_unique<SysfsBus>(std::move(root));
}

} // namespace vbd::local
