#include "file_bytes.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace vbd::sim {

FileBytes::FileBytes(std::string text) {
    auto s = std::make_shared<const std::string>(std::move(text));
    view_ = *s;
    owner_ = std::move(s);
}

Result<FileBytes> FileBytes::map(int fd, size_t size) {
    if (size == 0) return FileBytes(std::string());
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) return fail(Errc::io, std::string("cannot map the simulator state: ") + std::strerror(errno));
    FileBytes b;
    b.view_ = {static_cast<const char*>(p), size};
    b.owner_ = std::shared_ptr<const void>(p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
    return b;
}

} // namespace vbd::sim
