#include "files.hpp"

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vbd::files {

namespace {

std::string errstr(int e) { return std::strerror(e); }

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

Result<void> make_dirs(const std::string& dir, unsigned mode) {
    for (size_t pos = 1; pos != std::string::npos;) {
        pos = dir.find('/', pos + 1);
        std::string part = dir.substr(0, pos);
        if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST)
            return fail(Errc::io, "cannot create directory: " + errstr(errno), part);
    }
    return {};
}

Result<void> replace(const std::string& dir, std::string_view name, std::string_view text, unsigned mode) {
    std::string p = dir + "/" + std::string(name);
    // A hidden, unique name: concurrent writers never share it, and a reader that globs for
    // NAME's suffix (node_exporter's *.prom) never sees it.
    std::string tmp = dir + "/." + std::string(name) + ".XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return fail(Errc::io, "cannot create a file: " + errstr(errno), dir);
    auto give_up = [&](const std::string& what) -> Result<void> {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(Errc::io, what + ": " + errstr(e), tmp);
    };
    if (::fchmod(fd, mode) != 0) return give_up("cannot chmod"); // mkostemp makes it 0600
    for (size_t off = 0; off < text.size();) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return give_up("cannot write");
        }
        off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) return give_up("cannot fsync");
    if (::close(fd) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return fail(Errc::io, "cannot close: " + errstr(e), tmp);
    }
    if (::rename(tmp.c_str(), p.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return fail(Errc::io, "cannot replace: " + errstr(e), p);
    }
    return fsync_dir(dir);
}

Result<std::optional<std::string>> read(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<std::string>{};
        return fail(Errc::io, "cannot read: " + errstr(errno), path);
    }
    std::string text;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            return fail(Errc::io, "cannot read: " + errstr(e), path);
        }
        text.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return std::optional<std::string>(std::move(text));
}

Result<void> remove(const std::string& dir, std::string_view name) {
    std::string p = dir + "/" + std::string(name);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return fail(Errc::io, "cannot remove: " + errstr(errno), p);
    return fsync_dir(dir);
}

} // namespace vbd::files
