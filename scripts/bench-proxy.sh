#!/usr/bin/env bash
# Ways in vs nginx: added latency and requests/s through each way into a sandbox (native host,
# private path, header routing), through the portal and through nginx, against envd's own Unix
# socket. Starts the real portal (local runtime) on a free loopback port, creates one sandbox
# through its API, starts nginx (Debian's package, our own prefix in a temp dir, loopback only)
# routing the same hosts/paths/headers to that sandbox's envd socket, runs
# `Portal.Bench proxy` (one load generator for every target) and prints a table.
# Needs root (the local runtime). Measurements are serialised with /tmp/portal-bench.lock.
# Env: BENCH_ROUNDS (3), BENCH_REQUESTS (2000), BENCH_CONNECTIONS (32), BENCH_SECONDS (3), BENCH_WARMUP (8 s under load per target first),
#      BENCH_ONLY ("portal header,nginx header": run only those targets besides direct),
#      BENCH_MARKDOWN (file to write the table to), BENCH_PORTAL_ENV ("VAR=value ..." for the portal only).
# BENCH_DASHBOARDS=N: instead, the portal's throughput per way in without and with N dashboard pages open in
#      Debian's Chromium, and every circuit disconnect (`Portal.Bench dashboard-load`; no nginx, no latency runs).
#      BENCH_DASHBOARD_PAGES=overview,list,sandbox: which pages, in turn (default all three).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || { apt-get install -y nginx >/dev/null || { apt-get update >/dev/null && apt-get install -y nginx >/dev/null; }; }
dotnet build Portal.Web -c Release -nologo -v q -clp:ErrorsOnly
dotnet build Portal.Bench -c Release -nologo -v q -clp:ErrorsOnly
bash scripts/publish-envd.sh >/dev/null
bash scripts/build-template.sh base >/dev/null

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PORT=$(free_port)
NGINX_PORT=$(free_port)
DOMAIN=sbx.bench
DATA=$(mktemp -d /tmp/portal-bench-XXXXXX)
NG="$DATA/nginx"
mkdir -p "$NG/logs" "$NG/tmp"
KEY="e2b_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# The dashboard admin's password, for the browser to sign in (BENCH_DASHBOARDS only).
ADMIN_PASSWORD="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
API="http://127.0.0.1:$PORT"
PID="" NGINX_PID="" SANDBOX=""

cleanup() {
  set +e
  [ -n "$NGINX_PID" ] && { kill -QUIT "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; }
  [ -n "$SANDBOX" ] && curl -fsS -o /dev/null -X DELETE -H "X-API-Key: $KEY" "$API/sandboxes/$SANDBOX"
  [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
  [ -n "${BENCH_KEEP_LOG:-}" ] && cp "$DATA/portal.log" "$BENCH_KEEP_LOG"
  rm -rf "$DATA"
}
trap cleanup EXIT

# The portal: no warm pool (one sandbox is all we need), domain sbx.bench for the native hosts.
E2B_DOMAIN=$DOMAIN PORTAL_DATA_DIR="$DATA" PORTAL_ADMIN_API_KEY="$KEY" PORTAL_ADMIN_PASSWORD="$ADMIN_PASSWORD" PORTAL_ENVD_PATH="$(realpath artifacts/envd/portal-envd)" \
  PORTAL_TEMPLATES_DIR="${PORTAL_TEMPLATES_DIR:-/var/lib/sandbox-portal/templates}" PORTAL_NETWORK_UPLINK="${PORTAL_NETWORK_UPLINK:-none}" \
  ${BENCH_PORTAL_ENV:+env $BENCH_PORTAL_ENV} dotnet Portal.Web/bin/Release/net10.0/Portal.Web.dll --urls "http://127.0.0.1:$PORT" \
  --Portal:LocalRuntime:CgroupGroup "portal-bench-$PORT" --Portal:LocalRuntime:WarmPools:base 0 >"$DATA/portal.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do curl -fsS -o /dev/null "$API/health" 2>/dev/null && break; sleep 0.1; done
CREATED=$(curl -fsS -X POST -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
  -d '{"templateID":"base","timeout":3600}' "$API/v2/sandboxes")
SANDBOX=$(jq -r .sandboxID <<<"$CREATED")
TOKEN=$(jq -r .envdAccessToken <<<"$CREATED")
SOCKET="$DATA/sandboxes/$SANDBOX/run/envd.sock"
[ -S "$SOCKET" ] || { echo "no envd socket at $SOCKET" >&2; exit 1; }

if [ -n "${BENCH_DASHBOARDS:-}" ]; then
  echo "portal :$PORT (pid $PID), sandbox $SANDBOX; $BENCH_DASHBOARDS dashboards"
  echo "waiting for /tmp/portal-bench.lock (other benchmarks on this machine)..."
  exec 9>/tmp/portal-bench.lock
  flock 9
  dotnet Portal.Bench/bin/Release/net10.0/Portal.Bench.dll dashboard-load --sandbox "$SANDBOX" --token "$TOKEN" --domain "$DOMAIN" \
    --portal "127.0.0.1:$PORT" --portal-pid "$PID" --password "$ADMIN_PASSWORD" --dashboards "$BENCH_DASHBOARDS" ${BENCH_DASHBOARD_PAGES:+--pages "$BENCH_DASHBOARD_PAGES"} \
    --rounds "${BENCH_ROUNDS:-3}" --connections "${BENCH_CONNECTIONS:-32}" --seconds "${BENCH_SECONDS:-3}" --warmup "${BENCH_WARMUP:-8}" \
    ${BENCH_MARKDOWN:+--markdown "$BENCH_MARKDOWN"}
  exit
fi

# nginx: the same three ways in, to the same socket. One upstream per sandbox port (as a config
# generator would write it), with idle keep-alive connections to envd.
UP="sbx_${SANDBOX}_49983"
cat >"$NG/nginx.conf" <<EOF
user root;
worker_processes auto;
pid $NG/nginx.pid;
error_log $NG/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $NG/tmp/body;
  proxy_temp_path $NG/tmp/proxy;
  fastcgi_temp_path $NG/tmp/fastcgi;
  uwsgi_temp_path $NG/tmp/uwsgi;
  scgi_temp_path $NG/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  proxy_http_version 1.1;
  # envd gets the request the portal would send (for GET /health byte for byte): the original Host and the portal's three
  # X-Forwarded-* headers (nginx alone would send "Host: <upstream name>" and none of them).
  proxy_set_header Connection "";
  proxy_set_header Host \$http_host;
  proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto \$scheme;
  proxy_set_header X-Forwarded-Host \$http_host;
  upstream $UP {
    server unix:$SOCKET;
    keepalive 128;
    keepalive_requests 1000000;
  }
  # Native host: <port>-<sandboxID>.D
  server {
    listen 127.0.0.1:$NGINX_PORT;
    server_name "~^(?<sport>[1-9][0-9]{0,4})-(?<sid>[a-z0-9]+)\.sbx\.bench\$";
    location / { proxy_pass http://sbx_\${sid}_\${sport}; }
  }
  # Private path /kruise/<sandboxID>/<port>/... (prefix stripped) and header routing.
  server {
    listen 127.0.0.1:$NGINX_PORT default_server;
    server_name $DOMAIN;
    location ~ "^/kruise/(?<sid>[a-z0-9]+)/(?<sport>[1-9][0-9]{0,4})(?<rest>/.*)\$" {
      proxy_pass http://sbx_\${sid}_\${sport}\$rest\$is_args\$args;
    }
    location / {
      if (\$http_e2b_sandbox_id = "") { return 404; }
      proxy_pass http://sbx_\${http_e2b_sandbox_id}_\${http_e2b_sandbox_port};
    }
  }
}
EOF
nginx -t -p "$NG" -c "$NG/nginx.conf" -q
nginx -p "$NG" -c "$NG/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 1 100); do curl -fsS -o /dev/null -H "E2b-Sandbox-Id: $SANDBOX" -H 'E2b-Sandbox-Port: 49983' "http://127.0.0.1:$NGINX_PORT/health" 2>/dev/null && break; sleep 0.1; done

# envd: the portal-envd process in this sandbox's cgroup (its CPU per request is reported too).
ENVD_PID=""
for p in $(pgrep -f "/usr/local/bin/portal-envd --socket" || true); do
  grep -qs "/portal-bench-$PORT/$SANDBOX" "/proc/$p/cgroup" && { ENVD_PID=$p; break; }
done
echo "portal :$PORT (pid $PID), nginx :$NGINX_PORT (pid $NGINX_PID), sandbox $SANDBOX (envd pid ${ENVD_PID:-unknown})"
echo "waiting for /tmp/portal-bench.lock (other benchmarks on this machine)..."
exec 9>/tmp/portal-bench.lock
flock 9
dotnet Portal.Bench/bin/Release/net10.0/Portal.Bench.dll proxy --sandbox "$SANDBOX" --token "$TOKEN" --socket "$SOCKET" \
  --domain "$DOMAIN" --portal "127.0.0.1:$PORT" --nginx "127.0.0.1:$NGINX_PORT" --portal-pid "$PID" --nginx-pid "$NGINX_PID" ${ENVD_PID:+--envd-pid "$ENVD_PID"} \
  --rounds "${BENCH_ROUNDS:-3}" --requests "${BENCH_REQUESTS:-2000}" --connections "${BENCH_CONNECTIONS:-32}" \
  --seconds "${BENCH_SECONDS:-3}" --warmup "${BENCH_WARMUP:-8}" ${BENCH_ONLY:+--only "$BENCH_ONLY"} ${BENCH_MARKDOWN:+--markdown "$BENCH_MARKDOWN"}
flock -u 9
echo "nginx config used:"
sed "s#$DATA#\$TMP#g" "$NG/nginx.conf"
