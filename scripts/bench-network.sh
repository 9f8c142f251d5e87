#!/usr/bin/env bash
# Networking benchmark (docs/benchmarks.md): builds the fake internet (scripts/fake-internet.sh,
# documentation addresses in a namespace of its own, reached only from the sandbox pool), starts
# iperf3 there, runs `Portal.Bench network`, and removes everything again.
set -uo pipefail
cd "$(dirname "$0")/.."
TAG="pfb$(( $$ % 100000 ))"
POOL="10.252.0.0/20"
STATE=$(mktemp -d /tmp/portal-bench-net-XXXXXX)
cleanup() {
  [ -f "$STATE/iperf.pid" ] && kill "$(cat "$STATE/iperf.pid")" 2>/dev/null
  bash scripts/fake-internet.sh down "$TAG" "$POOL" "$STATE"
  for t in warmnet coldnet rules; do nft delete table inet "portal_netbench_$t" 2>/dev/null; done
  for l in $(ip -o -4 addr show to "$POOL" | awk '{print $2}' | sort -u); do ip link del "$l" 2>/dev/null; done
  rm -rf "$STATE"
}
trap cleanup EXIT
bash scripts/publish-envd.sh >/dev/null
eval "$(bash scripts/fake-internet.sh up "$TAG" "$POOL" "$STATE")"
ip netns exec "$TAG" iperf3 -s -B 198.51.100.2 -D -I "$STATE/iperf.pid"
sleep 0.5
dotnet run -c Release --project Portal.Bench -- network --uplink "$UPLINK" --pool "$POOL" --dns "$DNS" --iperf 198.51.100.2 "$@"
