#!/usr/bin/env bash
# A fake "internet" for the networking tests, on this machine only:
#   fake-internet.sh up NAME POOL STATE_DIR   (prints KEY=VALUE lines: UPLINK, DNS)
#   fake-internet.sh down NAME POOL STATE_DIR
# builds network namespace NAME holding documentation addresses (192.0.2.10, 192.0.2.20,
# 203.0.113.30 with HTTP 80, TLS 443, TCP echo 7000; DNS on 203.0.113.53), a veth into it whose
# host end is the portal's uplink (198.51.100.1/30), and policy routing so that only traffic FROM
# the sandbox pool POOL goes there. The host's own default route is never used. `down` removes
# all of it (idempotent; also what `up` does first for leftovers of the same NAME).
set -uo pipefail
cmd=$1 NAME=$2 POOL=$3 STATE=$4
HOSTIF="${NAME}h" NSIF="${NAME}n"
# A routing table and rule priority of our own, derived from the name (stable for `down`).
N=$(( $(printf '%s' "$NAME" | cksum | cut -d' ' -f1) % 500 ))
TABLE=$(( 20000 + N )) PREF=$(( 20000 + 2 * N ))

down() {
  [ -f "$STATE/fake-internet.pid" ] && kill "$(cat "$STATE/fake-internet.pid")" 2>/dev/null
  while ip rule del pref $PREF 2>/dev/null; do :; done
  while ip rule del pref $((PREF + 1)) 2>/dev/null; do :; done
  ip route flush table $TABLE 2>/dev/null
  ip link del "$HOSTIF" 2>/dev/null
  ip netns del "$NAME" 2>/dev/null
  return 0
}

if [ "$cmd" = down ]; then down; exit 0; fi
[ "$cmd" = up ] || { echo "usage: $0 up|down NAME POOL STATE_DIR" >&2; exit 2; }
[ ${#HOSTIF} -le 15 ] || { echo "NAME too long" >&2; exit 2; }
down
set -e
mkdir -p "$STATE"
ip netns add "$NAME"
ip link add "$HOSTIF" type veth peer name "$NSIF" netns "$NAME"
ip addr add 198.51.100.1/30 dev "$HOSTIF"
ip link set "$HOSTIF" up
ip -n "$NAME" link set lo up
ip -n "$NAME" addr add 198.51.100.2/30 dev "$NSIF"
ip -n "$NAME" link set "$NSIF" up
for a in 192.0.2.10 192.0.2.20 203.0.113.30 203.0.113.53; do ip -n "$NAME" addr add $a/32 dev lo; done
ip route add default via 198.51.100.2 dev "$HOSTIF" table $TABLE
# Host -> sandbox stays in the main table; sandbox (and what the portal sends on its behalf) -> fake internet.
ip rule add to "$POOL" lookup main pref $PREF
ip rule add from "$POOL" lookup $TABLE pref $((PREF + 1))
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=example.test" \
  -addext "subjectAltName=DNS:example.test,DNS:*.example.test,DNS:*.api.example.test,DNS:other.test,DNS:*.other.test,DNS:third.test" \
  -keyout "$STATE/fake.key" -out "$STATE/fake.crt" 2>/dev/null
ip netns exec "$NAME" node "$(dirname "$0")/../e2e/network/fake-internet.mjs" "$STATE/fake.crt" "$STATE/fake.key" >"$STATE/fake-internet.log" 2>&1 &
echo $! >"$STATE/fake-internet.pid"
for _ in $(seq 1 100); do grep -q "fake internet up" "$STATE/fake-internet.log" 2>/dev/null && break; sleep 0.1; done
grep -q "fake internet up" "$STATE/fake-internet.log" || { cat "$STATE/fake-internet.log" >&2; down; exit 1; }
echo "UPLINK=$HOSTIF"
echo "DNS=203.0.113.53"
