#!/usr/bin/env bash
# Builds vbdctl and runs every test: unit, simulator scenarios and CLI (ctest), the Debian
# packages (built with debhelper, checked by lintian and tests/ship/deb.sh; as root), the
# same tests under AddressSanitizer + UndefinedBehaviorSanitizer, and the fuzz targets for a
# bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== build and ctest"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== Debian packages: debhelper, lintian, then their contents and Depends"
if [[ $(id -u) == 0 ]]; then
    # ctest just ran on this tree with this compiler: the package build skips building and
    # running the tests again (a trixie build, scripts/build-deb --release trixie, runs them).
    DEB_BUILD_OPTIONS=nocheck scripts/build-deb --out build-deb/host
    version=$(sed -nE 's/^project\(vbdctl VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
    bash tests/ship/deb.sh build-deb/host "$version" build-deb/unpacked
else
    echo "skipped: scripts/build-deb needs root (apt)"
fi

echo "== ASan + UBSan: unit and simulator scenarios"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVBDCTL_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs" -L 'unit|cli')

echo "== libFuzzer targets (clang), bounded"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DVBDCTL_FUZZ=ON \
    -DVBDCTL_FUZZ_SECONDS="${VBDCTL_FUZZ_SECONDS:-15}" >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz
(cd build-fuzz && ctest --output-on-failure -L fuzz)
