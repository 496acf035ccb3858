// Kernel and Clock over plain POSIX calls.

#include <ctime>
#include <fstream>
#include <string>
#include <sys/utsname.h>
#include <unistd.h>

#include "adapters.hpp"

namespace vbd::local {

Millis monotonic_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return Millis(int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000);
}

namespace {

class PosixKernel final : public Kernel {
  public:
    Result<std::string> release() override {
        utsname u{};
        if (::uname(&u) != 0) return fail(Errc::io, "uname failed");
        return std::string(u.release);
    }
    Result<std::string> version() override {
        utsname u{};
        if (::uname(&u) != 0) return fail(Errc::io, "uname failed");
        return std::string(u.version);
    }
    Result<unsigned> online_cpus() override {
        long n = ::sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1) return fail(Errc::io, "cannot count online CPUs");
        return static_cast<unsigned>(n);
    }
    Result<std::optional<std::string>> signature_enforcement() override {
        // module.sig_enforce=1 (or CONFIG_MODULE_SIG_FORCE) shows as Y here; the lockdown LSM
        // in integrity or confidentiality mode refuses unsigned modules as well.
        std::string enforce, lockdown;
        std::ifstream("/sys/module/module/parameters/sig_enforce") >> enforce;
        if (enforce == "Y") return std::optional<std::string>("sig_enforce");
        std::ifstream l("/sys/kernel/security/lockdown");
        for (std::string word; l >> word;)
            if (word.starts_with("[") && word != "[none]") return std::optional<std::string>("lockdown " + word.substr(1, word.size() - 2));
        return std::optional<std::string>{};
    }
};

class MonotonicClock final : public Clock {
  public:
    Millis now() override { return monotonic_now(); }
    Millis wall_now() override {
        timespec ts{};
        ::clock_gettime(CLOCK_REALTIME, &ts);
        return Millis(int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000);
    }
    void sleep_for(Millis d) override {
        timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>(d.count() % 1000) * 1000000};
        ::nanosleep(&ts, nullptr);
    }
};

} // namespace

std::unique_ptr<Kernel> make_kernel() { return std::make_unique<PosixKernel>(); }
std::unique_ptr<Clock> make_clock() { return std::make_unique<MonotonicClock>(); }

} // namespace vbd::local
