// The audit trail on a real host: the systemd journal when journald listens (structured
// fields, VBDCTL_*), syslog when something listens on /dev/log, nothing otherwise (a lab
// dom0 with neither). Chosen once, when the host is opened.

#include <sys/stat.h>
#include <syslog.h>

#include "adapters.hpp"
#include "parts.hpp"

namespace vbd::local {

namespace {

bool is_socket(const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

class SyslogAudit final : public AuditLog {
  public:
    SyslogAudit() { ::openlog("vbdctl", LOG_PID, LOG_DAEMON); }
    ~SyslogAudit() override { ::closelog(); }
    void record(const AuditRecord& r) override {
        // Each message says its event itself ("plan: ...", "step 2 drain: ...", "result: done").
        ::syslog(audit_priority(r), "%s: %s", r.op.c_str(), r.message.c_str());
    }
};

// The journal's structured entries come from libsystemd, in journal.so, loaded at the first
// record (a read-only command makes none). Should the part not load, journald's /dev/log
// still takes the lines.
class JournalProxy final : public AuditLog {
  public:
    void record(const AuditRecord& r) override {
        if (!log_) {
            auto j = journal_part();
            log_ = j ? (*j)->make() : std::make_unique<SyslogAudit>();
        }
        log_->record(r);
    }

  private:
    std::unique_ptr<AuditLog> log_;
};

class NoAudit final : public AuditLog {
  public:
    void record(const AuditRecord&) override {}
};

} // namespace

std::unique_ptr<AuditLog> make_audit_log() {
    if (is_socket("/run/systemd/journal/socket")) return std::make_unique<JournalProxy>();
    if (is_socket("/dev/log")) return std::make_unique<SyslogAudit>();
    return std::make_unique<NoAudit>();
}

} // namespace vbd::local
