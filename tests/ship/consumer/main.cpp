// Uses libvbdctl as an outside program would: parse user input, open the simulated host,
// count the default world's vbds (6). Exits 0 when everything is as documented.

#include <cstdio>
#include <string>

#include <vbdctl/inventory.hpp>
#include <vbdctl/sim.hpp>
#include <vbdctl/types.hpp>

namespace {

// Plain std::expected: the public headers are standard C++23 (built here with
// CXX_EXTENSIONS OFF and -pedantic-errors).
vbd::Result<size_t> count_vbds() {
    auto sim = vbd::sim::SimHost::open(std::nullopt);
    if (!sim) return std::unexpected(sim.error());
    vbd::Inventory inv((*sim)->host());
    auto vbds = inv.list(std::nullopt);
    if (!vbds) return std::unexpected(vbds.error());
    return vbds->size();
}

int fail(const std::string& what) {
    std::fprintf(stderr, "consumer: %s\n", what.c_str());
    return 1;
}

} // namespace

int main() {
    auto devid = vbd::vdev_to_devid("xvdb");
    if (!devid || *devid != 51728) return fail("vdev_to_devid(xvdb) != 51728");
    auto id = vbd::parse_vbd(1, "xvda");
    if (!id || id->devid != 51712 || id->sysfs_name() != "vbd-1-51712")
        return fail("parse_vbd(1, xvda) != vbd-1-51712");
    if (vbd::parse_domid("32752")) return fail("parse_domid accepted 32752");
    auto n = count_vbds();
    if (!n) return fail(n.error().message());
    std::printf("default simulated world: %zu vbds\n", *n);
    return *n == 6 ? 0 : fail("expected 6 vbds");
}
