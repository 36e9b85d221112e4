#!/usr/bin/env bash
# Debian packages the test suite and benchmarks need: PostgreSQL (catalogue tests),
# Chromium (viewer tests), s3fs (FUSE benchmark), nginx (deployment test).
# Safe to run repeatedly; skips packages that are already installed.
set -euo pipefail
pkgs=(postgresql chromium s3fs nginx-light fuse3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
