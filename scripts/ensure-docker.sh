#!/usr/bin/env bash
# Make sure a Docker engine answers, for the image tests: installs Debian's docker.io and debootstrap
# (for scripts/docker-base.sh) with apt-get when running as root, and starts dockerd in the
# background when no engine answers (log: /var/log/actviz-dockerd.log), then waits for it.
# Without root it only says what is missing; the image tests then skip, unless ACTVIZ_REQUIRE_DOCKER=1.
set -euo pipefail
fail() {
  echo "$1" >&2
  if [ "${ACTVIZ_REQUIRE_DOCKER:-0}" = 1 ]; then exit 1; fi
  exit 0
}
root=0
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && root=1
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  [ $root = 1 ] || fail "Missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}"
  echo "Installing ${missing[*]} (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
if docker info >/dev/null 2>&1; then
  exit 0
fi
[ $root = 1 ] || fail "No Docker engine answers; start one (as root: dockerd &)"
echo "Starting dockerd..."
setsid nohup dockerd >/var/log/actviz-dockerd.log 2>&1 </dev/null &
for _ in $(seq 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
tail -20 /var/log/actviz-dockerd.log >&2
fail "dockerd did not answer within 60 s (log: /var/log/actviz-dockerd.log)"
