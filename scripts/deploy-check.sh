#!/usr/bin/env bash
# The production profile, checked: with DEBUG=false and a real-looking secret,
# `check --deploy` must pass with no warning, collectstatic must work with the manifest
# storage, and the login page must render from the collected (hashed) files.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG=false
export SECRET_KEY="${DEPLOY_CHECK_SECRET_KEY:-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(60))')}"
export ALLOWED_HOSTS=example.com
export SITE_URL=https://example.com
export CSRF_TRUSTED_ORIGINS=https://example.com
# Nothing here needs the database or Redis; keep the checks off the developer's data.
export DATABASE_URL="${DEPLOY_CHECK_DATABASE_URL:-sqlite:///var/deploy-check.sqlite3}"
unset CLOUDSTAMP_TESTING

mkdir -p var
echo "==> manage.py check --deploy --fail-level WARNING (DEBUG=false, ALLOWED_HOSTS=example.com)"
.venv/bin/python manage.py check --deploy --fail-level WARNING

echo "==> manage.py collectstatic (compressed manifest storage)"
.venv/bin/python manage.py collectstatic --noinput -v 0

echo "==> GET /accounts/login/ over HTTPS with DEBUG=false"
.venv/bin/python manage.py shell -v 0 -c '
from django.test import Client
response = Client().get("/accounts/login/", secure=True, HTTP_HOST="example.com")
assert response.status_code == 200, response.status_code
assert "Strict-Transport-Security" in response.headers, dict(response.headers)
assert "Content-Security-Policy" in response.headers, dict(response.headers)
assert "sessionid" not in response.cookies, "an anonymous visitor got a session"
print("login page: 200, HSTS and CSP present, no session cookie")
'
