#pragma once
// VBD_TRY and VBD_TRY_VOID: propagate an error from a Result-returning expression. They
// use GNU statement expressions, so they live here, for libvbdctl's own sources and the
// CLI, and not in the public headers (which stay standard C++23 for every consumer).

#include "vbdctl/error.hpp"

#define VBD_CAT_(a, b) a##b
#define VBD_CAT(a, b) VBD_CAT_(a, b)

/// Propagates an error from a Result-returning expression, else yields its value.
#define VBD_TRY(expr) VBD_TRY_IMPL_(expr, VBD_CAT(vbd_try_r_, __COUNTER__))
#define VBD_TRY_IMPL_(expr, r)                                                                   \
    ({                                                                                           \
        auto r = (expr);                                                                         \
        if (!r) return std::unexpected(std::move(r.error()));                                    \
        std::move(*r);                                                                           \
    })

/// Same as VBD_TRY for Result<void>.
#define VBD_TRY_VOID(expr) VBD_TRY_VOID_IMPL_(expr, VBD_CAT(vbd_try_r_, __COUNTER__))
#define VBD_TRY_VOID_IMPL_(expr, r)                                                              \
    do {                                                                                         \
        auto r = (expr);                                                                         \
        if (!r) return std::unexpected(std::move(r.error()));                                    \
    } while (0)
