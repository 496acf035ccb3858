// The simulator's fault table: every kind, what it takes, what it does.

#include "vbdctl/sim.hpp"

namespace vbd::sim {

const std::vector<FaultKind>& fault_kinds() {
    static const std::vector<FaultKind> kinds = {
        {"module-load-fail", FaultArgs::none, false, "the next module load fails (once per fault)"},
        {"reconnect-fatal", FaultArgs::vbd, false,
         "the vbd's next connect fails: xenbus_dev_fatal, backend Closing, and blkfront closes the disk"},
        {"hang-connect", FaultArgs::vbd, false, "the vbd's next connect never happens: the backend stays InitWait"},
        {"corrupt-ring", FaultArgs::vbd, false, "req_prod - rsp_prod exceeds the ring size"},
        {"stall-ring", FaultArgs::vbd, false, "the backend stops answering the vbd's rings"},
        {"slow-drain", FaultArgs::seconds, false, "unbound instances take SECONDS to drain"},
        {"destroy-guest", FaultArgs::domid, true, "xl destroy when step K is journaled"},
        {"create-guest", FaultArgs::domid, true, "xl create of a one-disk guest when step K is journaled"},
        {"detach", FaultArgs::vbd, true, "xl block-detach of the vbd when step K is journaled"},
        {"crash-after-step", FaultArgs::step, false,
         "the mutating command is killed (SIGKILL) after step K, before anything of the next step"},
    };
    return kinds;
}

const FaultKind* fault_kind(std::string_view name) {
    for (const auto& k : fault_kinds())
        if (k.name == name) return &k;
    return nullptr;
}

} // namespace vbd::sim
