#!/usr/bin/env bash
# `npm ci` (or `npm install` when there is no lock file) for every package.json in the
# repository outside node_modules, i.e. the viewer's front end once it has one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t manifests < <(find . -name package.json -not -path '*/node_modules/*' -not -path './.venv/*' \
  -not -path './.git/*' | sort)
[ ${#manifests[@]} -eq 0 ] && exit 0
if ! command -v npm >/dev/null 2>&1; then
  echo "install-node-deps: npm not found; skipping ${manifests[*]} (viewer tests will skip)" >&2
  exit 0
fi
for manifest in "${manifests[@]}"; do
  dir=$(dirname "$manifest")
  echo "install-node-deps: $dir"
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
done
