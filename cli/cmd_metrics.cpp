// vbdctl metrics [--textfile DIR]: each vbd's state and each ring's health in the Prometheus
// text format, for a scrape or for node_exporter's textfile collector.

#include "app.hpp"
#include "vbdctl/journal.hpp"
#include "prometheus.hpp"
#include "vbdctl/health.hpp"

namespace vbdcli {

namespace {

struct MetricsOptions {
    std::string textfile; ///< DIR, or empty: print on stdout
    unsigned samples = 3;
    unsigned interval_ms = 200;
};

/// What one scrape read, as the library's services answered.
struct Scrape {
    std::vector<vbd::VbdCheck> vbds;
    bool module_read = false;
    std::optional<vbd::LoadedModule> module;
    std::optional<bool> autoprobe;
    std::optional<vbd::RunRecord> last_run; ///< the last kept run (history), if any
    bool unfinished = false;                ///< a journal another run must finish (recover)
    std::optional<vbd::Error> error; ///< what kept the scrape from reading everything
    double seconds = 0;
};

Scrape scrape(vbd::Host& host, const MetricsOptions& o) {
    Scrape s;
    auto start = host.clock.now();
    vbd::Inventory inv(host);
    auto vbds = inv.list(std::nullopt);
    if (!vbds) s.error = vbds.error();
    // The check of `vbdctl check`: a ring that cannot be read is a verdict about its queue,
    // never a failed scrape.
    if (vbds) {
        auto checks =
            vbd::check_rings(host, std::move(*vbds), {o.samples, vbd::Millis(o.interval_ms)});
        if (checks)
            s.vbds = std::move(*checks);
        else
            s.error = checks.error();
    }
    if (auto m = host.modules.loaded("xen_blkback")) {
        s.module_read = true;
        s.module = std::move(*m);
    } else if (!s.error) {
        s.error = m.error();
    }
    if (auto ap = host.bus.autoprobe()) s.autoprobe = *ap;
    if (auto runs = host.runs.list(); runs && !runs->empty() && runs->back().damaged.empty())
        s.last_run = runs->back();
    if (auto r = vbd::run_state(host.state)) s.unfinished = r->unfinished();
    s.seconds = static_cast<double>((host.clock.now() - start).count()) / 1000.0;
    return s;
}

PromLabels vbd_labels(const vbd::Vbd& v) {
    return {{"domid", std::to_string(v.id.domid)},
            {"devid", std::to_string(v.id.devid)},
            {"vdev", v.vdev},
            {"guest", v.name}};
}

constexpr const char* xenbus_states =
    "1 Initialising, 2 InitWait, 3 Initialised, 4 Connected, 5 Closing, "
    "6 Closed, 7 Reconfiguring, 8 Reconfigured";

// Names, labels and meanings are documented in vbdctl(8), METRICS: keep the two together.
// Every family is a gauge. Each function declares its families, then adds their samples.

void add_vbd_metrics(Exposition& e, const Scrape& s) {
    auto bound =
        e.gauge("vbdctl_vbd_bound", "1 when the vbd's device is bound to xen-blkback, 0 when it is "
                                    "unbound or absent from the xen-backend bus");
    auto backend =
        e.gauge("vbdctl_vbd_backend_state", std::string("Backend xenbus state: ") + xenbus_states);
    auto frontend = e.gauge("vbdctl_vbd_frontend_state",
                            std::string("Frontend xenbus state: ") + xenbus_states);
    auto check_ok = e.gauge(
        "vbdctl_vbd_check_ok",
        "1 when vbdctl check passes the vbd: no problem, every ring consistent and not stuck");
    for (const auto& ch : s.vbds) {
        const auto& v = ch.vbd;
        auto labels = vbd_labels(v);
        e.add(bound, labels, v.bound);
        if (v.backend_state) e.add(backend, labels, static_cast<int>(*v.backend_state));
        if (v.frontend_state) e.add(frontend, labels, static_cast<int>(*v.frontend_state));
        e.add(check_ok, labels, ch.ok());
    }
}

// Queues exist only where check examined rings: a Connected frontend with usable keys.
void add_ring_metrics(Exposition& e, const Scrape& s) {
    auto pages = e.gauge("vbdctl_ring_pages", "Pages of the queue's shared ring");
    auto slots = e.gauge("vbdctl_ring_size_slots", "Request slots of the queue's shared ring");
    auto readable =
        e.gauge("vbdctl_ring_readable", "1 when the queue's ring header could be read, 0 when no "
                                        "sample could");
    auto pending = e.gauge("vbdctl_ring_pending_requests",
                           "Requests without a response (req_prod - rsp_prod) at the last sample");
    auto consistent =
        e.gauge("vbdctl_ring_consistent", "1 when req_prod - rsp_prod <= ring size in every "
                                          "sample (blkback's re-attach check), else 0");
    auto progress = e.gauge("vbdctl_ring_progress",
                            "1 for the queue's progress class across the samples (busy, "
                            "idle, stuck, unknown), 0 for the others");
    for (const auto& ch : s.vbds)
        for (const auto& q : ch.queues) {
            auto ql = vbd_labels(ch.vbd);
            ql.push_back({"queue", std::to_string(q.queue)});
            e.add(pages, ql, ch.vbd.rings->geometry.pages());
            e.add(slots, ql, q.ring_size);
            e.add(readable, ql, !q.samples.empty());
            if (!q.samples.empty()) {
                e.add(pending, ql, q.samples.back().pending());
                e.add(consistent, ql, q.consistent);
            }
            for (auto p : {vbd::Progress::busy, vbd::Progress::idle, vbd::Progress::stuck,
                           vbd::Progress::unknown}) {
                auto pl = ql;
                pl.push_back({"class", std::string(vbd::to_string(p))});
                e.add(progress, std::move(pl), q.progress == p);
            }
        }
}

void add_host_metrics(Exposition& e, const Scrape& s) {
    auto loaded =
        e.gauge("vbdctl_blkback_loaded", "1 when xen_blkback is loaded or built in, else 0");
    auto info = e.gauge("vbdctl_blkback_info",
                        "The loaded xen_blkback module: srcversion, version, build_id");
    auto param =
        e.gauge("vbdctl_blkback_param",
                "One per parameter of the loaded xen_blkback, its value as /sys/module shows it");
    auto autoprobe =
        e.gauge("vbdctl_drivers_autoprobe",
                "/sys/bus/xen-backend/drivers_autoprobe: 1 new backend devices are bound at once");
    if (s.module_read) e.add(loaded, {}, s.module.has_value());
    if (const auto& m = s.module) {
        e.add(info,
              {{"srcversion", m->srcversion.value_or("")},
               {"version", m->version.value_or("")},
               {"build_id", m->build_id.value_or("")}},
              1);
        for (const auto& [name, value] : m->params)
            e.add(param, {{"name", name}, {"value", value}}, 1);
    }
    if (s.autoprobe) e.add(autoprobe, {}, *s.autoprobe);
}

Exposition exposition(const Scrape& s) {
    Exposition e;
    add_vbd_metrics(e, s);
    add_ring_metrics(e, s);
    add_host_metrics(e, s);
    if (s.last_run) {
        const auto& r = *s.last_run;
        PromLabels l{{"command", r.command}};
        e.add(e.gauge("vbdctl_last_run_start_timestamp_seconds",
                      "When the last run that changed the host started (vbdctl history)"),
              l, static_cast<double>(r.started.count()) / 1000.0);
        e.add(e.gauge("vbdctl_last_run_end_timestamp_seconds", "When it ended"), l,
              static_cast<double>(r.ended.count()) / 1000.0);
        e.add(e.gauge("vbdctl_last_run_ok", "1 when it succeeded (exit 0), else 0"), l, r.exit == 0);
    }
    e.add(e.gauge("vbdctl_unfinished_run",
                  "1 when a run was interrupted and its journal waits for vbdctl recover (or cannot "
                  "be read), else 0"),
          {}, s.unfinished);
    e.add(e.gauge("vbdctl_scrape_duration_seconds",
                  "Seconds this scrape took, its ring samples included"),
          {}, s.seconds);
    e.add(e.gauge("vbdctl_scrape_ok",
                  "1 when the scrape read every vbd and the module, 0 when it could not "
                  "(see vbdctl's stderr)"),
          {}, !s.error);
    return e;
}

Reply run_metrics(Context& c, const MetricsOptions& o) {
    auto s = scrape(*c.host, o);
    auto e = exposition(s);
    Reply out;
    out.data["samples"] = e.samples();
    if (o.textfile.empty()) {
        out.data["textfile"] = nullptr;
        out.data["families"] = e.json();
        out.text = e.text();
    } else {
        auto path = replace_file(o.textfile, "vbdctl.prom", e.text());
        if (!path) return failure(path.error());
        out.data["textfile"] = *path;
        if (c.g.verbosity > 0)
            note(c, "wrote " + *path + " (" + std::to_string(e.samples()) + " samples)");
    }
    // What was read is still worth having: the metrics say vbdctl_scrape_ok 0.
    if (s.error) out.fail(*s.error);
    return out;
}

} // namespace

void add_metrics(CLI::App& app, Command& cmd) {
    auto o = std::make_shared<MetricsOptions>();
    auto* sub = app.add_subcommand(
        "metrics", "Print each vbd's state and each ring's health in the Prometheus text format; "
                   "exit 1 if the scrape could not read everything");
    sub->add_option(
           "--textfile", o->textfile,
           "Write the metrics to DIR/vbdctl.prom, replacing it whole, for node_exporter's textfile "
           "collector; print nothing")
        ->type_name("DIR")
        ->check(CLI::Validator(CLI::ExistingDirectory).description(""));
    add_sampling(sub, o->samples, o->interval_ms);
    sub->callback([&cmd, o] { cmd.run = [o](Context& c) { return run_metrics(c, *o); }; });
}

} // namespace vbdcli
