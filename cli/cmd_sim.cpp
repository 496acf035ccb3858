// vbdctl sim ...: build simulated worlds, inject faults, list module files.

#include <array>
#include <sstream>

#include "app.hpp"
#include "render.hpp"
#include "vbdctl/inventory.hpp"

namespace vbdcli {

namespace {

struct SimInitOptions {
    unsigned guests = 0, vbds_per_guest = 2;
    uint32_t backend_domid = 0;
    std::string kernel = "6.1.0-sim-amd64";
    std::vector<std::string> blkback_params;
    bool builtin = false, sig_enforce = false, compressed = false;
    std::string lockdown = "none";
};

struct SimFaultOptions {
    std::vector<std::string> args;
    int at_step = 0;
};

// "list", "clear", or "add" for a fault kind.
std::string kind_of(const std::vector<std::string>& a) {
    if (a.empty()) return "add";
    return a[0] == "list" || a[0] == "clear" ? a[0] : "add";
}

vbd::Result<vbd::sim::SimHost*> need_sim(Context& c, bool need_file) {
    if (!c.sim)
        return vbd::fail(vbd::Errc::invalid_argument, "`sim` commands need --host sim or sim:FILE");
    if (need_file && c.host_label == "sim")
        return vbd::fail(vbd::Errc::invalid_argument,
                         "this changes a simulated world, which needs a file to persist in",
                         {}, "use --host sim:FILE");
    return c.sim;
}

Reply run_init(Context& c, const SimInitOptions& o) {
    auto sim = need_sim(c, true);
    if (!sim) return failure(sim.error());
    unsigned major = 0, minor = 0;
    if (std::sscanf(o.kernel.c_str(), "%u.%u", &major, &minor) != 2 ||
        o.kernel.find_first_of(" /\n") != std::string::npos)
        return failure({vbd::Errc::invalid_argument, "invalid kernel release '" + o.kernel + "'",
                       {}, "e.g. 6.1.0-sim-amd64 or 4.19.0"});
    vbd::sim::InitOptions init;
    init.guests = o.guests;
    init.vbds_per_guest = o.vbds_per_guest;
    init.kernel = o.kernel;
    init.backend_domid = o.backend_domid;
    init.builtin_blkback = o.builtin;
    init.compressed_modules = o.compressed;
    if (o.lockdown != "none") init.signature_enforcement = "lockdown " + o.lockdown;
    if (o.sig_enforce) init.signature_enforcement = "sig_enforce";
    for (const auto& p : o.blkback_params) {
        auto eq = p.find('=');
        if (eq == std::string::npos || eq == 0)
            return failure({vbd::Errc::invalid_argument, "invalid --blkback-param '" + p + "'", {},
                           "use NAME=VALUE, e.g. feature_persistent=N"});
        init.blkback_params[p.substr(0, eq)] = p.substr(eq + 1);
    }
    auto lock = c.host->state.lock();
    if (!lock) return failure(lock.error());
    if (auto r = (*sim)->init(init); !r) return failure(r.error());
    vbd::Inventory inv(*c.host);
    auto n = inv.list(std::nullopt);
    Reply out;
    out.data["vbds"] = n ? n->size() : 0;
    out.data["kernel"] = o.kernel;
    if (!c.g.json)
        note(c, "new simulated world in " + c.host_label.substr(4) + ": " + std::to_string(n ? n->size() : 0) +
                    " vbds, kernel " + o.kernel);
    return out;
}

Reply run_fault(Context& c, const SimFaultOptions& o) {
    auto sim = need_sim(c, false);
    if (!sim) return failure(sim.error());
    const auto& a = o.args;
    auto usage = [](std::string what) {
        return failure({vbd::Errc::invalid_argument, std::move(what), {}, "see `vbdctl sim fault --help`"});
    };
    Reply out;
    out.data["action"] = kind_of(a);
    auto faults_json = [&] {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& f : (*sim)->faults())
            list.push_back({{"kind", f.kind}, {"domid", f.domid}, {"devid", f.devid}, {"step", f.step},
                            {"seconds", f.seconds}});
        return list;
    };
    if (a.empty()) return usage("missing fault kind");
    const std::string& kind = a[0];
    if (kind == "list") {
        auto faults = (*sim)->faults();
        out.data["faults"] = faults_json();
        std::ostringstream text;
        for (const auto& f : faults)
            text << f.kind << " domid=" << f.domid << " devid=" << f.devid << " step=" << f.step
                 << " seconds=" << f.seconds << "\n";
        out.text = text.str();
        if (faults.empty() && !c.g.json) note(c, "no faults pending");
        return out;
    }
    if (c.host_label == "sim") return usage("injecting a fault needs a world kept in a file: --host sim:FILE");
    auto lock = c.host->state.lock();
    if (!lock) return failure(lock.error());
    if (kind == "clear") {
        if (auto r = (*sim)->clear_faults(); !r) return failure(r.error());
        out.data["faults"] = faults_json();
        return out;
    }
    const vbd::sim::FaultKind* fk = vbd::sim::fault_kind(kind);
    if (!fk) return usage("unknown fault kind '" + kind + "'");
    vbd::sim::Fault f{kind, 0, 0, o.at_step, 0};
    auto want = [&](size_t n, const char* what) -> std::optional<Reply> {
        if (a.size() == n + 1) return std::nullopt;
        return usage(kind + " takes " + what);
    };
    if (fk->at_step && o.at_step < 1) return usage(kind + " needs --at-step K");
    if (!fk->at_step && o.at_step != 0) return usage(kind + " does not take --at-step");
    switch (fk->args) {
    case vbd::sim::FaultArgs::none:
        if (auto rc = want(0, "no arguments")) return *rc;
        break;
    case vbd::sim::FaultArgs::vbd: {
        if (auto rc = want(2, "DOMID VBD")) return *rc;
        auto d = resolve_domid(c, a[1]);
        if (!d) return failure(d.error());
        vbd::Inventory inv(*c.host);
        auto id = inv.resolve(*d, a[2]);
        if (!id) return failure(id.error());
        f.domid = id->domid;
        f.devid = id->devid;
        break;
    }
    case vbd::sim::FaultArgs::domid: {
        if (auto rc = want(1, "DOMID")) return *rc;
        auto d = resolve_domid(c, a[1]);
        if (!d) return failure(d.error());
        f.domid = *d;
        break;
    }
    case vbd::sim::FaultArgs::seconds: {
        if (auto rc = want(1, "SECONDS")) return *rc;
        auto secs = parse_seconds(a[1], 0, 3600);
        if (!secs) return failure(secs.error());
        f.seconds = *secs;
        break;
    }
    case vbd::sim::FaultArgs::step: {
        if (auto rc = want(1, "a step number K")) return *rc;
        auto k = vbd::parse_uint(a[1], 100);
        if (!k || *k < 1) return usage(kind + ": K must be a step number 1..100");
        f.step = static_cast<int>(*k);
        break;
    }
    }
    if (auto r = (*sim)->add_fault(f); !r) return failure(r.error());
    if (!c.g.json) note(c, "fault " + kind + " armed");
    out.data["faults"] = faults_json();
    return out;
}

Reply run_guests(Context& c) {
    auto sim = need_sim(c, false);
    if (!sim) return failure(sim.error());
    auto guests = (*sim)->guests();
    Reply out;
    if (c.g.json) {
        auto& j = out.data;
        j["guests"] = nlohmann::json::array();
        for (const auto& g : guests) {
            nlohmann::json disks = nlohmann::json::array(), console = nlohmann::json::array();
            for (const auto& d : g.disks)
                disks.push_back({{"devid", d.devid}, {"vdev", vbd::devid_to_vdev(d.devid).value_or("")},
                                 {"persistent_grants", d.persistent}, {"disabled", d.disabled}});
            for (const auto& [ms, line] : g.console) console.push_back({{"ms", ms}, {"line", line}});
            j["guests"].push_back({{"domid", g.domid}, {"name", g.name}, {"disks", disks}, {"console", console}});
        }
        return out;
    }
    std::ostringstream text;
    for (const auto& g : guests) {
        text << "guest " << g.domid << " " << g.name << "\n";
        for (const auto& d : g.disks)
            text << "  " << vbd::devid_to_vdev(d.devid).value_or(std::to_string(d.devid))
                      << ": persistent grants " << (d.persistent ? "on" : "off")
                      << (d.disabled ? ", DISABLED (the guest lost this disk)" : "") << "\n";
        for (const auto& [ms, line] : g.console) text << "  [" << ms << " ms] " << line << "\n";
    }
    out.text = text.str();
    return out;
}

Reply run_param(Context& c, const std::array<std::string, 2>& args) {
    auto sim = need_sim(c, true);
    if (!sim) return failure(sim.error());
    auto lock = c.host->state.lock();
    if (!lock) return failure(lock.error());
    if (auto r = (*sim)->write_param(args[0], args[1]); !r) return failure(r.error());
    if (!c.g.json)
        note(c, "xen_blkback parameter " + args[0] + " set to " + args[1] + " (read at each vbd's next connect)");
    Reply out;
    out.data["name"] = args[0];
    out.data["value"] = args[1];
    return out;
}

// `sim xs write PATH VALUE | rm PATH`: a change made in xenstore by someone else (the
// guest's blkfront, root with xenstore-write), to rehearse what vbdctl meets.
Reply run_xs(Context& c, const std::vector<std::string>& a) {
    auto sim = need_sim(c, true);
    if (!sim) return failure(sim.error());
    auto usage = [](std::string what) {
        return failure({vbd::Errc::invalid_argument, std::move(what), {}, "use `sim xs write PATH VALUE` or `sim xs rm PATH`"});
    };
    bool write = !a.empty() && a[0] == "write" && a.size() == 3;
    bool rm = !a.empty() && a[0] == "rm" && a.size() == 2;
    if (!write && !rm) return usage("bad sim xs arguments");
    const std::string& path = a[1];
    if (path == "/" || !vbd::valid_xenstore_path(path)) return usage("invalid xenstore path '" + path + "'");
    auto lock = c.host->state.lock();
    if (!lock) return failure(lock.error());
    auto r = write ? c.host->xenstore.write(path, a[2]) : c.host->xenstore.remove(path);
    if (!r) return failure(r.error());
    if (!c.g.json) note(c, write ? "wrote " + path : "removed " + path);
    Reply out;
    out.data["action"] = a[0];
    out.data["path"] = path;
    out.data["value"] = write ? nlohmann::json(a[2]) : nlohmann::json(nullptr);
    return out;
}

Reply run_show_modules(Context& c) {
    auto sim = need_sim(c, false);
    if (!sim) return failure(sim.error());
    auto loaded = c.host->modules.loaded("xen_blkback");
    auto resolved = c.host->modules.resolve("xen_blkback");
    auto files = (*sim)->module_files();
    Reply out;
    if (c.g.json) {
        auto& j = out.data;
        j["modprobe_resolves"] = resolved ? nlohmann::json(*resolved) : nlohmann::json(nullptr);
        j["loaded"] = loaded ? module_json(*loaded, blkback_param_types(*c.host)) : nlohmann::json(nullptr);
        j["files"] = nlohmann::json::array();
        for (const auto& f : files)
            j["files"].push_back({{"path", f.path}, {"name", f.name}, {"vermagic", f.vermagic},
                                  {"srcversion", f.srcversion ? nlohmann::json(*f.srcversion) : nlohmann::json(nullptr)},
                                  {"version", f.version ? nlohmann::json(*f.version) : nlohmann::json(nullptr)},
                                  {"signer", f.signer ? nlohmann::json(*f.signer) : nlohmann::json(nullptr)}});
        return out;
    }
    std::ostringstream text;
    for (const auto& f : files)
        text << f.path << "\n  name " << f.name << ", vermagic '" << f.vermagic
                  << "', srcversion " << f.srcversion.value_or("-") << ", version "
                  << f.version.value_or("-") << ", signer " << f.signer.value_or("- (unsigned)")
                  << (resolved && *resolved == f.path ? "  (modprobe resolves this)" : "") << "\n";
    if (loaded && *loaded)
        text << "loaded: xen_blkback refcnt " << (*loaded)->refcnt << ", srcversion "
                  << (*loaded)->srcversion.value_or("-") << "\n";
    out.text = text.str();
    return out;
}

} // namespace

void add_sim(CLI::App& app, Command& cmd) {
    auto* sim = app.add_subcommand("sim", "Simulated host: build worlds, inject faults, list "
                                          "module files (needs --host sim[:FILE])");
    sim->require_subcommand(1);
    auto io = std::make_shared<SimInitOptions>();
    auto* init = sim->add_subcommand("init", "Replace the world in FILE with a new one");
    init->add_option("--guests", io->guests, "Guests (0: the built-in default world)")
        ->check(CLI::Range(0u, vbd::max_domid))
        ->capture_default_str();
    init->add_option("--vbds-per-guest", io->vbds_per_guest, "Vbds per guest")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    init->add_option("--backend-domid", io->backend_domid,
                     "The simulated host is this driver domain (0: dom0); xenstored gives it 128 watches")
        ->check(CLI::Range(0u, vbd::max_domid))
        ->capture_default_str();
    init->add_option("--kernel", io->kernel, "Kernel release (before 5.5: no rebind support)")
        ->capture_default_str();
    init->add_option("--blkback-param", io->blkback_params,
                     "NAME=VALUE xen-blkback was loaded with before the guests connected (repeatable)");
    init->add_flag("--builtin-blkback", io->builtin, "xen-blkback is built into the kernel (cannot be unloaded)");
    init->add_flag("--compressed-modules", io->compressed,
                   "Module files as Debian 13 ships them: under /usr/lib/modules, the in-tree one .ko.xz");
    init->add_flag("--sig-enforce", io->sig_enforce, "The kernel loads only signed modules (module.sig_enforce=1)");
    init->add_option("--lockdown", io->lockdown, "Lockdown mode (integrity and confidentiality refuse unsigned modules)")
        ->check(CLI::IsMember({"none", "integrity", "confidentiality"}))
        ->capture_default_str();
    init->callback([&cmd, io] {
        cmd.run = [io](Context& c) { return run_init(c, *io); };
        cmd.replaces_sim_world = true;
    });

    auto fo = std::make_shared<SimFaultOptions>();
    std::string kinds;
    for (const auto& k : vbd::sim::fault_kinds()) {
        static const char* args[] = {"", " DOMID VBD", " DOMID", " SECONDS", " K"};
        kinds += std::string("\n  ") + std::string(k.name) + args[static_cast<int>(k.args)] +
                 (k.at_step ? " --at-step K" : "") + ": " + std::string(k.summary);
    }
    auto* fault = sim->add_subcommand("fault", "Inject a fault (or list, clear). Kinds:" + kinds);
    fault->add_option("KIND", fo->args, "Fault kind and its arguments, or list, clear")->required();
    fault->add_option("--at-step", fo->at_step, "Step of upgrade-backend (destroy-guest, create-guest, detach)");
    fault->callback([&cmd, fo] { cmd.run = [fo](Context& c) { return run_fault(c, *fo); }; });

    auto* guests = sim->add_subcommand("guests", "Each guest from inside: its disks as blkfront sees "
                                                 "them (persistent grants, disabled) and its kernel log");
    guests->callback([&cmd] { cmd.run = [](Context& c) { return run_guests(c); }; });

    // Two positionals: CLI11 2.4 (Debian 13) refuses a name with a space, at startup.
    auto pa = std::make_shared<std::array<std::string, 2>>();
    auto* param = sim->add_subcommand("param", "Write a xen-blkback parameter at runtime, as "
                                               "`echo VALUE > /sys/module/xen_blkback/parameters/NAME`");
    param->add_option("NAME", (*pa)[0], "Parameter")->required();
    param->add_option("VALUE", (*pa)[1], "Value")->required();
    param->callback([&cmd, pa] { cmd.run = [pa](Context& c) { return run_param(c, *pa); }; });

    auto xa = std::make_shared<std::vector<std::string>>();
    auto* xs = sim->add_subcommand("xs", "Change xenstore as the guest or root would: write PATH VALUE | rm PATH");
    xs->add_option("ARGS", *xa, "write PATH VALUE, or rm PATH")->required();
    xs->callback([&cmd, xa] { cmd.run = [xa](Context& c) { return run_xs(c, *xa); }; });

    auto* mods = sim->add_subcommand("show-modules", "List the simulated module files");
    mods->callback([&cmd] { cmd.run = [](Context& c) { return run_show_modules(c); }; });
}

} // namespace vbdcli
