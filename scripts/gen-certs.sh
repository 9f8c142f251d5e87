#!/usr/bin/env bash
# Makes a local CA and a wildcard server certificate for DOMAIN (names DOMAIN and *.DOMAIN),
# for trying the native protocol (api.D, P-S.D) without a public certificate.
#   scripts/gen-certs.sh DOMAIN OUTDIR
# Writes OUTDIR/ca.pem, ca-key.pem, fullchain.pem (PORTAL_TLS_CERT), privkey.pem (PORTAL_TLS_KEY).
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 DOMAIN OUTDIR   (e.g. $0 sbx.test ./certs)" >&2; exit 2; fi
cd "$(dirname "$0")/.."
WEB_DLL=Portal.Web/bin/Release/net10.0/Portal.Web.dll
[ -f "$WEB_DLL" ] || dotnet build Portal.Web -c Release -nologo -v q -clp:ErrorsOnly >&2
OUT="$2"; case "$OUT" in /*) ;; *) OUT="$OLDPWD/$OUT";; esac
exec dotnet "$WEB_DLL" certs "$1" "$OUT"
