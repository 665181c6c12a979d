#!/usr/bin/env bash
# Make the local base image for offline Docker builds: Debian bookworm + Python 3.11 (python3-venv,
# pip, CA certificates), bootstrapped from Debian's archive and imported into Docker.  For machines
# whose Docker engine cannot pull python:3.11-slim.  Idempotent: an image already present is kept
# (CI reuses it between runs on the same machine).  Needs root, debootstrap and a running engine.
#   scripts/docker-base.sh [NAME]        (default actviz-base:bookworm)
set -euo pipefail
name="${1:-${ACTVIZ_BASE_IMAGE:-actviz-base:bookworm}}"
if docker image inspect "$name" >/dev/null 2>&1; then
  echo "Base image $name is present."
  exit 0
fi
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root="$(mktemp -d /var/tmp/actviz-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "Bootstrapping Debian bookworm into $root for $name ..."
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -30 "$root.log" >&2; exit 1; }
rm -f "$root.log"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$name" >/dev/null
echo "Imported $name."
