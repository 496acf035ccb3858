#!/bin/bash
# Installs the build tree into a scratch prefix, checks what landed where, then configures,
# builds and runs tests/ship/consumer against that prefix: once through pkg-config
# (libvbdctl.pc), once through find_package(vbdctl).
# Usage: install_consumer.sh CMAKE BUILD_DIR CONSUMER_SRC WORK_DIR CXX MAKE_PROGRAM GENERATOR
set -euo pipefail
cmake=$1 build=$2 consumer=$3 work=$4 cxx=$5 make_program=$6 generator=$7

rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
fail() { echo "install_consumer: FAIL: $*" >&2; exit 1; }

"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "cmake --install"; }

need() { [[ -e $prefix/$1 ]] || fail "not installed: $1"; }
need bin/vbdctl
need include/vbdctl/types.hpp
need include/vbdctl/error.hpp
need share/zsh/vendor-completions/_vbdctl
[[ -n $(find "$prefix/share" -path '*bash-completion/completions/vbdctl') ]] || fail "no bash completion"
if grep -q '^SCDOC_EXECUTABLE:FILEPATH=/' "$build/CMakeCache.txt"; then
    need share/man/man8/vbdctl.8
fi
so=$(find "$prefix" -name 'libvbdctl.so.0' | head -n1)
[[ -n $so ]] || fail "no libvbdctl.so.0"
libdir=$(dirname "$so")
[[ -L $libdir/libvbdctl.so ]] || fail "no libvbdctl.so development symlink"
pc=$libdir/pkgconfig/libvbdctl.pc
[[ -f $pc ]] || fail "no $pc"
[[ -f $libdir/cmake/vbdctl/vbdctlConfig.cmake ]] || fail "no vbdctlConfig.cmake"
[[ -f $libdir/cmake/vbdctl/vbdctlConfigVersion.cmake ]] || fail "no vbdctlConfigVersion.cmake"
grep -qx "prefix=$prefix" "$pc" || fail "libvbdctl.pc does not name the install prefix: $(grep ^prefix= "$pc")"
# The Xen libraries and libkmod are the adapters module's: the library and its users need none.
[[ -f $libdir/vbdctl/local.so ]] || fail "no $libdir/vbdctl/local.so (the real host's adapters)"
! grep -q '^Requires' "$pc" || fail "libvbdctl.pc requires packages: $(grep '^Requires' "$pc")"
sodeps=$(ldd "$so")
[[ $sodeps != *libxen* && $sodeps != *libkmod* ]] || fail "libvbdctl.so.0 links Xen or kmod libraries: $sodeps"

version=$(LD_LIBRARY_PATH=$libdir "$prefix/bin/vbdctl" --version)
[[ $version == "vbdctl 0.1.0" ]] || fail "installed vbdctl --version says '$version'"
local=$(LD_LIBRARY_PATH=$libdir "$prefix/bin/vbdctl" list 2>&1) && fail "vbdctl list without Xen exited 0"
[[ $local == *"not a Xen backend domain"* ]] || fail "installed vbdctl list (--host local) said: $local"
echo "installed into $prefix ($version)"

export PKG_CONFIG_PATH=$libdir/pkgconfig
[[ $(pkg-config --modversion libvbdctl) == 0.1.0 ]] || fail "pkg-config --modversion libvbdctl"
[[ $(pkg-config --cflags libvbdctl) == *"-I$prefix/include"* ]] || fail "pkg-config --cflags: $(pkg-config --cflags libvbdctl)"

for mode in pkg-config find_package; do
    dir=$work/consumer-$mode
    use_pc=OFF
    [[ $mode == pkg-config ]] && use_pc=ON
    # Only the scratch prefix: not the source tree, the build tree or a user package registry.
    "$cmake" -S "$consumer" -B "$dir" -G "$generator" -DCMAKE_MAKE_PROGRAM="$make_program" \
        -DCMAKE_CXX_COMPILER="$cxx" -DUSE_PKG_CONFIG=$use_pc -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Release >"$dir.log" 2>&1 ||
        { cat "$dir.log" >&2; fail "$mode: configure"; }
    grep -E 'vbdctl.* from ' "$dir.log"
    if [[ $mode == find_package ]]; then
        grep -q "from $libdir/cmake/vbdctl" "$dir.log" || fail "find_package found another vbdctl"
    fi
    "$cmake" --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log" >&2; fail "$mode: build"; }
    out=$("$dir/consumer") || fail "$mode: consumer exited $?: $out"
    echo "$mode: $out"
done
echo "install_consumer: ok"
