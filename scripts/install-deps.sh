#!/usr/bin/env bash
# Installs what building, running and testing mio-daemon need on a fresh
# Debian machine, and only what is missing. Swift itself is expected at
# /opt/swift (or on PATH); it is not a Debian package.
set -euo pipefail

missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
# libc6-dev and binutils: libmio-client's static link test (libc.a) and readelf;
# librust-mio-dev: the Rust client builds offline against Debian's crates.
for pkg in libjson-c-dev pkg-config socat gcc libc6-dev binutils make python3 systemd iproute2 procps util-linux \
           librust-mio-dev; do
  have_pkg "$pkg" || missing+=("$pkg")
done
# The Rust client (clients/rust) builds offline against Debian's crates
# (librust-mio-dev brings librust-libc-dev and librust-log-dev) with any
# cargo: rustup's if the machine has one, else Debian's (rustc 1.63 is enough).
if ! command -v cargo >/dev/null && [ ! -x "${HOME:-/root}/.cargo/bin/cargo" ]; then
  have_pkg cargo || missing+=(cargo)
fi
# Tests/python_client/test_pip_install.py makes a venv; Debian's own Python
# needs python3-venv for that (other Pythons bring ensurepip along).
if [ "$(python3 -c 'import sys; print(sys.prefix)' 2>/dev/null)" = /usr ] && ! have_pkg python3-venv; then
  missing+=(python3-venv)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Tests/real_systemd boots this machine's systemd in a systemd-nspawn
# container, as root only. systemd-container must match the installed
# systemd's exact version, so that installing it upgrades nothing else.
if [ "$(id -u)" -eq 0 ] && ! command -v systemd-nspawn >/dev/null && have_pkg systemd; then
  systemd_version=$(dpkg-query -W -f='${Version}' systemd)
  echo "install-deps: installing systemd-container=$systemd_version"
  install_nspawn() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "systemd-container=$systemd_version" >/dev/null; }
  install_nspawn || { apt-get update -qq && install_nspawn; } ||
    echo "install-deps: systemd-container=$systemd_version is not installable; Tests/real_systemd will be skipped" >&2
fi

# pytest drives the integration tests; take it from the Python we run.
if ! python3 -c 'import pytest' 2>/dev/null; then
  echo "install-deps: installing pytest"
  python3 -m pip install -q pytest 2>/dev/null || {
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pytest >/dev/null
  }
fi

# The same test builds clients/python offline (no build isolation): it needs
# setuptools, and wheel while setuptools is older than 70.1.
if ! python3 -c 'import setuptools, wheel' 2>/dev/null; then
  echo "install-deps: installing setuptools and wheel"
  python3 -m pip install -q setuptools wheel 2>/dev/null || {
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-setuptools python3-wheel >/dev/null
  }
fi

if ! command -v swift >/dev/null && [ ! -x /opt/swift/usr/bin/swift ]; then
  echo "install-deps: Swift 6 is needed (expected at /opt/swift/usr/bin/swift or on PATH)" >&2
  exit 1
fi
