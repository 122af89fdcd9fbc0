#!/usr/bin/env bash
# Apply the production PostgreSQL settings (README: "PostgreSQL settings for production") to the
# server LEDGER_DATABASE_URL names, sized for this machine, then say what needs a restart.
# For a server dedicated to the ledger; run as an operator who may ALTER SYSTEM (a superuser).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${LEDGER_DATABASE_URL:?set LEDGER_DATABASE_URL to the production database (postgresql://...)}"
.venv/bin/ledger pg-settings "$@"
.venv/bin/ledger pg-settings --apply "$@"
echo "pg-production: settings listed under restart_needed_for take effect after a restart (e.g. pg_ctlcluster 15 main restart)"
