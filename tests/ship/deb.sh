#!/bin/bash
# Checks the Debian packages scripts/build-deb made: names, sections, multiarch paths,
# copyright and changelog, Depends (libvbdctl0 exactly; Xen's libraries by release, never
# by security update), the metrics service and timer (shipped, neither enabled nor started),
# that apt could install them here, and that the unpacked tool runs with the unpacked library.
# Usage: deb.sh DEB_DIR VERSION WORK_DIR
set -euo pipefail
dir=$(realpath "$1") version=$2 work=$3
fail() { echo "deb: FAIL: $*" >&2; exit 1; }

arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for p in vbdctl libvbdctl0 libvbdctl-dev; do
    [[ -f $dir/${p}_${version}-1_${arch}.deb ]] || fail "no ${p}_${version}-1_${arch}.deb in $dir: $(ls "$dir")"
done
deb() { echo "$dir/${1}_${version}-1_${arch}.deb"; }
field() { dpkg-deb -f "$(deb "$1")" "$2"; }

[[ $(field vbdctl Section) == admin ]] || fail "vbdctl is not in admin"
[[ $(field libvbdctl0 Section) == libs ]] || fail "libvbdctl0 is not in libs"
[[ $(field libvbdctl0 Multi-Arch) == same ]] || fail "libvbdctl0 is not Multi-Arch: same"

tool=$(field vbdctl Depends) lib=$(field libvbdctl0 Depends) dev=$(field libvbdctl-dev Depends)
printf 'vbdctl Depends: %s\nlibvbdctl0 Depends: %s\nlibvbdctl-dev Depends: %s\n' "$tool" "$lib" "$dev"
[[ $tool == *"libvbdctl0 (= ${version}-1)"* ]] || fail "vbdctl does not depend on exactly its libvbdctl0"
[[ $dev == *"libvbdctl0 (= ${version}-1)"* ]] || fail "libvbdctl-dev does not depend on exactly its libvbdctl0"
for l in libxenstore4 libxengnttab1 libxentoollog1 libkmod2 libudev1 libstdc++6; do
    [[ ", $lib," == *", $l "* || ", $lib," == *", $l,"* ]] || fail "libvbdctl0 Depends lacks $l"
done
# libxenlight's package is named after the Xen release (Debian 12: libxenmisc4.17).
[[ $lib =~ libxen(misc|light)[0-9.]* ]] || fail "libvbdctl0 Depends lacks libxenlight's package"
# Xen's shlibs name the exact build (4.17.7+13-g2445b30a44): the packages ask for the release.
while read -r dep; do
    [[ $dep =~ ^libxen[a-z0-9.]+\ \(\>=\ [0-9]+\.[0-9]+\)$ ]] || fail "'$dep' asks for more than the Xen release"
done < <(tr ',' '\n' <<<"$lib" | sed 's/^ *//' | grep '^libxen')

contents() { dpkg-deb -c "$(deb "$1")" | awk '{print $6}'; }
has() { contents "$1" | grep -qxE "$2" || fail "$1 lacks $2"; }
lacks() { ! contents "$1" | grep -qE "$2" || fail "$1 should not hold $2"; }
for p in vbdctl libvbdctl0 libvbdctl-dev; do
    has $p "\./usr/share/doc/$p/copyright"
    has $p "\./usr/share/doc/$p/changelog\.Debian\.gz"
done
has vbdctl '\./usr/bin/vbdctl'
has vbdctl '\./usr/share/man/man8/vbdctl\.8\.gz'
has vbdctl '\./usr/share/bash-completion/completions/vbdctl'
has vbdctl '\./usr/share/zsh/vendor-completions/_vbdctl'
has vbdctl '\./usr/share/vbdctl/vbdctl\.schema\.json'
lacks vbdctl 'libvbdctl\.so'
# debhelper puts units in /lib (Debian 12) or /usr/lib (13) and never enables them by a link.
has vbdctl '\./(usr/)?lib/systemd/system/vbdctl-metrics\.service'
has vbdctl '\./(usr/)?lib/systemd/system/vbdctl-metrics\.timer'
lacks vbdctl '/etc/systemd/|\.wants/'
scripts=$work.control
rm -rf "$scripts"
dpkg-deb -e "$(deb vbdctl)" "$scripts"
grep -q "'vbdctl-metrics.timer'" "$scripts/postinst" || fail "vbdctl's postinst does not know vbdctl-metrics.timer"
# dh_installsystemd --no-enable keeps only a was-enabled guard (an upgrade keeps what the
# admin chose); its enabling snippet says "new installations run enable".
if grep -q 'new installations run enable' "$scripts/postinst"; then fail "vbdctl's postinst enables vbdctl-metrics"; fi
# --no-start: no deb-systemd-invoke at all (start, or $_dh_action on upgrade).
if grep -q 'deb-systemd-invoke' "$scripts/postinst"; then fail "vbdctl's postinst starts or restarts a unit"; fi
rm -rf "$scripts"
has libvbdctl0 "\./usr/lib/$multiarch/libvbdctl\.so\.${version}"
has libvbdctl0 "\./usr/lib/$multiarch/vbdctl/local\.so"
lacks libvbdctl0 '/include/|/libvbdctl\.so$|pkgconfig'
has libvbdctl-dev '\./usr/include/vbdctl/types\.hpp'
has libvbdctl-dev "\./usr/lib/$multiarch/pkgconfig/libvbdctl\.pc"
has libvbdctl-dev "\./usr/lib/$multiarch/cmake/vbdctl/vbdctlConfig\.cmake"
lacks libvbdctl-dev 'usr/bin/'

# apt resolves every Depends from this machine's own packages (simulated: nothing changes).
apt-get install --simulate "$(deb vbdctl)" "$(deb libvbdctl0)" "$(deb libvbdctl-dev)" >"$work.apt.log" 2>&1 ||
    { cat "$work.apt.log" >&2; fail "apt cannot install the packages here"; }

rm -rf "$work"
for p in vbdctl libvbdctl0 libvbdctl-dev; do dpkg -x "$(deb $p)" "$work"; done
libdir=$work/usr/lib/$multiarch
units=$(dirname "$(find "$work" -name vbdctl-metrics.service)")
grep -qx 'ExecStart=/usr/bin/vbdctl --quiet metrics --textfile /var/lib/prometheus/node-exporter' \
    "$units/vbdctl-metrics.service" || fail "vbdctl-metrics.service does not run /usr/bin/vbdctl metrics --textfile"
grep -qx 'Type=oneshot' "$units/vbdctl-metrics.service" || fail "vbdctl-metrics.service is not Type=oneshot"
grep -qx 'OnUnitActiveSec=30s' "$units/vbdctl-metrics.timer" || fail "vbdctl-metrics.timer is not every 30 s"
if command -v systemd-analyze >/dev/null; then
    # systemd's own check, in a root of the package beside this machine's units.
    mkdir -p "$work/etc/systemd/system" "$work/lib/systemd/system"
    cp -an /lib/systemd/system/. "$work/lib/systemd/system/"
    # It exits 0 on an unknown key, only saying so: anything it says is a failure.
    said=$(systemd-analyze verify --man=no --root="$work" "$units"/vbdctl-metrics.{service,timer} 2>&1) &&
        [[ -z $said ]] || fail "systemd-analyze verify on the vbdctl-metrics units: $said"
else
    echo "deb: systemd-analyze not found: the units' syntax is not verified"
fi
grep -qx 'prefix=/usr' "$libdir/pkgconfig/libvbdctl.pc" || fail "libvbdctl.pc prefix is not /usr"
export LD_LIBRARY_PATH=$libdir
out=$("$work/usr/bin/vbdctl" --version)
[[ $out == "vbdctl $version" ]] || fail "vbdctl --version says '$out'"
list=$("$work/usr/bin/vbdctl" --host sim list) || fail "vbdctl --host sim list exited $?"
[[ $(grep -c '^[0-9]' <<<"$list") == 6 ]] || fail "expected 6 vbds in the default simulated world"
# The packaged tool must use the packaged library, not a build tree's.
deps=$(ldd "$work/usr/bin/vbdctl") # not piped into grep -q: SIGPIPE + pipefail
[[ $deps == *"$libdir/libvbdctl.so.0"* ]] || fail "vbdctl does not load $libdir/libvbdctl.so.0"
# --host local loads the adapters module next to the packaged library; on a machine that is
# not Xen, that module is what says so.
local=$("$work/usr/bin/vbdctl" list 2>&1) && fail "vbdctl list on a machine without Xen exited 0"
[[ $local == *"not a Xen backend domain"* ]] || fail "vbdctl list (--host local) said: $local"
# The heavy libraries are parts, loaded on first use: opening the host (all a listing needs
# of local.so) maps none of them, nor libxenlight, libkmod, libsystemd or libudev.
dbg=$(LD_DEBUG=files "$work/usr/bin/vbdctl" list 2>&1) && fail "vbdctl list on a machine without Xen exited 0"
loaded=$(grep -o 'file=[^ ]*' <<<"$dbg" | sort -u)
[[ $loaded == *vbdctl/local.so* ]] || fail "vbdctl list did not load local.so: $loaded"
for heavy in vbdctl/xenlight.so vbdctl/kmod.so vbdctl/journal.so vbdctl/udev.so libxenlight libkmod libsystemd libudev; do
  [[ $loaded != *"$heavy"* ]] || fail "vbdctl list loaded $heavy before it needed it"
done
for part in xenlight kmod journal udev; do
  [[ -f $libdir/vbdctl/$part.so ]] || fail "no $libdir/vbdctl/$part.so in libvbdctl0"
done
# Without the module, --host local says what is missing; --host sim never needed it.
rm "$libdir/vbdctl/local.so"
local=$("$work/usr/bin/vbdctl" list 2>&1) && fail "vbdctl list without its adapters module exited 0"
[[ $local == *"cannot load the real host's adapters"*"vbdctl/local.so"* ]] ||
    fail "vbdctl list without its adapters module said: $local"
"$work/usr/bin/vbdctl" --host sim list >/dev/null || fail "vbdctl --host sim list needs the adapters module"
echo "deb: ok ($out)"
