// The audit trail on a real host: the systemd journal when journald listens (structured
// fields, VBDCTL_*), syslog when something listens on /dev/log, nothing otherwise (a lab
// dom0 with neither). Chosen once, when the host is opened.

#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include "adapters.hpp"

namespace vbd::local {

namespace {

bool is_socket(const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

std::string vbd_list(const std::vector<std::string>& vbds) {
    std::string s;
    for (const auto& v : vbds) s += (s.empty() ? "" : " ") + v;
    return s;
}

int priority(const AuditRecord& r) { return r.ok ? LOG_NOTICE : LOG_ERR; }

class JournalAudit final : public AuditLog {
  public:
    void record(const AuditRecord& r) override {
        // sd_journal_send writes one datagram per call: it is in the journal when it returns.
        sd_journal_send("MESSAGE=%s: %s", r.op.c_str(), r.message.c_str(), "PRIORITY=%d", priority(r),
                        "SYSLOG_IDENTIFIER=vbdctl", "VBDCTL_OP=%s", r.op.c_str(), "VBDCTL_EVENT=%s",
                        std::string(to_string(r.event)).c_str(), "VBDCTL_STEP=%d", r.step, "VBDCTL_STEP_NAME=%s",
                        r.step_name.c_str(), "VBDCTL_OK=%d", r.ok ? 1 : 0, "VBDCTL_VBDS=%s", vbd_list(r.vbds).c_str(),
                        nullptr);
    }
};

class SyslogAudit final : public AuditLog {
  public:
    SyslogAudit() { ::openlog("vbdctl", LOG_PID, LOG_DAEMON); }
    ~SyslogAudit() override { ::closelog(); }
    void record(const AuditRecord& r) override {
        // Each message says its event itself ("plan: ...", "step 2 drain: ...", "result: done").
        ::syslog(priority(r), "%s: %s", r.op.c_str(), r.message.c_str());
    }
};

class NoAudit final : public AuditLog {
  public:
    void record(const AuditRecord&) override {}
};

} // namespace

std::unique_ptr<AuditLog> make_audit_log() {
    if (is_socket("/run/systemd/journal/socket")) return std::make_unique<JournalAudit>();
    if (is_socket("/dev/log")) return std::make_unique<SyslogAudit>();
    return std::make_unique<NoAudit>();
}

} // namespace vbd::local
