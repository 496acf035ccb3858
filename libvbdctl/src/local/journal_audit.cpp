// vbdctl/journal.so: the audit trail as structured systemd journal entries (VBDCTL_* fields),
// for audit_log.cpp's choice when journald listens.

#include <systemd/sd-journal.h>

#include "parts.hpp"

namespace vbd::local {

namespace {

std::string vbd_list(const std::vector<std::string>& vbds) {
    std::string s;
    for (const auto& v : vbds) s += (s.empty() ? "" : " ") + v;
    return s;
}

class JournalAudit final : public AuditLog {
  public:
    void record(const AuditRecord& r) override {
        // sd_journal_send writes one datagram per call: it is in the journal when it returns.
        sd_journal_send("MESSAGE=%s: %s", r.op.c_str(), r.message.c_str(), "PRIORITY=%d", audit_priority(r),
                        "SYSLOG_IDENTIFIER=vbdctl", "VBDCTL_OP=%s", r.op.c_str(), "VBDCTL_EVENT=%s",
                        std::string(to_string(r.event)).c_str(), "VBDCTL_STEP=%d", r.step, "VBDCTL_STEP_NAME=%s",
                        r.step_name.c_str(), "VBDCTL_OK=%d", r.ok ? 1 : 0, "VBDCTL_VBDS=%s", vbd_list(r.vbds).c_str(),
                        nullptr);
    }
};

std::unique_ptr<AuditLog> make_journal_audit() { return std::make_unique<JournalAudit>(); }

} // namespace

} // namespace vbd::local

extern "C" const vbd::local::JournalPart* vbdctl_journal_part() {
    static const vbd::local::JournalPart p{VBDCTL_VERSION, &vbd::local::make_journal_audit};
    return &p;
}
