#!/usr/bin/env bash
# Builds the portal image (Dockerfile at the repository root) with whichever container builder
# this machine has: docker or podman with a working engine, or buildah. The development machines
# of this project have none that works (a docker CLI without a daemon, no registry to push to);
# there this script says so and exits 2.
#
#   scripts/build-image.sh [TAG]     (default sandbox-portal:latest; push it where your cluster pulls from)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-sandbox-portal:latest}"
for builder in docker podman; do
  if command -v "$builder" >/dev/null 2>&1 && "$builder" info >/dev/null 2>&1; then
    exec "$builder" build -t "$TAG" -f Dockerfile .
  fi
done
if command -v buildah >/dev/null 2>&1; then
  exec buildah bud -t "$TAG" -f Dockerfile .
fi
echo "build-image: no container builder (docker, podman, buildah) on this machine; the image cannot be built here." >&2
echo "Build it where one exists: scripts/build-image.sh $TAG" >&2
exit 2
