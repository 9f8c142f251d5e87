#!/usr/bin/env bash
# Builds the "code-interpreter" sandbox template (alias code-interpreter-v1, the name the E2B
# code-interpreter SDK asks for): the base template plus Debian's Jupyter kernels and data
# libraries, and our port-49999 server from templates/code-interpreter/.
#   scripts/build-code-interpreter-template.sh [--packages-only] [TEMPLATES_DIR]
# --packages-only builds the package layer and stops: the template does not appear (scripts/test.sh
# runs that part in the background while other suites run).
# Two caches: the package layer (slow: apt) is kept per PACKAGES_RECIPE under
# TEMPLATES_DIR/.layers/; the template itself is rebuilt from that layer (hard links, seconds)
# whenever the server's files change.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES_ONLY=0
if [ "${1:-}" = --packages-only ]; then PACKAGES_ONLY=1; shift; fi
DIR="${1:-${PORTAL_TEMPLATES_DIR:-/var/lib/sandbox-portal/templates}}"
NAME=code-interpreter
TARGET="$DIR/$NAME"
# Bump when the package list or the set-up of the package layer changes.
PACKAGES_RECIPE=1
# Bump when the template step below (what is added to or removed from the layer) changes.
TEMPLATE_RECIPE=2
PACKAGES=(
  python3-ipykernel python3-jupyter-client python3-numpy python3-pandas python3-matplotlib python3-scipy
  python3-pil python3-sklearn python3-plotly python3-seaborn python3-openpyxl
  r-cran-irkernel node-typescript
)
SERVER_HASH=$(cd templates/code-interpreter && find . -type f -not -path '*/__pycache__/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
RECIPE="\"p$PACKAGES_RECIPE-t$TEMPLATE_RECIPE-$SERVER_HASH\""

bash scripts/build-template.sh base "$DIR"
BASE_RECIPE=$(grep -o '"recipe": [0-9]*' "$DIR/base/template.json" | grep -o '[0-9]*$')

remove_retired() {
  grep -qF "lowerdir=$TARGET/rootfs" /proc/self/mountinfo && return 0
  for old in "$DIR"/.retired-"$NAME"-*; do [ -d "$old" ] && rm -rf "$old"; done
  return 0
}
if [ "$PACKAGES_ONLY" = 0 ] && [ -f "$TARGET/template.json" ] && grep -qF "\"recipe\": $RECIPE" "$TARGET/template.json"; then
  remove_retired
  echo "template '$NAME' is ready: $TARGET"
  exit 0
fi

LAYER="$DIR/.layers/$NAME-packages-b$BASE_RECIPE-p$PACKAGES_RECIPE"
if [ ! -x "$LAYER/usr/bin/python3" ]; then
  started=$(date +%s)
  mkdir -p "$DIR/.layers"
  rm -rf "$DIR/.layers/$NAME-packages-"*  # older recipes
  WORK=$(mktemp -d "$DIR/.layers/.build-$NAME-XXXXXX")
  trap 'umount "$WORK/proc" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  echo "building the '$NAME' package layer from the base template (apt, a few minutes)..."
  cp -a "$DIR/base/rootfs/." "$WORK/"
  # apt inside the chroot uses the host's sources and resolver (the mirror the base came from).
  cp /etc/resolv.conf "$WORK/etc/resolv.conf"
  MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
    | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+/debian/?([[:space:]]|$)' | tr -d ' \t' | head -1 || true)
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  echo "deb $MIRROR bookworm main" > "$WORK/etc/apt/sources.list"
  mount -t proc proc "$WORK/proc"
  chroot "$WORK" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  chroot "$WORK" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  # matplotlib draws off-screen in a kernel; no X display exists in a sandbox.
  mkdir -p "$WORK/etc/matplotlibrc.d"; echo "backend: Agg" > "$WORK/etc/matplotlibrc"
  umount "$WORK/proc"
  rm -rf "$WORK/var/cache/apt/archives/"*.deb "$WORK/var/lib/apt/lists/"*
  : > "$WORK/etc/resolv.conf"
  mv "$WORK" "$LAYER"
  trap - EXIT
  echo "package layer built in $(( $(date +%s) - started )) s: $LAYER ($(du -sh "$LAYER" | cut -f1))"
fi
[ "$PACKAGES_ONLY" = 1 ] && exit 0

WORK=$(mktemp -d "$DIR/.build-$NAME-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Hard links: the layer is never written to (sandboxes see it read-only through overlayfs).
cp -al "$LAYER" "$WORK/rootfs"
# Documentation, manual pages and translations are not needed in a sandbox (about 120 MB).
rm -rf "$WORK/rootfs/usr/share/doc/"* "$WORK/rootfs/usr/share/man/"* "$WORK/rootfs/usr/share/locale/"*
rm -rf "$WORK/rootfs/opt/portal"
mkdir -p "$WORK/rootfs/opt/portal"
cp -r templates/code-interpreter "$WORK/rootfs/opt/portal/code-interpreter"
rm -rf "$WORK/rootfs/opt/portal/code-interpreter/"*/__pycache__ "$WORK/rootfs/opt/portal/code-interpreter/__pycache__"
chmod -R a+rX "$WORK/rootfs/opt/portal"
cat > "$WORK/template.json" <<JSON
{ "templateId": "$NAME", "aliases": ["code-interpreter-v1"], "cpuCount": 2, "memoryMB": 1024, "diskSizeMB": 4096, "warmPoolSize": 1,
  "startCommand": "/opt/portal/code-interpreter/start.sh",
  "readyCommand": "/opt/portal/code-interpreter/ready.sh",
  "recipe": $RECIPE }
JSON
if [ -d "$TARGET" ]; then mv "$TARGET" "$DIR/.retired-$NAME-$(date +%s%N)"; fi
remove_retired
mv "$WORK" "$TARGET"
trap - EXIT
echo "template '$NAME' built: $TARGET ($(du -sh "$TARGET/rootfs" | cut -f1))"
