// The logger the Xen libraries are opened with.

extern "C" { // Xen's headers declare C functions without guards
#include <xentoollog.h>
}

#include <cstdio>

#include "adapters.hpp"

namespace vbd::local {

xentoollog_logger* silent_xen_logger() {
    // Below every level: nothing is written. One for the process, never freed.
    static auto* lg = xtl_createlogger_stdiostream(stderr, XTL_NUM_LEVELS, 0);
    return reinterpret_cast<xentoollog_logger*>(lg);
}

} // namespace vbd::local
