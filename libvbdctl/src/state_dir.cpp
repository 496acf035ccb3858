#include "state_dir.hpp"
#include "files.hpp"
#include "try.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vbd {

namespace {

std::string errstr(int e) { return std::strerror(e); }

class FdLock final : public Lock {
  public:
    explicit FdLock(int fd) : fd_(fd) {}
    ~FdLock() override { ::close(fd_); } // closing drops the flock
  private:
    int fd_;
};

} // namespace

Result<void> FileStateDir::ensure_dir() {
    return files::make_dirs(dir_, 0700); // the journal and lock are root's business only
}

Result<std::unique_ptr<Lock>> FileStateDir::lock() {
    VBD_TRY_VOID(ensure_dir());
    std::string p = dir_ + "/lock";
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return fail(Errc::io, "cannot open lock file: " + errstr(errno), p);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = {};
        ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        ::close(fd);
        if (e == EWOULDBLOCK) {
            std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
            while (!holder.empty() && holder.back() == '\n') holder.pop_back();
            return fail(Errc::busy, "another vbdctl is changing this host (pid " + holder + ")",
                        p, "wait for it to finish");
        }
        return fail(Errc::io, "cannot lock: " + errstr(e), p);
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
        // The pid is only informational; the flock is what excludes others.
    }
    return std::make_unique<FdLock>(fd);
}

Result<void> FileStateDir::lock_free() {
    std::string p = dir_ + "/lock";
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return {}; // never locked here
        return fail(Errc::io, "cannot open lock file: " + errstr(errno), p);
    }
    // A shared lock is refused while a mutator holds the exclusive one.
    int rc = ::flock(fd, LOCK_SH | LOCK_NB);
    int e = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (rc == 0) return {};
    if (e != EWOULDBLOCK) return fail(Errc::io, "cannot test the lock: " + errstr(e), p);
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    while (!holder.empty() && holder.back() == '\n') holder.pop_back();
    return fail(Errc::busy, "another vbdctl is changing this host (pid " + holder + ")", p, "wait for it to finish");
}

Result<std::optional<std::string>> FileStateDir::read_journal() {
    return files::read(dir_ + "/journal.json");
}

Result<void> FileStateDir::write_journal(std::string_view text) {
    VBD_TRY_VOID(ensure_dir());
    return files::replace(dir_, "journal.json", text, 0600);
}

Result<void> FileStateDir::clear_journal() { return files::remove(dir_, "journal.json"); }

} // namespace vbd
