#!/bin/bash
# Builds the Debian packages with CPack, checks their metadata and contents, unpacks them
# with dpkg -x into a scratch root and runs the tool from there.
# Usage: deb.sh CPACK BUILD_DIR WORK_DIR VERSION
set -euo pipefail
cpack=$1 build=$2 work=$3 version=$4

rm -rf "$work"
mkdir -p "$work"
fail() { echo "deb: FAIL: $*" >&2; exit 1; }

(cd "$build" && "$cpack" -G DEB -B "$work/out") >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log" >&2; fail "cpack -G DEB"; }
arch=$(dpkg --print-architecture)
deb=$work/out/vbdctl_${version}-1_${arch}.deb
dev=$work/out/libvbdctl-dev_${version}-1_${arch}.deb
[[ -f $deb ]] || fail "no $deb: $(ls "$work/out")"
[[ -f $dev ]] || fail "no $dev: $(ls "$work/out")"

depends=$(dpkg-deb -f "$deb" Depends)
echo "vbdctl Depends: $depends"
for lib in libc6 libstdc++6 libxenstore4 libxengnttab1 libxentoollog1 libkmod2; do
    [[ ", $depends," == *", $lib "* || ", $depends," == *", $lib,"* ]] || fail "Depends lacks $lib"
done
# libxenlight's package is named after the Xen release (Debian 12: libxenmisc4.17).
[[ $depends == *libxenmisc* || $depends == *libxenlight* ]] || fail "Depends lacks libxenlight's package"
dev_depends=$(dpkg-deb -f "$dev" Depends)
echo "libvbdctl-dev Depends: $dev_depends"
[[ $dev_depends == *"vbdctl (= ${version}-1)"* ]] || fail "libvbdctl-dev does not depend on vbdctl (= ${version}-1)"

dpkg-deb -c "$deb" >"$work/vbdctl.contents"
dpkg-deb -c "$dev" >"$work/dev.contents"
has() { grep -qE "$2" "$work/$1.contents" || fail "$1 package lacks $2"; }
lacks() { ! grep -qE "$2" "$work/$1.contents" || fail "$1 package should not hold $2"; }
has vbdctl ' \./usr/bin/vbdctl$'
has vbdctl '/libvbdctl\.so\.0 -> '
has vbdctl '/libvbdctl\.so\.0\.1\.0$'
has vbdctl '/bash-completion/completions/vbdctl$'
has vbdctl '/zsh/vendor-completions/_vbdctl$'
lacks vbdctl '/include/'
has dev ' \./usr/include/vbdctl/types\.hpp$'
has dev '/libvbdctl\.so -> '
has dev '/pkgconfig/libvbdctl\.pc$'
has dev '/cmake/vbdctl/vbdctlConfig\.cmake$'
has dev '/cmake/vbdctl/vbdctlTargets\.cmake$'
lacks dev 'usr/bin/'
if grep -q '^SCDOC_EXECUTABLE:FILEPATH=/' "$build/CMakeCache.txt"; then
    has vbdctl '/share/man/man8/vbdctl\.8'
fi

root=$work/root
dpkg -x "$deb" "$root"
dpkg -x "$dev" "$root"
grep -qx 'prefix=/usr' "$(find "$root" -name libvbdctl.pc)" || fail "libvbdctl.pc prefix is not /usr"
so=$(find "$root" -name 'libvbdctl.so.0' | head -n1)
libdir=$(dirname "$so")
export LD_LIBRARY_PATH=$libdir
out=$("$root/usr/bin/vbdctl" --version)
[[ $out == "vbdctl $version" ]] || fail "vbdctl --version says '$out'"
echo "$out"
list=$("$root/usr/bin/vbdctl" --host sim list) || fail "vbdctl --host sim list exited $?"
echo "$list"
[[ $(grep -c '^[0-9]' <<<"$list") == 6 ]] || fail "expected 6 vbds in the default simulated world"
# The packaged tool must use the packaged library, not the build tree's.
deps=$(ldd "$root/usr/bin/vbdctl") # not piped into grep -q: SIGPIPE + pipefail
[[ $deps == *"$libdir/libvbdctl.so.0"* ]] || fail "vbdctl does not load $libdir/libvbdctl.so.0"
echo "deb: ok"
