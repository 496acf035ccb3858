#!/usr/bin/env bash
# Installs what building and testing vbdctl needs on Debian 12 (run as root). Idempotent.
# prometheus is there for its promtool (tests/cli/test_metrics.py); Debian 13 has promtool alone.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config libcli11-dev nlohmann-json3-dev doctest-dev
      libxen-dev libkmod-dev liblzma-dev libzstd-dev libsystemd-dev libudev-dev python3 clang libclang-rt-14-dev scdoc bash-completion dpkg-dev file
      man-db zsh ansible-core python3-jsonschema prometheus)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
