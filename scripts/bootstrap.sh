#!/usr/bin/env bash
# `make run` after the installs: Redis, migrations, demo data, then web + worker + beat.
# Assumes `make install` ran (the Makefile sees to it). Safe to run again: each step is
# idempotent and the demo data is seeded once per database.
set -euo pipefail
cd "$(dirname "$0")/.."

# Variables in .env apply here as they do to the processes honcho starts.
if [[ -f .env ]]; then
    set -a
    # shellcheck disable=SC1091
    . ./.env
    set +a
fi
# Defaults after .env, so a PORT there moves the banner, SITE_URL and the server alike.
export PORT="${PORT:-8000}"
export SITE_URL="${SITE_URL:-http://127.0.0.1:$PORT}"
export PATH="$PWD/.venv/bin:$PATH"

mkdir -p var
scripts/ensure-redis.sh

echo "==> Applying database migrations"
.venv/bin/python manage.py migrate --noinput -v 0

if [[ "$(.venv/bin/python -c 'from portal.env import env_bool; print(env_bool("DEBUG", True))')" == "False" ]]; then
    # Production-like run: WhiteNoise serves from the collected, hashed files.
    echo "==> Collecting static files (DEBUG=false)"
    .venv/bin/python manage.py collectstatic --noinput -v 0
    echo "DEBUG=false: no demo data is seeded (manage.py seed_demo --allow-production to force it)."
else
    echo "==> Demo data"
    .venv/bin/python manage.py seed_demo
fi

echo
echo "==> Cloudstamp on http://127.0.0.1:$PORT/  (web, worker and beat through honcho; Ctrl-C stops them all)"
echo
# honcho gives web PORT (worker and beat get PORT+100 and PORT+200, unused) and stops all
# three when any one exits or on Ctrl-C.
exec .venv/bin/honcho start --procfile Procfile --port "$PORT"
