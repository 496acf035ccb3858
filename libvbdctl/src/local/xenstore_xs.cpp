// XenStore over libxenstore.

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <poll.h>

extern "C" { // Xen's headers declare C functions without guards
#include <xenstore.h>
}

#include "adapters.hpp"

namespace vbd::local {

namespace {

template <typename T> struct Freed {
    T* p;
    ~Freed() { std::free(p); }
};

class XsXenStore final : public XenStore {
  public:
    explicit XsXenStore(xs_handle* h) : h_(h) {}
    ~XsXenStore() override { xs_close(h_); }

    Result<std::optional<std::string>> read(std::string_view path, Txn t) override {
        unsigned len = 0;
        std::string p(path);
        Freed<void> v{xs_read(h_, t, p.c_str(), &len)};
        if (!v.p) {
            if (errno == ENOENT) return std::optional<std::string>{};
            return fail(Errc::io, std::string("xenstore read failed: ") + std::strerror(errno), p);
        }
        return std::optional<std::string>(std::string(static_cast<char*>(v.p), len));
    }

    Result<std::optional<std::vector<std::string>>> directory(std::string_view path, Txn t) override {
        unsigned n = 0;
        std::string p(path);
        Freed<char*> d{xs_directory(h_, t, p.c_str(), &n)};
        if (!d.p) {
            if (errno == ENOENT) return std::optional<std::vector<std::string>>{};
            return fail(Errc::io, std::string("xenstore directory failed: ") + std::strerror(errno), p);
        }
        std::vector<std::string> out(d.p, d.p + n);
        return std::optional(std::move(out));
    }

    Result<void> write(std::string_view path, std::string_view value, Txn t) override {
        std::string p(path);
        if (!xs_write(h_, t, p.c_str(), value.data(), static_cast<unsigned>(value.size())))
            return fail(Errc::io, std::string("xenstore write failed: ") + std::strerror(errno), p);
        return {};
    }

    Result<void> remove(std::string_view path, Txn t) override {
        std::string p(path);
        if (!xs_rm(h_, t, p.c_str()) && errno != ENOENT)
            return fail(Errc::io, std::string("xenstore remove failed: ") + std::strerror(errno), p);
        return {};
    }

    Result<Txn> transaction_start() override {
        xs_transaction_t t = xs_transaction_start(h_);
        if (t == XBT_NULL)
            return fail(Errc::io, std::string("xenstore transaction failed: ") + std::strerror(errno));
        return static_cast<Txn>(t);
    }

    Result<bool> transaction_end(Txn t, bool abort) override {
        if (xs_transaction_end(h_, t, abort)) return true;
        if (errno == EAGAIN) return false;
        return fail(Errc::io, std::string("xenstore transaction end failed: ") + std::strerror(errno));
    }

    Result<void> watch(std::string_view path, std::string_view token) override {
        std::string p(path), tok(token);
        if (!xs_watch(h_, p.c_str(), tok.c_str()))
            return fail(Errc::io, std::string("xenstore watch failed: ") + std::strerror(errno), p);
        return {};
    }

    Result<void> unwatch(std::string_view path, std::string_view token) override {
        std::string p(path), tok(token);
        xs_unwatch(h_, p.c_str(), tok.c_str());
        return {};
    }

    Result<std::optional<WatchEvent>> wait(Millis deadline) override {
        while (true) {
            // Drain what libxenstore has already queued before sleeping on its fd.
            Freed<char*> ev{xs_check_watch(h_)};
            if (ev.p)
                return std::optional<WatchEvent>(
                    WatchEvent{ev.p[XS_WATCH_PATH], ev.p[XS_WATCH_TOKEN]});
            if (errno != EAGAIN)
                return fail(Errc::io, std::string("xenstore watch read failed: ") + std::strerror(errno));
            auto left = deadline - monotonic_now();
            if (left.count() <= 0) return std::optional<WatchEvent>{};
            pollfd p{xs_fileno(h_), POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
            // A signal: hand control back so the caller can look at its stop flag.
            if (rc < 0 && errno == EINTR) return std::optional<WatchEvent>{};
            if (rc < 0)
                return fail(Errc::io, std::string("poll on xenstore failed: ") + std::strerror(errno));
        }
    }

    int fd() const { return xs_fileno(h_); }

  private:
    xs_handle* h_;
};

} // namespace

int xenstore_fd(XenStore& xs) { return static_cast<XsXenStore&>(xs).fd(); }

Result<std::unique_ptr<XenStore>> open_xenstore() {
    xs_handle* h = xs_open(0);
    if (!h)
        return fail(Errc::not_xen, std::strerror(errno), {},
                    "is xenstored running, and is this dom0 or a driver domain?");
    // xs_fileno makes the pipe that signals watch events, for wait() to poll. (libxenstore
    // starts its reader thread at the first xs_watch; from then on every reply passes
    // through that thread.)
    if (xs_fileno(h) < 0) {
        xs_close(h);
        return fail(Errc::io, "cannot get the xenstore watch fd");
    }
    return std::unique_ptr<XenStore>(std::make_unique<XsXenStore>(h));
}

} // namespace vbd::local
