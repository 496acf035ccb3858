// RingReader over libxengnttab: map page 0 of a ring read-only, read its indices, unmap.

#include <atomic>
#include <cerrno>
#include <cstring>
#include <sys/mman.h>

extern "C" { // Xen's headers declare C functions without guards
#include <xengnttab.h>
}

#include "adapters.hpp"

namespace vbd::local {

namespace {

class GnttabReader final : public RingReader {
  public:
    ~GnttabReader() override {
        if (h_) xengnttab_close(h_);
    }

    Result<RingSnapshot> read(uint32_t domid, uint32_t gref) override {
        if (!h_) {
            h_ = xengnttab_open(silent_xen_logger(), 0);
            if (!h_)
                return fail(Errc::io, std::string("cannot open /dev/xen/gntdev: ") + std::strerror(errno),
                            {}, "modprobe xen-gntdev; run as root");
        }
        void* p = xengnttab_map_grant_ref(h_, domid, gref, PROT_READ);
        if (!p)
            return fail(Errc::io, "mapping grant " + std::to_string(gref) + " of domain " +
                                      std::to_string(domid) + " failed: " + std::strerror(errno));
        // Both ends move these while we read. rsp_prod first, then req_prod: req_prod only
        // grows and never falls behind rsp_prod, so a racing update cannot make pending
        // wrap into a false inconsistency.
        auto* idx = static_cast<volatile uint32_t*>(p);
        RingSnapshot s;
        s.rsp_prod = idx[2];
        s.rsp_event = idx[3];
        std::atomic_thread_fence(std::memory_order_acquire);
        s.req_prod = idx[0];
        s.req_event = idx[1];
        xengnttab_unmap(h_, p, 1);
        return s;
    }

  private:
    xengnttab_handle* h_ = nullptr;
};

} // namespace

std::unique_ptr<RingReader> make_gnttab_reader() { return std::make_unique<GnttabReader>(); }

} // namespace vbd::local
