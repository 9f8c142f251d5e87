#!/usr/bin/env bash
# Builds a sandbox template root filesystem with debootstrap, once, and caches it.
#   scripts/build-template.sh [NAME] [TEMPLATES_DIR]
# NAME "base" is a Debian bookworm userland like E2B's base image: bash, coreutils, python3,
# nodejs, git, curl, sudo, procps, tput; user "user" (uid 1000, passwordless sudo) and root.
# The result appears atomically at TEMPLATES_DIR/NAME/{rootfs,template.json}.
set -euo pipefail
NAME="${1:-base}"
DIR="${2:-${PORTAL_TEMPLATES_DIR:-/var/lib/sandbox-portal/templates}}"
TARGET="$DIR/$NAME"
if [ -f "$TARGET/template.json" ] && [ -x "$TARGET/rootfs/bin/bash" ]; then
  echo "template '$NAME' is ready: $TARGET"
  exit 0
fi
[ "$NAME" = "base" ] || { echo "only the 'base' template can be built by this script"; exit 2; }
command -v debootstrap >/dev/null || { echo "debootstrap is missing: run scripts/install-deps.sh"; exit 1; }

mkdir -p "$DIR"
WORK=$(mktemp -d "$DIR/.build-$NAME-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The machine's own Debian mirror (the only registry some networks reach).
MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
  | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+/debian/?([[:space:]]|$)' | tr -d ' \t' | head -1 || true)
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
echo "building template '$NAME' with debootstrap from $MIRROR (about a minute)..."
debootstrap --variant=minbase \
  --include=bash,coreutils,python3,nodejs,git,curl,sudo,procps,ncurses-bin,ca-certificates,iproute2,less \
  bookworm "$WORK/rootfs" "$MIRROR" 2>&1 | awk '/^I: (Retrieving|Validating|Extracting|Installing|Configuring|Base system)/ { n++; if (n % 25 == 1 || /Base system/) print "  " $0 }'

R="$WORK/rootfs"
chroot "$R" /usr/sbin/groupadd --gid 1000 user 2>/dev/null || true
chroot "$R" /usr/sbin/useradd --uid 1000 --gid 1000 --create-home --home-dir /home/user --shell /bin/bash user
echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' > "$R/etc/sudoers.d/user"
chmod 0440 "$R/etc/sudoers.d/user"
mkdir -p "$R/run/portal" "$R/usr/local/bin"
touch "$R/usr/local/bin/portal-envd"
chmod 0755 "$R/usr/local/bin/portal-envd"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
cat > "$WORK/template.json" <<JSON
{ "templateId": "$NAME", "aliases": [], "cpuCount": 2, "memoryMB": 512, "diskSizeMB": 2048, "warmPoolSize": 0 }
JSON
rm -rf "$TARGET"
mv "$WORK" "$TARGET"
trap - EXIT
echo "template '$NAME' built: $TARGET ($(du -sh "$TARGET/rootfs" | cut -f1))"
