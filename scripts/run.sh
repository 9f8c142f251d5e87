#!/usr/bin/env bash
# Installs what is missing, builds, and runs Sandbox Portal.
# Until the portal's control plane lands (see docs/status.md) this runs Portal.Envd on
# localhost:49983, where the E2B SDK's debug mode (E2B_DEBUG=true) talks to it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dotnet build Portal.Envd -c Release -nologo -v q -clp:ErrorsOnly
echo
echo "Portal.Envd on http://127.0.0.1:49983 — try it with the E2B SDK:"
echo "  E2B_DEBUG=true node -e \"const {Sandbox}=require('e2b');Sandbox.create().then(s=>s.commands.run('uname -a')).then(r=>console.log(r.stdout))\""
echo
exec dotnet Portal.Envd/bin/Release/net10.0/portal-envd.dll --host 127.0.0.1 --port 49983 "$@"
