#!/usr/bin/env bash
# Starts the real portal (local runtime) on a free loopback port and runs a benchmark against it
# with the real E2B SDK:
#   scripts/bench-portal.sh            e2e/bench/portal.mjs: create → first command, round trips
#   scripts/bench-portal.sh compare REV [ROUNDS]
#                                      the same, against the portal built from git revision REV and
#                                      the working tree's, alternated ROUNDS (default 4) times in one
#                                      run (BENCH_N creates per turn, default 10); samples pooled per side
#   scripts/bench-portal.sh code-interpreter
#                                      e2e/bench/code-interpreter.mjs (@e2b/code-interpreter): create →
#                                      first runCode, runCode round trip and the portal's share, 10 MB stdout
#   scripts/bench-portal.sh snapshot   e2e/bench/snapshot.mjs: createSnapshot of a sandbox with 100 MB of
#                                      changed files, create from it, fork ×3 (BENCH_N rounds, default 5; BENCH_MB)
#   scripts/bench-portal.sh burst [N]  e2e/bench/burst.mjs: N (default 100) concurrent creates;
#                                      BENCH_WARM (default N) sets the base template's warm pool,
#                                      which is filled before the burst starts; BENCH_IDLE_SECONDS=S
#                                      then measures the portal's and the machine's CPU with all N idle; BENCH_CHUNK=C creates C at a time
#   scripts/bench-portal.sh templates  e2e/bench/templates.mjs: a template rebuild with every step
#                                      cached, and cold creates (no warm pool) from a built template vs base
# Everything it made is killed and checked gone at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-create}
N=${2:-100}
WARM=${BENCH_WARM:-2}
[ "$MODE" = burst ] && WARM=${BENCH_WARM:-$N}
[ "$MODE" = templates ] && WARM=0
dotnet build Portal.Web -c Release -nologo -v q -clp:ErrorsOnly
bash scripts/publish-envd.sh >/dev/null
bash scripts/build-template.sh base >/dev/null
[ "$MODE" = code-interpreter ] && bash scripts/build-code-interpreter-template.sh >/dev/null
# The code-interpreter template may share the templates directory: its warm sandbox (a kernel)
# only where it is measured, never beside the other benchmarks.
CI_WARM=0
[ "$MODE" = code-interpreter ] && CI_WARM=1
# start_portal DLL WARM: a portal on a free loopback port with its own data dir and cgroup group.
start_portal() {
  PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  DATA=$(mktemp -d /tmp/portal-bench-XXXXXX)
  KEY="e2b_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  GROUP="portal-bench-$PORT"
  PORTAL_DATA_DIR="$DATA" PORTAL_ADMIN_API_KEY="$KEY" PORTAL_ENVD_PATH="$(realpath artifacts/envd/portal-envd)" \
    PORTAL_TEMPLATES_DIR="${PORTAL_TEMPLATES_DIR:-/var/lib/sandbox-portal/templates}" \
    Logging__LogLevel__Default=Warning PORTAL_NETWORK_UPLINK="${PORTAL_NETWORK_UPLINK:-none}" \
    dotnet "$1" --urls "http://127.0.0.1:$PORT" \
    --Portal:LocalRuntime:CgroupGroup "$GROUP" --Portal:LocalRuntime:WarmPools:base "$2" \
    --Portal:LocalRuntime:WarmPools:code-interpreter "$CI_WARM" >"$DATA/portal.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break; sleep 0.1; done
}
stop_portal() {
  [ -n "${PID:-}" ] || return 0
  kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true
  # A graceful stop kills the warm pool; the benchmark killed the rest. Anything left is a bug
  # (or a benchmark that died half-way): its processes are killed and its overlays unmounted
  # here, never deleted through a live mount.
  # Sandboxes are directories (the networking's shared resolv.conf is a file beside them).
  left=$(find "$DATA/sandboxes" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)
  cgroups=$(find /sys/fs/cgroup -mindepth 2 -maxdepth 3 -type d -path "*/$GROUP/*" 2>/dev/null | wc -l)
  echo "after shutdown: $left sandbox directories, $cgroups cgroups left"
  if [ "$left" -gt 0 ] || [ "$cgroups" -gt 0 ]; then
    tail -20 "$DATA/portal.log"
    for _ in 1 2 3 4 5; do
      pids=$(cat /sys/fs/cgroup/*/"$GROUP"/*/cgroup.procs /sys/fs/cgroup/*/*/"$GROUP"/*/cgroup.procs 2>/dev/null | sort -u)
      [ -z "$pids" ] && break
      kill -9 $pids 2>/dev/null; sleep 1
    done
    { grep -F "$DATA/sandboxes/" /proc/self/mountinfo || true; } | awk '{print $5}' | while read -r m; do umount -l "$m"; done
    find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -depth -type d -path "*/$GROUP/*" -exec rmdir {} \; 2>/dev/null || true
  fi
  grep -qF "$DATA/sandboxes/" /proc/self/mountinfo || rm -rf "$DATA"
  PID=
}
OLD_TREE=
cleanup() {
  stop_portal
  if [ -n "$OLD_TREE" ]; then git worktree remove --force "$OLD_TREE" 2>/dev/null || rm -rf "$OLD_TREE"; fi
}
trap cleanup EXIT
NEW_DLL=Portal.Web/bin/Release/net10.0/Portal.Web.dll

if [ "$MODE" = compare ]; then
  REV=${2:?usage: bench-portal.sh compare REV [ROUNDS]}
  ROUNDS=${3:-4}
  OLD_TREE=$(mktemp -d /tmp/portal-bench-rev-XXXXXX)
  git worktree add -q --detach "$OLD_TREE" "$REV"
  echo "building $REV ($(git log -1 --format=%s "$REV" | cut -c1-70))"
  dotnet build "$OLD_TREE/Portal.Web" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
  SAMPLES=$(mktemp -d /tmp/portal-bench-samples-XXXXXX)
  for r in $(seq 1 "$ROUNDS"); do
    # Alternate which side goes first, so neither always runs on the warmer machine.
    if [ $((r % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
    for side in $order; do
      if [ "$side" = before ]; then dll="$OLD_TREE/$NEW_DLL"; else dll="$NEW_DLL"; fi
      start_portal "$dll" 2
      echo "round $r, $side:"
      (cd e2e && env -u E2B_DEBUG PORTAL_URL="http://127.0.0.1:$PORT" E2B_API_KEY="$KEY" BENCH_N="${BENCH_N:-10}" \
        BENCH_SAMPLES_OUT="$SAMPLES/$side-$r.json" node bench/portal.mjs) | sed 's/^/  /'
      stop_portal
    done
  done
  echo "pooled over $ROUNDS rounds ($REV = before, working tree = after):"
  node e2e/bench/pool-samples.mjs "$SAMPLES"
  rm -rf "$SAMPLES"
  exit 0
fi

start_portal "$NEW_DLL" "$WARM"
if [ "$MODE" = burst ]; then
  wait_pool() {
    local start; start=$(date +%s.%N)
    for _ in $(seq 1 1200); do
      [ "$(find "$DATA/sandboxes" -mindepth 3 -maxdepth 3 -path '*/warm*/run/envd.sock' 2>/dev/null | wc -l)" -ge "$WARM" ] && break; sleep 0.1
    done
    echo "warm pool of $WARM filled in $(echo "$(date +%s.%N) - $start" | bc) s"
    sleep 2 # let the pool's envds settle (idle trim) before measuring
  }
  burst() { (cd e2e && env -u E2B_DEBUG PORTAL_URL="http://127.0.0.1:$PORT" E2B_API_KEY="$KEY" BENCH_N="$1" BENCH_CHUNK="${BENCH_CHUNK:-$1}" PORTAL_PID=$PID BENCH_IDLE_SECONDS="${2:-0}" node bench/burst.mjs); }
  wait_pool
  # The portal's first creates pay for JIT compilation (API, store, runtime): a small burst first.
  echo "warm-up:"; burst 4 | sed 's/^/  /'
  wait_pool
  burst "$N" "${BENCH_IDLE_SECONDS:-0}"
elif [ "$MODE" = snapshot ]; then
  (cd e2e && env -u E2B_DEBUG PORTAL_URL="http://127.0.0.1:$PORT" E2B_API_KEY="$KEY" node bench/snapshot.mjs)
elif [ "$MODE" = templates ]; then
  (cd e2e && env -u E2B_DEBUG PORTAL_URL="http://127.0.0.1:$PORT" E2B_API_KEY="$KEY" BENCH_N="${BENCH_N:-10}" node bench/templates.mjs)
elif [ "$MODE" = code-interpreter ]; then
  (cd e2e && env -u E2B_DEBUG PORTAL_URL="http://127.0.0.1:$PORT" E2B_API_KEY="$KEY" PORTAL_DATA_DIR="$DATA" node bench/code-interpreter.mjs)
else
  (cd e2e && env -u E2B_DEBUG PORTAL_URL="http://127.0.0.1:$PORT" E2B_API_KEY="$KEY" node bench/portal.mjs)
fi
