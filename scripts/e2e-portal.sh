#!/usr/bin/env bash
# Starts the real portal (local runtime, real envd) on a free loopback port with a temp data
# dir and a seeded admin key (webhooks may target loopback: the suites' receivers listen there),
# runs the e2e/portal suites with the real e2b SDK in non-debug mode, stops the portal, and
# writes a TAP report to $1. E2E_PORTAL_TESTS picks test files (default: all of e2e/portal,
# e.g. E2E_PORTAL_TESTS=portal/ways-in.test.mjs). Sandboxes reach nothing outside unless the caller
# names an uplink (PORTAL_NETWORK_UPLINK; scripts/e2e-network.sh gives a fake one) and
# PORTAL_EXTRA_ARGS adds portal options.
set -uo pipefail
cd "$(dirname "$0")/.."
TAP="${1:-artifacts/test-results/e2e-portal.tap}"
mkdir -p "$(dirname "$TAP")"
TAP_ABS="$(realpath "$TAP")"
WEB_DLL=Portal.Web/bin/Release/net10.0/Portal.Web.dll
[ -f "$WEB_DLL" ] || dotnet build Portal.Web -c Release -nologo -v q -clp:ErrorsOnly
# The local runtime's inputs (both cached): the native envd and the base template.
bash scripts/publish-envd.sh >/dev/null
# (The Kubernetes runtime's templates are images: scripts/e2e-portal-kubernetes.sh.)
[ "${PORTAL_RUNTIME:-local}" = local ] && bash scripts/build-template.sh base >/dev/null
export PORTAL_ENVD_PATH="$(realpath artifacts/envd/portal-envd)"
export PORTAL_TEMPLATES_DIR="${PORTAL_TEMPLATES_DIR:-/var/lib/sandbox-portal/templates}"

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PORT=$(free_port)
TLS_PORT=$(free_port)
while [ "$TLS_PORT" = "$PORT" ]; do TLS_PORT=$(free_port); done
DATA=$(mktemp -d /tmp/portal-e2e-XXXXXX)
# The native protocol over HTTPS (ways-in.test.mjs): E2B_DOMAIN carries the port, *.D is
# resolved to 127.0.0.1 inside the test process only, the certificate comes from a test CA.
TLS_DOMAIN="sbx.test:$TLS_PORT"
dotnet "$WEB_DLL" certs sbx.test "$DATA/certs" >/dev/null
KEY="e2b_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
LOG="$DATA/portal.log"
# OCI image layouts a build may name as oci-layout:NAME[:tag] (templates.test.mjs writes one there).
mkdir -p "$DATA/oci-layouts"
PORTAL_DATA_DIR="$DATA" PORTAL_ADMIN_API_KEY="$KEY" PORTAL_RUNTIME="${PORTAL_RUNTIME:-local}" \
  E2B_DOMAIN="$TLS_DOMAIN" PORTAL_TLS_CERT="$DATA/certs/fullchain.pem" PORTAL_TLS_KEY="$DATA/certs/privkey.pem" \
  PORTAL_NETWORK_UPLINK="${PORTAL_NETWORK_UPLINK:-none}" \
  dotnet "$WEB_DLL" --urls "http://127.0.0.1:$PORT;https://127.0.0.1:$TLS_PORT" --Portal:LocalRuntime:CgroupGroup "portal-e2e-$PORT" --Portal:LocalRuntime:StartTimeout 00:01:00 \
  --Portal:Webhooks:AllowPrivateTargets true --Portal:Templates:Images:OciLayoutDirectory "$DATA/oci-layouts" ${PORTAL_EXTRA_ARGS:-} >"$LOG" 2>&1 &
PID=$!
cleanup() {
  # Sandboxes outlive the portal by design: kill what the suites left before stopping it.
  for id in $(curl -fsS -H "X-API-Key: $KEY" "http://127.0.0.1:$PORT/v2/sandboxes" 2>/dev/null | grep -o '"sandboxID":"[a-z0-9]*"' | cut -d'"' -f4); do
    curl -fsS -o /dev/null -X DELETE -H "X-API-Key: $KEY" "http://127.0.0.1:$PORT/sandboxes/$id" || true
  done
  # Snapshots are templates in the (shared) templates directory: none may outlive the run.
  for id in $(curl -fsS -H "X-API-Key: $KEY" "http://127.0.0.1:$PORT/snapshots" 2>/dev/null | grep -o '"snapshotID":"[^"]*"' | cut -d'"' -f4); do
    curl -fsS -o /dev/null -X DELETE -H "X-API-Key: $KEY" "http://127.0.0.1:$PORT/templates/${id//\//%2F}" || true
  done
  kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null
  # Never let rm walk into a sandbox's mounted root filesystem.
  awk '{print $5}' /proc/self/mountinfo | grep "^$DATA/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT

ready=0
for _ in $(seq 1 6000); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then ready=1; break; fi
  kill -0 $PID 2>/dev/null || break
  sleep 0.1
done
if [ $ready -ne 1 ]; then
  if grep -q "no such sandbox runtime is built into this portal" "$LOG"; then
    # Not a failure of this suite: the build has no local runtime yet. Say so and count it skipped.
    echo "e2e-portal: SKIPPED — this build has no '${PORTAL_RUNTIME:-local}' sandbox runtime"
    printf 'TAP version 13\n1..0 # SKIP no local sandbox runtime in this build\n# tests 0\n# pass 0\n# fail 0\n# skipped 1\n# todo 0\n' >"$TAP_ABS"
    exit 0
  fi
  echo "e2e-portal: the portal did not start; log:"; tail -n 60 "$LOG"
  printf 'TAP version 13\n1..1\nnot ok 1 - portal start\n# tests 1\n# pass 0\n# fail 1\n' >"$TAP_ABS"
  exit 1
fi

(cd e2e && env -u E2B_DEBUG -u E2B_DOMAIN -u E2B_API_URL -u E2B_SANDBOX_URL PORTAL_URL="http://127.0.0.1:$PORT" E2B_API_KEY="$KEY" \
  PORTAL_TLS_DOMAIN="$TLS_DOMAIN" NODE_EXTRA_CA_CERTS="$DATA/certs/ca.pem" PORTAL_OCI_LAYOUTS="$DATA/oci-layouts" \
  node --test --test-concurrency=1 --test-timeout=180000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$TAP_ABS" ${E2E_PORTAL_TESTS:-portal/})
rc=$?
if [ $rc -ne 0 ]; then
  echo "--- portal log: warnings and errors ---"; grep -E -A1 "^(warn|fail|crit):" "$LOG" | tail -n 40
  echo "--- portal log (tail) ---"; tail -n 80 "$LOG"
fi
exit $rc
