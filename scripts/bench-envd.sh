#!/usr/bin/env bash
# Prints Portal.Envd's benchmark figures (see docs/benchmarks.md). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/publish-envd.sh
exec 9>/tmp/portal-e2e-49983.lock
flock 9
cd e2e && node bench/envd.mjs "$(realpath ../artifacts/envd/portal-envd)"
