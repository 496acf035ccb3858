#include "vbdctl/ports.hpp"
#include "try.hpp"

namespace vbd {

Result<std::vector<std::optional<std::string>>> XenStore::read_many(std::string_view dir,
                                                                    std::span<const std::string_view> keys, Txn t) {
    std::vector<std::optional<std::string>> out;
    out.reserve(keys.size());
    std::string path;
    for (std::string_view k : keys) {
        path.assign(dir).append(1, '/').append(k);
        out.push_back(VBD_TRY(read(path, t)));
    }
    return out;
}

std::string_view to_string(AuditRecord::Event e) {
    switch (e) {
    case AuditRecord::Event::plan: return "plan";
    case AuditRecord::Event::step: return "step";
    case AuditRecord::Event::step_end: return "step_end";
    case AuditRecord::Event::undo: return "undo";
    case AuditRecord::Event::result: return "result";
    }
    return "plan";
}

} // namespace vbd
