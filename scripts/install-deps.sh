#!/usr/bin/env bash
# Installs what Sandbox Portal needs on a Debian machine, skipping what is already there.
# Safe to run again. Needs root (or sudo) for apt and for creating the sandbox user.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

# Debian packages: node/npm for the E2B SDK suites, debootstrap for the local
# runtime, procps/util-linux for process tooling, ncurses-bin for `tput` in PTY tests,
# e2fsprogs for mkfs.ext4 (each local sandbox's disk is an ext4 image).
need=()
for pkg in ca-certificates curl git procps util-linux ncurses-bin debootstrap iproute2 sudo e2fsprogs; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
# clang: the NativeAOT envd and the local runtime's C launcher (portal-sandbox-init).
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
# chromium: the dashboard's browser tests (Playwright for .NET drives Debian's Chromium).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# kubectl builds manifests/ (kubectl kustomize, offline) in the manifests tests. Debian ships it
# as kubernetes-client, but only 1.20, whose kustomize (v2) cannot build these manifests; the
# Kubernetes release mirror is not reachable from CI. The tests need kubectl >= 1.27 and skip,
# saying so, with anything older or none.
if ! command -v kubectl >/dev/null 2>&1; then
  log "installing kubectl from Debian's packages (kubernetes-client)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null \
    || log "kubectl could not be installed: the manifests tests will be skipped"
fi

if ! command -v dotnet >/dev/null 2>&1; then
  log "installing the .NET 10 SDK from Debian's packages"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dotnet-sdk-10.0 >/dev/null
fi

# The default sandbox user, as in E2B's base image: uid 1000, home /home/user.
# envd acts as this user when it runs on the host (debug mode, tests).
if ! getent passwd user >/dev/null; then
  log "creating user 'user' (uid 1000)"
  if getent passwd 1000 >/dev/null; then
    $SUDO useradd --create-home --home-dir /home/user --shell /bin/bash user
  else
    $SUDO useradd --create-home --home-dir /home/user --shell /bin/bash --uid 1000 user
  fi
fi
[ -d /home/user ] || { $SUDO mkdir -p /home/user && $SUDO chown user:user /home/user; }

if [ ! -d e2e/node_modules/e2b ] || [ ! -d e2e/node_modules/axe-core ] || [ ! -d e2e/node_modules/@e2b/code-interpreter ]; then
  log "installing the e2e suites' npm packages"
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
