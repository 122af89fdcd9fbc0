#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use is up (127.0.0.1:5432 unless
# LEDGER_TEST_POSTGRES says otherwise); start the local cluster when it is down.
set -uo pipefail
host=127.0.0.1; port=5432
if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then exit 0; fi
echo "ensure-postgres: PostgreSQL is not answering on $host:$port; starting it"
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
fi
for _ in $(seq 1 30); do
  pg_isready -q -h "$host" -p "$port" 2>/dev/null && exit 0
  sleep 1
done
echo "ensure-postgres: PostgreSQL still not reachable on $host:$port" >&2
[ -n "${CI:-}" ] && exit 1 || exit 0
