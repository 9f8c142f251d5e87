#!/usr/bin/env bash
# Starts the real portal (local runtime) on a free loopback port and runs e2e/bench/portal.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build Portal.Web -c Release -nologo -v q -clp:ErrorsOnly
bash scripts/publish-envd.sh >/dev/null
bash scripts/build-template.sh base >/dev/null
PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
DATA=$(mktemp -d /tmp/portal-bench-XXXXXX)
KEY="e2b_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PORTAL_DATA_DIR="$DATA" PORTAL_ADMIN_API_KEY="$KEY" PORTAL_ENVD_PATH="$(realpath artifacts/envd/portal-envd)" \
  PORTAL_TEMPLATES_DIR="${PORTAL_TEMPLATES_DIR:-/var/lib/sandbox-portal/templates}" \
  dotnet Portal.Web/bin/Release/net10.0/Portal.Web.dll --urls "http://127.0.0.1:$PORT" \
  --Portal:LocalRuntime:CgroupGroup "portal-bench-$PORT" >"$DATA/portal.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 600); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break; sleep 0.1; done
(cd e2e && env -u E2B_DEBUG PORTAL_URL="http://127.0.0.1:$PORT" E2B_API_KEY="$KEY" node bench/portal.mjs)
