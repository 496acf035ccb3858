#include "output.hpp"

#include <iostream>

#include "app.hpp"

namespace vbdcli {

namespace {

nlohmann::json error_json(const vbd::Error& e) {
    auto opt = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
    return {{"code", vbd::to_string(e.code)}, {"message", e.message()}, {"object", opt(e.object)}, {"hint", opt(e.hint)}};
}

} // namespace

int exit_code(const vbd::Error& e) {
    switch (e.code) {
    case vbd::Errc::invalid_argument: return Exit::usage;
    case vbd::Errc::interrupted: return Exit::interrupted;
    default: return Exit::failed;
    }
}

Reply& Reply::fail(vbd::Error e) {
    exit = exit_code(e);
    error = std::move(e);
    return *this;
}

Reply failure(vbd::Error e) {
    Reply r;
    r.fail(std::move(e));
    return r;
}

Reply streamed() {
    Reply r;
    r.streamed = true;
    return r;
}

std::string look_at(const Context& c, std::string text_hint, std::string json_hint) {
    return c.g.json ? std::move(json_hint) : std::move(text_hint);
}

nlohmann::json envelope(const Context& c, int exit, const std::optional<vbd::Error>& e) {
    return {{"schema_version", schema_version},
            {"vbdctl_version", VBDCTL_VERSION},
            {"host", c.host_label.empty() ? c.g.host : c.host_label},
            {"command", c.command.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.command)},
            {"ok", exit == Exit::ok},
            {"exit", exit},
            {"error", e ? error_json(*e) : nlohmann::json(nullptr)}};
}

nlohmann::json report_json(const Context& c, const Reply& r) {
    auto j = envelope(c, r.exit, r.error);
    for (const auto& [k, v] : r.data.items()) j[k] = v;
    return j;
}

int emit(const Context& c, const Reply& r) {
    if (r.streamed) {
        // Printed already; a failure still gets its line (under --json, its object).
        if (r.error) {
            if (c.g.json) std::cout << envelope(c, r.exit, r.error).dump(2) << "\n";
            std::cerr << "vbdctl: error: " << r.error->message() << "\n";
        }
        return r.exit;
    }
    if (c.g.json) {
        std::cout << report_json(c, r).dump(2) << "\n";
    } else {
        std::cout << r.text;
    }
    std::cout.flush();
    if (r.error) std::cerr << "vbdctl: error: " << r.error->message() << "\n";
    return r.exit;
}

} // namespace vbdcli
