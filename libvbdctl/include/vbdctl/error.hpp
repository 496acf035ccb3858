#pragma once
/// Errors and results: every fallible call in libvbdctl returns Result<T>.

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace vbd {

/// What kind of failure; the CLI maps these to exit codes.
enum class Errc {
    invalid_argument, ///< bad input from a user (id, name, flag value): exit 2
    bad_value,        ///< a malformed value read from xenstore, sysfs or a file
    not_found,        ///< the object does not exist
    not_xen,          ///< this machine is not a Xen backend domain
    io,               ///< an OS or library call failed
    unsupported,      ///< the kernel or host cannot do it
    refused,          ///< a safety check refused the operation
    busy,             ///< another vbdctl holds the lock, or the module is in use
    timeout,          ///< a wait ran out of time
    failed,           ///< the operation ran and did not reach its goal
    interrupted,      ///< SIGINT/SIGTERM stopped it at a safe point
};

/// The kind's name as --json prints it ("invalid_argument", "refused", ...).
constexpr std::string_view to_string(Errc c) {
    switch (c) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::bad_value: return "bad_value";
    case Errc::not_found: return "not_found";
    case Errc::not_xen: return "not_xen";
    case Errc::io: return "io";
    case Errc::unsupported: return "unsupported";
    case Errc::refused: return "refused";
    case Errc::busy: return "busy";
    case Errc::timeout: return "timeout";
    case Errc::failed: return "failed";
    case Errc::interrupted: return "interrupted";
    }
    return "failed";
}

/// An error says what failed, on which object, and what to do about it.
struct Error {
    Errc code = Errc::failed;
    std::string what;   ///< what failed, in one sentence
    std::string object; ///< the object it concerns ("vbd-1-51712", a path); may be empty
    std::string hint;   ///< what the operator can do; may be empty

    /// "object: what (hint)" as one line.
    std::string message() const {
        std::string m = object.empty() ? what : object + ": " + what;
        if (!hint.empty()) m += " (" + hint + ")";
        return m;
    }
};

template <typename T> using Result = std::expected<T, Error>;

/// Builds an unexpected Error in one expression: `return fail(Errc::io, "...")`.
inline std::unexpected<Error> fail(Errc code, std::string what, std::string object = {},
                                   std::string hint = {}) {
    return std::unexpected(Error{code, std::move(what), std::move(object), std::move(hint)});
}

} // namespace vbd
