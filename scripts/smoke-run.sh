#!/usr/bin/env bash
# Prove that `make run` works: start it in the background, wait for /healthz/, log in with a
# demo login, see the worker and beat come up, then press "Ctrl-C" (SIGINT to its process
# group, as a terminal does) and check that everything stopped.
#
#   scripts/smoke-run.sh            # on a free port, or SMOKE_PORT
set -euo pipefail
cd "$(dirname "$0")/.."

# A free port unless told otherwise: other servers may be running on this machine.
port="${SMOKE_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 8765)}"
base="http://127.0.0.1:$port"
log="var/smoke-run.log"
mkdir -p var
: >"$log"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "error: something already listens on port $port (set SMOKE_PORT)." >&2
    exit 1
fi

# setsid: make, honcho and the three processes get a process group of their own, so the
# "Ctrl-C" below reaches all of them and nothing else.
pages_failed=false
setsid make --no-print-directory run PORT="$port" >"$log" 2>&1 </dev/null &
group=$!
stop() {
    kill -INT -- "-$group" 2>/dev/null || true
}
trap 'stop; sleep 3; kill -KILL -- "-$group" 2>/dev/null || true' EXIT

echo "==> make run PORT=$port (log: $log)"
for i in $(seq 600); do
    if curl -fsS -o /dev/null "$base/healthz/" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$group" 2>/dev/null; then
        echo "error: make run exited early:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    sleep 0.5
    if [[ $i == 600 ]]; then
        echo "error: no answer on $base/healthz/ after 5 minutes:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
done
echo "healthz: $(curl -fsS "$base/healthz/")"

# The first lines make run printed, up to the processes' own output.
sed -n '1,/Ctrl-C stops/p' "$log"

.venv/bin/python - "$base" <<'PY' || pages_failed=true
"""Log in the way a browser does: GET the form, POST it with the CSRF token, follow on."""
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

base = sys.argv[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def fetch(path, data=None):
        try:
            with opener.open(base + path, data=data, timeout=30) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode(errors="replace")

    return jar, fetch


def log_in(email):
    jar, fetch = browser()
    status, _, html = fetch("/accounts/login/")
    assert status == 200, f"GET /accounts/login/ gave {status}"
    assert not any(c.name == "sessionid" for c in jar), "an anonymous visitor got a session cookie"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    form = {"csrfmiddlewaretoken": token, "username": email, "password": "cloudstamp-demo"}
    status, _, _ = fetch("/accounts/login/", urllib.parse.urlencode(form).encode())
    assert status == 302, f"{email}: login POST gave {status} (wrong password or form?)"
    assert any(c.name == "sessionid" for c in jar), f"{email}: no session after logging in"
    status, headers, _ = fetch("/")
    landing = headers.get("Location", "")
    assert status == 302 and "/accounts/login/" not in landing, (email, status, landing)
    status, _, _ = fetch(landing)
    print(f"login: {email} signed in, lands on {landing}: {status}")
    assert status == 200, f"{email}: {landing} gave {status}"


failures = []
for email in ("olivia@contoso.test", "admin@cloudstamp.test"):
    try:
        log_in(email)
    except AssertionError as error:
        failures.append(str(error))
        print(f"error: {error}")
_, fetch = browser()
status, _, _ = fetch("/static/vendor/bootstrap/css/bootstrap.min.css")
print(f"static: /static/vendor/bootstrap/css/bootstrap.min.css {status}")
if status != 200:
    failures.append("bootstrap.min.css")
sys.exit(1 if failures else 0)
PY

for _ in $(seq 60); do
    grep -q "@.* ready\\." "$log" && grep -q "beat: Starting" "$log" && break
    sleep 0.5
done
grep -m1 "@.* ready\\." "$log" || { echo "error: the worker did not report ready" >&2; exit 1; }
grep -m1 "beat: Starting" "$log" || { echo "error: beat did not start" >&2; exit 1; }

echo "==> Ctrl-C"
stop
for _ in $(seq 40); do
    kill -0 "$group" 2>/dev/null || break
    sleep 0.5
done
trap - EXIT
if kill -0 "$group" 2>/dev/null || pgrep -g "$group" >/dev/null; then
    echo "error: processes survived Ctrl-C:" >&2
    pgrep -a -g "$group" >&2 || true
    kill -KILL -- "-$group" 2>/dev/null || true
    exit 1
fi
tail -n 4 "$log"
if $pages_failed; then
    echo "smoke run: FAILED (a page did not load; see $log)" >&2
    exit 1
fi
echo "smoke run: OK (all processes stopped)"
