#include "modules_model.hpp"

#include <algorithm>

#include "vbdctl/types.hpp"

namespace vbd::sim {

namespace {

std::string vermagic_for(const std::string& release) {
    return release + " SMP preempt mod_unload modversions ";
}

// xen-blkback's parameters with modinfo's parmtype, as Linux 6.1 declares them.
const std::vector<ModuleParam> blkback_params = {
    {"max_buffer_pages", "int"},   {"max_persistent_grants", "int"},
    {"persistent_grant_unused_seconds", "uint"}, {"max_queues", "uint"},
    {"max_ring_page_order", "int"}, {"log_stats", "int"},
    {"feature_persistent", "bool"}, {"buffer_squeeze_duration_ms", "int"}};

// Parameters writable at runtime (mode 0644); max_ring_page_order is 0444.
bool runtime_writable(const std::string& name) {
    return name != "max_ring_page_order" &&
           std::any_of(blkback_params.begin(), blkback_params.end(),
                       [&](const ModuleParam& p) { return p.name == name; });
}

std::map<std::string, std::string> blkback_defaults() {
    return {{"max_buffer_pages", "1024"},     {"max_persistent_grants", "1056"},
            {"persistent_grant_unused_seconds", "60"}, {"max_queues", "0"},
            {"max_ring_page_order", "4"},     {"log_stats", "0"},
            {"feature_persistent", "Y"},      {"buffer_squeeze_duration_ms", "10"}};
}

} // namespace

std::optional<std::string> ModulesModel::param_value(const std::string& name, const std::string& v) {
    auto p = std::find_if(blkback_params.begin(), blkback_params.end(),
                          [&](const ModuleParam& x) { return x.name == name; });
    if (p == blkback_params.end()) return std::nullopt;
    if (p->type == "bool") {
        if (v == "y" || v == "Y" || v == "1" || v == "on") return "Y";
        if (v == "n" || v == "N" || v == "0" || v == "off") return "N";
        return std::nullopt;
    }
    bool neg = p->type == "int" && v.starts_with("-");
    auto n = parse_uint(neg ? v.substr(1) : v, p->type == "int" ? INT32_MAX : UINT32_MAX);
    if (!n) return std::nullopt;
    return (neg && *n ? "-" : "") + std::to_string(*n);
}

ModulesModel ModulesModel::make(const InitOptions& opts, unsigned cpus) {
    ModulesModel m;
    m.release = opts.kernel;
    const std::string mods = (opts.compressed_modules ? "/usr/lib/modules/" : "/lib/modules/") + opts.kernel;
    const std::string stock = mods + "/kernel/drivers/block/xen-blkback/xen-blkback.ko" +
                              (opts.compressed_modules ? ".xz" : "");
    // The stock in-tree module has no srcversion and is signed by the distribution (as on
    // Debian); the locally built update has a srcversion and no signature.
    auto file = [&](std::string path, std::string release, std::optional<std::string> srcversion,
                    std::optional<std::string> version, std::string build_id, bool signed_by_debian) {
        m.files_[path] = ModuleFile{path, "xen_blkback", vermagic_for(release), std::move(srcversion),
                                    std::move(version), std::move(build_id), blkback_params,
                                    std::nullopt, std::nullopt};
        if (signed_by_debian) {
            m.files_[path].signer = "Debian Secure Boot CA";
            m.files_[path].sig_key = "32:A0:28:7F:84:1A:03:6F:A3:93:C1:E0:65:C4:3A:E6:B2:42:26:43";
        }
    };
    file(stock, opts.kernel, std::nullopt, std::nullopt, "3f0c2a9d5b7e41c6a8d2e0f19b4c7a3e5d6f8012", true);
    file(mods + "/updates/xen-blkback.ko", opts.kernel, "8C1F2D3E4A5B6C7D8E9F0A1", "sim-2",
         "a71e4c0b93d25f6e8c1a0b7d2e4f6a8c9b0d1e23", false);
    file("/var/lib/vbdctl-sim/xen-blkback-4.19.0-27.ko", "4.19.0-27-amd64", "0D9E8F7A6B5C4D3E2F1A0B9", "sim-old",
         "5e2d1c0b9a8f7e6d5c4b3a29181706f5e4d3c2b1", false);
    m.signature_enforcement = opts.signature_enforcement;
    m.builtin = opts.builtin_blkback;
    m.module_ = ModuleLoad{stock, blkback_defaults()};
    m.module_->params["max_queues"] = std::to_string(cpus);
    for (const auto& [k, v] : opts.blkback_params)
        if (auto kv = param_value(k, v)) m.module_->params[k] = *kv;
    return m;
}

std::optional<vbd::LoadedModule> ModulesModel::loaded_module(int refcnt) const {
    if (!module_) return std::nullopt;
    vbd::LoadedModule m;
    m.name = "xen_blkback";
    m.builtin = builtin;
    m.refcnt = builtin ? 0 : refcnt;
    auto f = files_.find(module_->path);
    if (f != files_.end()) {
        m.srcversion = f->second.srcversion;
        m.version = f->second.version;
        m.build_id = f->second.build_id;
        m.taint = f->second.srcversion ? "OE" : "";
    }
    m.params = module_->params;
    return m;
}

Result<ModuleFile> ModulesModel::file(const std::string& path) const {
    auto f = files_.find(path);
    if (f == files_.end())
        return fail(Errc::not_found, "no such module file", path);
    // The adapter reads a build-id from an ELF file as it is or compressed with xz or zstd,
    // not from a gzip one (the loaded module's comes from /sys/module/NAME/notes).
    ModuleFile out = f->second;
    for (const char* ext : {".gz"})
        if (path.ends_with(ext)) out.build_id.reset();
    return out;
}

std::string ModulesModel::modprobe_path() const {
    // depmod's default search order puts updates/ before the kernel's own tree.
    auto files = files_of_kernel();
    return files.empty() ? "/lib/modules/" + release + "/kernel/drivers/block/xen-blkback/xen-blkback.ko"
                         : files.front();
}

std::vector<std::string> ModulesModel::files_of_kernel() const {
    std::vector<std::string> updates, kernel;
    for (const auto& [path, f] : files_)
        for (std::string dir : {"/lib/modules/", "/usr/lib/modules/"}) {
            dir += release + "/";
            if (f.name != "xen_blkback" || !path.starts_with(dir)) continue;
            (path.compare(dir.size(), 8, "updates/") == 0 ? updates : kernel).push_back(path);
        }
    updates.insert(updates.end(), kernel.begin(), kernel.end());
    return updates;
}

Result<void> ModulesModel::load(const std::string& path, const std::map<std::string, std::string>& params,
                                unsigned cpus, const std::function<bool()>& failing) {
    if (module_) return fail(Errc::busy, "module xen_blkback is already loaded", path);
    auto f = files_.find(path);
    if (f == files_.end()) return fail(Errc::not_found, "no such module file", path);
    if (signature_enforcement && !f->second.signer)
        return fail(Errc::io, "init_module failed: Key was rejected by service (" + *signature_enforcement + ")", path);
    if (failing())
        return fail(Errc::io, "init_module failed: Cannot allocate memory (simulated module-load-fail)",
                    path);
    // CONFIG_MODVERSIONS: the kernel ignores the release in vermagic, not the rest.
    auto tail = [](const std::string& vm) { return vm.substr(std::min(vm.size(), vm.find(' '))); };
    if (tail(f->second.vermagic) != tail(vermagic_for(release)))
        return fail(Errc::io, "init_module failed: Invalid module format", path);
    ModuleLoad m{path, blkback_defaults()};
    for (const auto& [k, v] : params) {
        if (!m.params.contains(k)) continue; // unknown parameters are ignored with a warning
        auto kv = param_value(k, v);
        if (!kv) return fail(Errc::io, "init_module failed: Invalid argument ('" + v + "' invalid for parameter `" + k + "')", path);
        m.params[k] = *kv;
    }
    if (m.params["max_queues"] == "0") m.params["max_queues"] = std::to_string(cpus);
    if (auto o = parse_uint(m.params["max_ring_page_order"], 1u << 20); !o || *o > 4)
        m.params["max_ring_page_order"] = "4"; // blkback clamps to XENBUS_MAX_RING_GRANT_ORDER
    module_ = m;
    return {};
}

Result<void> ModulesModel::unload(int refcnt) {
    if (!module_) return fail(Errc::not_found, "module xen_blkback is not loaded");
    if (builtin) return fail(Errc::io, "delete_module failed: No such file or directory (built in)", "xen_blkback");
    if (refcnt > 0)
        return fail(Errc::busy,
                    "delete_module failed: Resource temporarily unavailable (refcnt " +
                        std::to_string(refcnt) + ")",
                    "xen_blkback");
    module_.reset();
    return {};
}

Result<std::string> ModulesModel::copy_file(const std::string& path, const std::string& dir) {
    auto f = files_.find(path);
    if (f == files_.end()) return fail(Errc::not_found, "no such module file", path);
    std::string dest = dir + "/" + path.substr(path.rfind('/') + 1);
    ModuleFile copy = f->second;
    copy.path = dest;
    files_[dest] = copy;
    return dest;
}

unsigned ModulesModel::param_uint(const std::string& name, unsigned fallback) const {
    if (!module_) return fallback;
    auto it = module_->params.find(name);
    if (it == module_->params.end()) return fallback;
    auto v = parse_uint(it->second, 1u << 20);
    return v ? static_cast<unsigned>(*v) : fallback;
}

bool ModulesModel::param_bool(const std::string& name) const {
    if (!module_) return false;
    auto it = module_->params.find(name);
    return it != module_->params.end() && it->second == "Y";
}

Result<void> ModulesModel::write_param(const std::string& name, const std::string& value) {
    if (!module_) return fail(Errc::not_found, "xen_blkback is not loaded", name);
    if (!runtime_writable(name))
        return fail(Errc::invalid_argument,
                    "/sys/module/xen_blkback/parameters/" + name + " is not writable at runtime", name);
    auto v = param_value(name, value);
    if (!v) return fail(Errc::invalid_argument, "write error: Invalid argument ('" + value + "')", name);
    module_->params[name] = *v; // read again at the next connect
    return {};
}

} // namespace vbd::sim
