#pragma once
// A fresh built-in simulated world for unit tests, opened in memory.

#include <doctest/doctest.h>

#include <memory>

#include "vbdctl/sim.hpp"

struct SimWorld {
    std::unique_ptr<vbd::sim::SimHost> owner;
    vbd::Host* h = nullptr;
    /// With locked, the test holds the lock as a mutating command does (the simulator refuses
    /// changes made without it).
    explicit SimWorld(bool locked) {
        auto s = vbd::sim::SimHost::open(std::nullopt);
        REQUIRE(s.has_value());
        owner = std::move(*s);
        h = &owner->host();
        if (!locked) return;
        auto l = h->state.lock();
        REQUIRE(l.has_value());
        lock = std::move(*l);
    }
    int refcnt() {
        auto m = h->modules.loaded("xen_blkback");
        REQUIRE(m.has_value());
        return *m ? (**m).refcnt : -100;
    }
    std::unique_ptr<vbd::Lock> lock;
};
