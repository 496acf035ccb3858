#pragma once
// The adapters over heavy libraries are modules of their own next to local.so, each loaded
// by a proxy in local.so the first time a command needs it: libxenlight (and the
// libraries it pulls in), libkmod (libcrypto, ...), libsystemd and libudev. The lab's strace
// of `vbdctl list` on a Linux 7.3 dom0 under TCG charged 44 % of the command to mapping,
// relocating and initialising those 23 libraries when local.so was one module; a listing
// needs libxenstore and libxengnttab only. Each part names the version it was built as.

#include <memory>
#include <syslog.h>
#include <string>
#include <string_view>
#include <vector>

#include "vbdctl/ports.hpp"

namespace vbd::local {

/// What only libxenlight knows (the toolstack's disks and domain list). Guest names are a
/// xenstore read, which the proxy makes without loading libxenlight.
class Xenlight {
  public:
    virtual ~Xenlight() = default;
    virtual Result<std::vector<ToolstackDisk>> disks(uint32_t domid) = 0;
    virtual Result<std::vector<uint32_t>> domains() = 0;
};

struct XenlightPart { // vbdctl/xenlight.so
    const char* version;
    std::unique_ptr<Xenlight> (*make)();
};

struct KmodPart { // vbdctl/kmod.so
    const char* version;
    Result<std::unique_ptr<Modules>> (*open)(std::string root);
    Result<std::string> (*modprobe_options)(const std::vector<std::string>& config_dirs, std::string_view name);
};

/// The syslog priority of an audit record, in the journal as in syslog.
inline int audit_priority(const AuditRecord& r) { return r.ok ? LOG_NOTICE : LOG_ERR; }

struct JournalPart { // vbdctl/journal.so: the audit trail as structured journal entries
    const char* version;
    std::unique_ptr<AuditLog> (*make)();
};

struct UdevPart { // vbdctl/udev.so
    const char* version;
    /// xs_fd: xs's watch fd (xenstore_fd), polled beside the uevent monitor; clock: the
    /// time base of wait()'s deadlines.
    std::unique_ptr<HostEvents> (*make)(XenStore& xs, int (*xs_fd)(XenStore&), Clock& clock);
};

/// The parts, loaded once per process (module.hpp's load_part); the error names the file.
Result<const XenlightPart*> xenlight_part();
Result<const KmodPart*> kmod_part();
Result<const JournalPart*> journal_part();
Result<const UdevPart*> udev_part();

} // namespace vbd::local

// Each part's one entry point (unmangled, so dlsym finds it by this name).
extern "C" const vbd::local::XenlightPart* vbdctl_xenlight_part();
extern "C" const vbd::local::KmodPart* vbdctl_kmod_part();
extern "C" const vbd::local::JournalPart* vbdctl_journal_part();
extern "C" const vbd::local::UdevPart* vbdctl_udev_part();
