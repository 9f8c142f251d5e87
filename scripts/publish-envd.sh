#!/usr/bin/env bash
# Publishes portal-envd as one self-contained native file (NativeAOT) into artifacts/envd/.
# Skips the publish when the binary is newer than every source file of Portal.Envd.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=artifacts/envd
BIN=$OUT/portal-envd
if [ -x "$BIN" ] && [ -z "$(find Portal.Envd Portal.Core/Sandboxes/FileUrlSignature.cs Portal.Web/Transport Directory.Build.props -newer "$BIN" -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' \) -not -path '*/obj/*' -not -path '*/bin/*' | head -1)" ]; then
  echo "portal-envd is up to date: $BIN"
  exit 0
fi
echo "publishing portal-envd (NativeAOT, linux-x64)..."
dotnet publish Portal.Envd -c Release -r linux-x64 -o "$OUT" -nologo -v q -clp:ErrorsOnly -p:DebugType=none -p:DebugSymbols=false
rm -f "$OUT"/*.json "$OUT"/*.dbg
ls -la "$BIN"
