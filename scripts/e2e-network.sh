#!/usr/bin/env bash
# The networking suites (e2e/network) with the real E2B SDK against a real portal whose sandboxes'
# only way out is a fake internet on this machine (scripts/fake-internet.sh: a network namespace on
# documentation addresses, reached by policy routing on the sandbox pool only). Removes every
# namespace, link, rule, route and nftables table it made, also on failure, and checks that what
# it may touch in `ip netns`, `ip link`, `ip rule` and `nft list tables` is as it was. TAP report to $1.
set -uo pipefail
cd "$(dirname "$0")/.."
TAP="${1:-artifacts/test-results/e2e-network.tap}"
mkdir -p "$(dirname "$TAP")"
TAP_ABS="$(realpath "$TAP")"
command -v nft >/dev/null || { echo "e2e-network: nft missing (scripts/install-deps.sh installs nftables)"; exit 1; }

TAG="pfi$(( $$ % 100000 ))"
# A pool no other portal on this machine uses by default; a table named for the run.
POOL="10.251.$(( $$ % 64 * 4 )).0/22"
TABLE="portal_e2e_$TAG"
# What this run may touch (other engineers' work on the machine may change the rest meanwhile).
snapshot() {
  { ip netns list; ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1; ip -o -4 addr show to "$POOL" | awk '{print $2, $4}';
    ip rule show; nft list tables; } | grep -E "$TAG|$TABLE|10\.251\.|lookup 2[0-9]{4}" | sort
}
BEFORE=$(snapshot)
STATE=$(mktemp -d /tmp/portal-e2e-net-XXXXXX)

cleanup() {
  bash scripts/fake-internet.sh down "$TAG" "$POOL" "$STATE"
  nft delete table inet "$TABLE" 2>/dev/null
  # Sandbox veths the portal could not remove (a crash): their host ends carry pool addresses.
  for l in $(ip -o -4 addr show to "$POOL" | awk '{print $2}' | sort -u); do ip link del "$l" 2>/dev/null; done
  rm -rf "$STATE"
  AFTER=$(snapshot)
  if [ "$BEFORE" != "$AFTER" ]; then
    echo "e2e-network: the host's network state differs from before the run:"; diff <(echo "$BEFORE") <(echo "$AFTER")
    exit 1
  fi
}
trap cleanup EXIT

OUT=$(bash scripts/fake-internet.sh up "$TAG" "$POOL" "$STATE") || { echo "e2e-network: fake internet did not come up: $OUT"; exit 1; }
eval "$OUT"
export PORTAL_NETWORK_UPLINK="$UPLINK"
export PORTAL_EXTRA_ARGS="--Portal:LocalRuntime:Network:AddressPool $POOL --Portal:LocalRuntime:Network:DnsServers:0 $DNS --Portal:LocalRuntime:Network:TableName $TABLE"
export PORTAL_E2E_NET_TABLE="$TABLE" PORTAL_E2E_NET_POOL="$POOL"
E2E_PORTAL_TESTS="${E2E_NETWORK_TESTS:-network/}" bash scripts/e2e-portal.sh "$TAP_ABS"
