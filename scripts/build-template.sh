#!/usr/bin/env bash
# Builds a sandbox template root filesystem with debootstrap, once, and caches it.
#   scripts/build-template.sh [NAME] [TEMPLATES_DIR]
# NAME "base" is a Debian bookworm userland like E2B's base image (python + build tools, node
# and npm, git, curl): bash, coreutils, python3 (also as `python`), pip, venv, nodejs, npm, git,
# curl, build-essential, sudo, procps, iproute2, tput; user "user" (uid 1000, passwordless sudo)
# and root. pip installs into the system as root and into ~/.local as user, as in E2B's image.
# The result appears atomically at TEMPLATES_DIR/NAME/{rootfs,template.json}.
set -euo pipefail
NAME="${1:-base}"
DIR="${2:-${PORTAL_TEMPLATES_DIR:-/var/lib/sandbox-portal/templates}}"
TARGET="$DIR/$NAME"
# Bump when the package list or set-up below changes: older cached builds are then rebuilt.
RECIPE=3
# Older builds may still be the lower layer of running sandboxes (overlayfs keeps the path it
# was mounted with, so they cannot be told apart by path): delete retired builds only while
# no sandbox runs on this template at all.
remove_retired() {
  grep -qF "lowerdir=$TARGET/rootfs" /proc/self/mountinfo && return 0
  for old in "$DIR"/.retired-"$NAME"-*; do [ -d "$old" ] && rm -rf "$old"; done
  return 0
}
if [ -f "$TARGET/template.json" ] && [ -x "$TARGET/rootfs/bin/bash" ] \
   && grep -q "\"recipe\": $RECIPE\b" "$TARGET/template.json"; then
  remove_retired
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
echo "building template '$NAME' with debootstrap from $MIRROR (a few minutes)..."
# PORTAL_DEBOOTSTRAP_CACHE: a directory that keeps the downloaded packages for the next build.
debootstrap --variant=minbase ${PORTAL_DEBOOTSTRAP_CACHE:+--cache-dir="$PORTAL_DEBOOTSTRAP_CACHE"} \
  --include=bash,coreutils,python3,python-is-python3,python3-pip,python3-venv,nodejs,git,curl,build-essential,sudo,procps,ncurses-bin,ca-certificates,iproute2,less,libnss-myhostname \
  bookworm "$WORK/rootfs" "$MIRROR" 2>&1 | awk '/^I: (Retrieving|Validating|Extracting|Installing|Configuring|Base system)/ { n++; if (n % 25 == 1 || /Base system/) print "  " $0 }'

R="$WORK/rootfs"
# npm's ~300 node-* dependencies use virtual packages debootstrap cannot resolve: apt installs it.
echo "installing npm with apt inside the new root..."
chroot "$R" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
  'apt-get update -qq && apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends npm >/dev/null && apt-get clean'
# The hostname is the sandbox ID and changes when a warm sandbox is claimed: resolve it from
# the UTS namespace (nss-myhostname) rather than a static /etc/hosts line.
grep -q myhostname "$R/etc/nsswitch.conf" || sed -i 's/^hosts:.*/& myhostname/' "$R/etc/nsswitch.conf"
chroot "$R" /usr/sbin/groupadd --gid 1000 user 2>/dev/null || true
chroot "$R" /usr/sbin/useradd --uid 1000 --gid 1000 --create-home --home-dir /home/user --shell /bin/bash user
echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' > "$R/etc/sudoers.d/user"
# Debian marks its Python "externally managed" (PEP 668), so a plain `pip install x` fails. E2B's
# image is python:3.11 (no marker), and its users run `pip install x` as user and as root: let pip
# install beside Debian's packages (as root into /usr/local, as user into ~/.local).
printf '[global]\nbreak-system-packages = true\n' > "$R/etc/pip.conf"
chmod 0440 "$R/etc/sudoers.d/user"
mkdir -p "$R/run/portal" "$R/usr/local/bin"
touch "$R/usr/local/bin/portal-envd"
chmod 0755 "$R/usr/local/bin/portal-envd"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
cat > "$WORK/template.json" <<JSON
{ "templateId": "$NAME", "aliases": [], "cpuCount": 2, "memoryMB": 512, "diskSizeMB": 2048, "warmPoolSize": 0, "recipe": $RECIPE }
JSON
if [ -d "$TARGET" ]; then mv "$TARGET" "$DIR/.retired-$NAME-$(date +%s%N)"; fi
remove_retired  # before the new build is in use, every mount on the path is an old one
mv "$WORK" "$TARGET"
trap - EXIT
echo "template '$NAME' built: $TARGET ($(du -sh "$TARGET/rootfs" | cut -f1))"
