#include "mutate.hpp"

#include <csignal>
#include <iostream>
#include <unistd.h>

namespace vbdcli {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true); }

} // namespace

bool stop_requested() { return g_stop.load(); }

vbd::Result<void> confirm(const Context& c, bool yes, const std::string& question) {
    if (yes) return {};
    if (!c.stdin_tty)
        return vbd::fail(vbd::Errc::invalid_argument, question + ": not on a terminal, so nothing was asked", {},
                         "pass --yes to confirm");
    std::cerr << question << " [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer == "y" || answer == "Y" || answer == "yes") return {};
    return vbd::fail(vbd::Errc::failed, "not confirmed: nothing changed");
}

vbd::RunControl mutation_control(const Context& c) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: a blocked wait returns so the flag is seen
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    vbd::RunControl ctl;
    ctl.stop = &g_stop;
    if (c.g.verbosity < 0) return ctl;
    // On a terminal the per-vbd events rewrite one line under their step; off it (or with
    // -v) every event is its own line, so a log keeps them.
    bool live = c.stderr_tty && c.g.verbosity == 0 && !std::getenv("NO_PROGRESS");
    bool items = live || c.g.verbosity > 0;
    ctl.progress = [live, items, open = std::make_shared<bool>(false)](const vbd::ProgressEvent& e) {
        if (e.kind != vbd::ProgressEvent::Kind::item) {
            if (*open) std::cerr << "\r\033[K"; // the step's live line has done its job
            *open = false;
            if (e.kind == vbd::ProgressEvent::Kind::step)
                std::cerr << "vbdctl: step " << e.done << "/" << e.total << " " << e.step << ": " << e.detail << "\n";
            return;
        }
        if (!items) return;
        if (live) {
            std::cerr << "\r\033[K  " << e.step;
            *open = true;
        } else {
            std::cerr << "vbdctl:   " << e.step;
        }
        if (e.total) std::cerr << " " << e.done << "/" << e.total;
        if (!e.detail.empty()) std::cerr << " " << e.detail;
        if (!live) std::cerr << "\n";
        std::cerr << std::flush;
    };
    return ctl;
}

} // namespace vbdcli
