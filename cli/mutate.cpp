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

int confirm(const Context& c, bool yes, const std::string& question) {
    if (yes) return -1;
    if (!c.stdin_tty) {
        std::cerr << "vbdctl: error: " << question
                  << ": not on a terminal, so pass --yes to confirm\n";
        return Exit::usage;
    }
    std::cerr << question << " [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer == "y" || answer == "Y" || answer == "yes") return -1;
    std::cerr << "vbdctl: nothing changed\n";
    return Exit::failed;
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
    bool show = c.stderr_tty && c.g.verbosity >= 0 && !std::getenv("NO_PROGRESS");
    bool verbose = c.g.verbosity > 0;
    if (show || verbose)
        ctl.progress = [](const vbd::ProgressEvent& e) {
            std::cerr << "vbdctl: [" << e.step << "]";
            if (e.total) std::cerr << " " << e.done << "/" << e.total;
            if (!e.detail.empty()) std::cerr << " " << e.detail;
            std::cerr << "\n";
        };
    return ctl;
}

} // namespace vbdcli
