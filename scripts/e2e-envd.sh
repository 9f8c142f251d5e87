#!/usr/bin/env bash
# Starts Portal.Envd on localhost:49983 (where the SDK's debug mode looks for it) and runs
# the e2e/envd suite with the real e2b SDK. Writes a TAP report to $1.
set -uo pipefail
cd "$(dirname "$0")/.."
TAP="${1:-artifacts/test-results/e2e-envd.tap}"
mkdir -p "$(dirname "$TAP")"
# The suite runs the published native file: what gets injected into sandboxes.
bash scripts/publish-envd.sh
ENVD_BIN="$(realpath artifacts/envd/portal-envd)"
export ENVD_BIN

# The SDK's debug mode fixes the port, so concurrent runs on one machine take turns.
exec 9>/tmp/portal-e2e-49983.lock
flock 9
if (exec 3<>/dev/tcp/127.0.0.1/49983) 2>/dev/null; then
  echo "port 49983 is already in use: stop the other envd first"; exit 1
fi
LOG=$(mktemp)
"$ENVD_BIN" --host 127.0.0.1 --port 49983 >"$LOG" 2>&1 &
ENVD_PID=$!
trap 'kill $ENVD_PID 2>/dev/null; wait $ENVD_PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null http://127.0.0.1:49983/health 2>/dev/null && break
  sleep 0.1
done

TAP_ABS="$(realpath "$TAP")"
(cd e2e && E2B_DEBUG=true node --test --test-concurrency=1 --test-timeout=120000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$TAP_ABS" envd/)
rc=$?
if [ $rc -ne 0 ]; then echo "--- envd log (tail) ---"; tail -n 50 "$LOG"; fi
exit $rc
