#!/usr/bin/env bash
# Installs what is missing, builds, and runs Sandbox Portal (E2B-compatible control plane,
# API keys and sandbox proxy) with the local runtime on port 7788.
#
#   scripts/run.sh [--urls http://0.0.0.0:7788] [any Portal:* setting as --Portal:Key value]
#
# Environment: PORTAL_DATA_DIR (default /var/lib/sandbox-portal), PORTAL_ADMIN_API_KEY
# (seed the admin key instead of generating one), E2B_DOMAIN, PORTAL_RUNTIME (default local),
# PORTAL_TLS_CERT / PORTAL_TLS_KEY (PEM files served on https:// URLs; see docs/deployment.md).
# Once the portal answers it prints the three lines an E2B SDK user needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dotnet build Portal.Web -c Release -nologo -v q -clp:ErrorsOnly
# The local runtime's inputs (both cached): the native envd and the base template.
bash scripts/publish-envd.sh
bash scripts/build-template.sh base
export PORTAL_ENVD_PATH="${PORTAL_ENVD_PATH:-$(realpath artifacts/envd/portal-envd)}"
export PORTAL_TEMPLATES_DIR="${PORTAL_TEMPLATES_DIR:-/var/lib/sandbox-portal/templates}"

export PORTAL_DATA_DIR="${PORTAL_DATA_DIR:-/var/lib/sandbox-portal}"
mkdir -p "$PORTAL_DATA_DIR"

# The URL clients use: from --urls (or ASPNETCORE_URLS), else port 7788 on this machine.
urls="${ASPNETCORE_URLS:-}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --urls) urls="${args[$((i + 1))]:-}" ;;
    --urls=*) urls="${args[$i]#--urls=}" ;;
  esac
done
[ -n "$urls" ] || { urls="http://0.0.0.0:7788"; args+=(--urls "$urls"); }
first="${urls%%;*}"
client_url="$(printf '%s' "$first" | sed -E 's#://(0\.0\.0\.0|\*|\+|\[::\])#://127.0.0.1#')"

dotnet Portal.Web/bin/Release/net10.0/Portal.Web.dll "${args[@]}" &
PORTAL_PID=$!
trap 'kill -TERM $PORTAL_PID 2>/dev/null; wait $PORTAL_PID 2>/dev/null' INT TERM EXIT

for _ in $(seq 1 6000); do
  # -k: an https:// first URL may serve a certificate this machine does not trust (PORTAL_TLS_CERT).
  if curl -kfsS -o /dev/null "$client_url/health" 2>/dev/null; then break; fi
  kill -0 $PORTAL_PID 2>/dev/null || { echo "the portal exited during startup (see above)"; exit 1; }
  sleep 0.1
done

key="${PORTAL_ADMIN_API_KEY:-}"
[ -n "$key" ] || key="$(cat "$PORTAL_DATA_DIR/admin-api-key" 2>/dev/null || true)"
[ -n "$key" ] || key="<an API key of the portal: $PORTAL_DATA_DIR/admin-api-key was removed; create one with POST /api-keys>"
echo
echo "Sandbox Portal is running. Point the E2B SDK at it with:"
echo "E2B_API_URL=$client_url"
echo "E2B_SANDBOX_URL=$client_url"
echo "E2B_API_KEY=$key"
if [ -n "${E2B_DOMAIN:-}" ]; then
  echo "(or, for the native protocol with wildcard DNS and certificate: E2B_DOMAIN=$E2B_DOMAIN and E2B_API_KEY only;"
  echo " every way in: docs/deployment.md)"
fi
echo
wait $PORTAL_PID
