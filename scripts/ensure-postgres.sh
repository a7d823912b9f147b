#!/usr/bin/env bash
# Make sure PostgreSQL answers on PGHOST:PGPORT (default 127.0.0.1:5432), starting the
# machine's cluster if it does not. With a database name, (re)create that database.
#
#   scripts/ensure-postgres.sh [dbname]
set -euo pipefail

host="${PGHOST:-127.0.0.1}"
port="${PGPORT:-5432}"
user="${PGUSER:-postgres}"
db="${1:-}"

ready() { pg_isready -q -h "$host" -p "$port"; }

if ! ready; then
    command -v pg_ctlcluster >/dev/null || { echo "error: PostgreSQL is not installed (apt-get install postgresql)." >&2; exit 1; }
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    [[ -n "$version" ]] || { echo "error: no cluster under /etc/postgresql." >&2; exit 1; }
    echo "==> Starting PostgreSQL $version (cluster main)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 60); do
        ready && break
        sleep 0.5
    done
    ready || { echo "error: PostgreSQL $version did not start answering on $host:$port." >&2; exit 1; }
fi

if [[ -n "$db" ]]; then
    echo "==> Creating database $db"
    export PGOPTIONS="-c client_min_messages=warning"  # no NOTICE for a database not there
    dropdb --if-exists -h "$host" -p "$port" -U "$user" "$db"
    # pytest-django also creates test_<db>; drop a leftover from an interrupted run.
    dropdb --if-exists -h "$host" -p "$port" -U "$user" "test_$db"
    createdb -h "$host" -p "$port" -U "$user" "$db"
fi
