#include "vbdctl/kernel_fixes.hpp"
#include "try.hpp"

#include <algorithm>
#include <regex>
#include <tuple>

namespace vbd {

namespace {

KernelVersion v(unsigned major, unsigned minor, unsigned patch = 0, std::optional<unsigned> rc = std::nullopt) {
    return KernelVersion{major, minor, patch, rc, {}};
}

std::string str(const KernelVersion& k) {
    std::string s = std::to_string(k.major) + "." + std::to_string(k.minor);
    if (k.patch || !k.rc) s += "." + std::to_string(k.patch);
    if (k.rc) s += "-rc" + std::to_string(*k.rc);
    return s;
}

std::optional<KernelVersion> parse(const std::string& text, const std::regex& re, std::string evidence) {
    std::smatch m;
    if (!std::regex_search(text, m, re)) return std::nullopt;
    KernelVersion k;
    k.major = static_cast<unsigned>(std::stoul(m[1]));
    k.minor = static_cast<unsigned>(std::stoul(m[2]));
    if (m[3].matched) k.patch = static_cast<unsigned>(std::stoul(m[3]));
    if (m[4].matched) k.rc = static_cast<unsigned>(std::stoul(m[4]));
    k.evidence = std::move(evidence) + m[0].str();
    return k;
}

} // namespace

std::optional<KernelVersion> upstream_version(std::string_view release, std::string_view build) {
    static const std::regex debian(R"(Debian (\d{1,3})\.(\d{1,3})(?:\.(\d{1,4}))?(?:-\S+)?)");
    static const std::regex plain(R"(^(\d{1,3})\.(\d{1,3})(?:\.(\d{1,4}))?(?:-rc(\d{1,2}))?)");
    if (auto k = parse(std::string(build), debian, "uname -v: ")) return k;
    return parse(std::string(release), plain, "uname -r: ");
}

const std::vector<KernelFix>& kernel_fixes() {
    static const std::vector<KernelFix> fixes = {
        {"xsa-350", "xen-blkback: set ring->xenblkd to NULL after kthread_stop()",
         "a second disconnect of a vbd crashes dom0 in kthread_stop", v(5, 11),
         {v(4, 4, 254), v(4, 9, 249), v(4, 14, 213)}, std::nullopt},
        {"xsa-371", "xen-blkback: don't leak persistent grants from xen_blkbk_map()",
         "a leaked persistent grant turns a disconnect into a BUG_ON", v(5, 12, 0, 6), {v(5, 10, 27)},
         std::nullopt},
        {"single-page-ring", "xen-blkback: fix compatibility bug with single page rings",
         "blkback prefers a stale ring-ref0 over ring-ref, so a reconnect maps the wrong page", v(5, 13),
         {v(5, 4, 119)}, std::nullopt},
        {"persistent-negotiation", "xen-blkback: Advertise feature-persistent as user requested",
         "persistent grants are negotiated wrongly at reconnect", v(6, 0, 0, 4), {}, v(6, 0, 0, 1)},
    };
    return fixes;
}

std::vector<MissingFix> missing_fixes(const KernelVersion& k) {
    std::vector<MissingFix> out;
    for (const auto& f : kernel_fixes()) {
        if (k.key() >= f.mainline.key()) continue;
        if (f.introduced && k.key() < f.introduced->key()) continue;
        bool backported = std::any_of(f.stable.begin(), f.stable.end(), [&](const KernelVersion& s) {
            return s.major == k.major && s.minor == k.minor && k.key() >= s.key();
        });
        if (backported) continue;
        std::string where = "mainline " + str(f.mainline);
        for (const auto& s : f.stable) where += ", " + str(s);
        out.push_back({&f, "kernel " + str(k) + " (" + k.evidence + ") predates \"" + f.title + "\" (" + where +
                               "): without it " + f.without + ". The version is a hint, not proof: a "
                               "distribution may have backported it"});
    }
    return out;
}

Result<std::vector<FixVerdict>> check_kernel_fixes(Kernel& kernel, const std::set<std::string>& accepted) {
    auto release = VBD_TRY(kernel.release());
    auto build = VBD_TRY(kernel.version());
    auto k = upstream_version(release, build);
    if (!k)
        return std::vector<FixVerdict>{{"kernel fixes", true,
                                        "cannot tell the upstream version of kernel " + release +
                                            " (" + build + "): the rebind fixes were not checked"}};
    auto missing = missing_fixes(*k);
    if (missing.empty())
        return std::vector<FixVerdict>{{"kernel fixes", true,
                                        "kernel " + str(*k) + " (" + k->evidence + ") has every fix in vbdctl's table"}};
    std::vector<FixVerdict> out;
    for (const auto& m : missing) {
        bool ok = accepted.contains(m.fix->id);
        out.push_back({"kernel fix " + m.fix->id, ok,
                       m.detail + (ok ? " (accepted: --accept-hazard " + m.fix->id + ")"
                                      : "; if it has, pass --accept-hazard " + m.fix->id)});
    }
    return out;
}

} // namespace vbd
