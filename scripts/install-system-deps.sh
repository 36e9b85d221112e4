#!/usr/bin/env bash
# Debian packages the test suite, demo and benchmarks need:
#   postgresql   catalogue tests on PostgreSQL (a throwaway cluster, see tests/support/postgres.py)
#   chromium     viewer tests (Playwright drives /usr/bin/chromium; no browser download)
#   s3fs, fuse3  FUSE-mount baseline in bench/
#   nginx-light  deployment test (nginx in front of the server)
#   nodejs, npm  only when the repository has a package.json (the viewer's front end)
# Safe to run repeatedly: installs only what is missing. Never fails the build: when it cannot
# install (not root and no sudo, no network, apt broken) it says what is missing and the
# tests that need it skip with a reason.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pkgs=(postgresql chromium s3fs nginx-light fuse3)
if [ -n "$(find . -name package.json -not -path '*/node_modules/*' -not -path './.venv/*' -print -quit)" ] \
   && ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: no apt-get here; missing: ${missing[*]} (tests that need them will skip)" >&2
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "install-system-deps: not root and no sudo; missing: ${missing[*]}" >&2
    echo "  install with: apt-get install ${missing[*]}   (tests that need them will skip)" >&2
    exit 0
  fi
fi

echo "install-system-deps: installing ${missing[*]}"
# Another apt run (e.g. a provisioning step) may hold the lock: wait for it instead of failing.
apt_opts=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get "${apt_opts[@]}" update -qq \
   || ! "${SUDO[@]}" apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/tmp/stratascope-apt.log 2>&1; then
  echo "install-system-deps: WARNING: apt-get failed (see /tmp/stratascope-apt.log); missing: ${missing[*]}" >&2
  tail -n 20 /tmp/stratascope-apt.log >&2 2>/dev/null || true
fi
exit 0
