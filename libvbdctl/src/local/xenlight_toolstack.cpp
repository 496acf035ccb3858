// vbdctl/xenlight.so: the toolstack's configured disks and domain list (libxenlight).

#define LIBXL_API_VERSION 0x041300
extern "C" { // Xen's headers declare C functions without guards
#include <libxl.h>
#include <xentoollog.h>
}

#include "adapters.hpp"
#include "parts.hpp"

namespace vbd::local {

namespace {

class XenlightToolstack final : public Xenlight {
  public:
    ~XenlightToolstack() override {
        if (ctx_) libxl_ctx_free(ctx_);
    }

    Result<std::vector<ToolstackDisk>> disks(uint32_t domid) override {
        std::vector<ToolstackDisk> out;
        libxl_ctx* c = ctx();
        if (!c) return out;
        int n = 0;
        libxl_device_disk* list = libxl_device_disk_list(c, domid, &n);
        for (int i = 0; i < n; ++i)
            out.push_back(ToolstackDisk{list[i].vdev ? list[i].vdev : "",
                                        list[i].pdev_path ? list[i].pdev_path : "",
                                        libxl_disk_format_to_string(list[i].format),
                                        list[i].backend_domid});
        if (list) libxl_device_disk_list_free(list, n);
        return out;
    }

    Result<std::vector<uint32_t>> domains() override {
        libxl_ctx* c = ctx();
        if (!c) return fail(Errc::unsupported, "no libxenlight context");
        int n = 0;
        libxl_dominfo* info = libxl_list_domain(c, &n);
        if (!info) return fail(Errc::io, "libxl_list_domain failed");
        std::vector<uint32_t> out;
        for (int i = 0; i < n; ++i) out.push_back(info[i].domid);
        libxl_dominfo_list_free(info, n);
        return out;
    }

  private:
    libxl_ctx* ctx() {
        if (ctx_ || tried_) return ctx_;
        tried_ = true;
        // A best-effort view: a failure means no name or disks, never a line on stderr.
        if (libxl_ctx_alloc(&ctx_, LIBXL_VERSION, 0, silent_xen_logger()) != 0)
            ctx_ = nullptr;
        return ctx_;
    }

    libxl_ctx* ctx_ = nullptr;
    bool tried_ = false;
};

std::unique_ptr<Xenlight> make_xenlight() { return std::make_unique<XenlightToolstack>(); }

} // namespace

} // namespace vbd::local

extern "C" const vbd::local::XenlightPart* vbdctl_xenlight_part() {
    static const vbd::local::XenlightPart p{VBDCTL_VERSION, &vbd::local::make_xenlight};
    return &p;
}
