# Sourced by scripts/build-deb and tests/lab/build-images. debian_mirrors sets DEBIAN_MIRROR
# (the archive) and DEBIAN_SECURITY_MIRROR from this machine's own apt configuration,
# deb822 (*.sources) or one-line (*.list), so that no mirror's host is written in the
# project. Status 1, saying so, when apt names no archive.
debian_mirrors() {
    local sources=(/etc/apt/sources.list.d/*.sources) lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    DEBIAN_MIRROR=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "${sources[@]}" 2>/dev/null)
    [ -n "$DEBIAN_MIRROR" ] ||
        DEBIAN_MIRROR=$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' "${lists[@]}" 2>/dev/null)
    DEBIAN_SECURITY_MIRROR=$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' "${sources[@]}" 2>/dev/null)
    [ -n "$DEBIAN_SECURITY_MIRROR" ] ||
        DEBIAN_SECURITY_MIRROR=$(awk '$1 == "deb" && $2 ~ /security/ {print $2; exit}' "${lists[@]}" 2>/dev/null)
    [ -n "$DEBIAN_MIRROR" ] || { echo "cannot find the Debian mirror in the apt configuration" >&2; return 1; }
    [ -n "$DEBIAN_SECURITY_MIRROR" ] || DEBIAN_SECURITY_MIRROR=${DEBIAN_MIRROR%/debian}/debian-security
}
