#include "state_dir.hpp"
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

Result<void> fsync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(Errc::io, "cannot open directory: " + errstr(errno), dir);
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    if (rc != 0) return fail(Errc::io, "fsync failed: " + errstr(e), dir);
    return {};
}

} // namespace

Result<void> FileStateDir::ensure_dir() {
    // mkdir -p with 0700: the journal and lock are root's business only.
    for (size_t pos = 1; pos != std::string::npos;) {
        pos = dir_.find('/', pos + 1);
        std::string part = dir_.substr(0, pos);
        if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
            return fail(Errc::io, "cannot create directory: " + errstr(errno), part);
    }
    return {};
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
    std::string p = dir_ + "/journal.json";
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<std::string>{};
        return fail(Errc::io, "cannot read journal: " + errstr(errno), p);
    }
    std::string text;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    int e = errno;
    ::close(fd);
    if (n < 0) return fail(Errc::io, "cannot read journal: " + errstr(e), p);
    return std::optional<std::string>(std::move(text));
}

Result<void> FileStateDir::write_journal(std::string_view text) {
    VBD_TRY_VOID(ensure_dir());
    std::string p = dir_ + "/journal.json", tmp = p + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return fail(Errc::io, "cannot write journal: " + errstr(errno), tmp);
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            return fail(Errc::io, "cannot write journal: " + errstr(e), tmp);
        }
        off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        int e = errno;
        ::close(fd);
        return fail(Errc::io, "cannot fsync journal: " + errstr(e), tmp);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), p.c_str()) != 0)
        return fail(Errc::io, "cannot replace journal: " + errstr(errno), p);
    return fsync_dir(dir_);
}

Result<void> FileStateDir::clear_journal() {
    std::string p = dir_ + "/journal.json";
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
        return fail(Errc::io, "cannot remove journal: " + errstr(errno), p);
    return fsync_dir(dir_);
}

} // namespace vbd
