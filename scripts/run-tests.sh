#!/usr/bin/env bash
# Run the test suite with the services it needs. Arguments go to pytest.
#   - starts a throwaway PostgreSQL (tests/support/postgres.py) when the server binaries are
#     installed and STRATASCOPE_TEST_POSTGRES_URL is not set already, exports its URL, and
#     stops it on exit whatever happens;
#   - moto's S3 server is started by the pytest fixtures themselves (tests/conftest.py);
#   - PYTEST_WORKERS=N runs N pytest-xdist workers (default: see below; 0 = no xdist).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
PG=tests/support/postgres.py

if [ -z "${STRATASCOPE_TEST_POSTGRES_URL:-}" ]; then
  if reason=$("$PY" "$PG" check -); then
    pg_state=$(mktemp -t stratascope-pg-state.XXXXXX)
    trap '"$PY" "$PG" stop "$pg_state" || true; rm -f "$pg_state"' EXIT
    # $$ = this script: if it is killed before its trap runs, a watchdog stops the server.
    if url=$("$PY" "$PG" start "$pg_state" $$); then
      export STRATASCOPE_TEST_POSTGRES_URL="$url"
      echo "run-tests: PostgreSQL for tests at $url"
    else
      echo "run-tests: WARNING: PostgreSQL did not start; PostgreSQL tests will report why" >&2
    fi
  else
    echo "run-tests: $reason; PostgreSQL tests will skip" >&2
  fi
fi

workers=${PYTEST_WORKERS:-2}
args=(-q)
if [ "$workers" != "0" ]; then
  args+=(-n "$workers")
fi

set +e
"$PY" -m pytest "${args[@]}" "$@"
status=$?
set -e
if [ $status -eq 5 ]; then
  echo "run-tests: pytest collected no tests (exit 5)" >&2
fi
exit $status
