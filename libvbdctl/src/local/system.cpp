// Kernel and Clock over plain POSIX calls.

#include <ctime>
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
    Result<unsigned> online_cpus() override {
        long n = ::sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1) return fail(Errc::io, "cannot count online CPUs");
        return static_cast<unsigned>(n);
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
