#!/usr/bin/env bash
# Make sure a Redis server answers on REDIS_URL (default redis://127.0.0.1:6379/0).
#
# If none answers, the URL points at this machine and redis-server is installed, start one
# that keeps nothing on disk. Otherwise fail with what to do, or with --optional only warn
# (tests that need Redis then skip with a visible reason; under CI=true they fail).
set -euo pipefail

optional=false
[[ "${1:-}" == "--optional" ]] && optional=true

cd "$(dirname "$0")/.."
url="${REDIS_URL:-redis://127.0.0.1:6379/0}"

# redis://[user:password@]host[:port][/db]
hostport="${url#*://}"
hostport="${hostport##*@}"
hostport="${hostport%%/*}"
host="${hostport%:*}"
port="${hostport##*:}"
[[ "$host" == "$hostport" ]] && port=6379
host="${host:-127.0.0.1}"
port="${port:-6379}"

answers() {
    # A bare PING over bash's /dev/tcp, so redis-cli need not be installed; -NOAUTH still
    # means "a Redis answers". timeout guards against a host that drops packets.
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "PING\r\n" >&3
        read -r -t 2 reply <&3 || exit 1
        [[ "$reply" == +PONG* || "$reply" == -NOAUTH* ]]' "$host" "$port" 2>/dev/null
}

if answers; then
    exit 0
fi

give_up() {
    if $optional; then
        echo "warning: $1" >&2
        exit 0
    fi
    echo "error: $1" >&2
    exit 1
}

case "$host" in
    127.0.0.1 | localhost | ::1 | "[::1]") ;;
    *) give_up "no Redis answers on $url (not this machine, so not starting one)." ;;
esac

command -v redis-server >/dev/null \
    || give_up "no Redis answers on $url; install one (apt-get install redis-server) or set REDIS_URL."

mkdir -p var
echo "==> Starting redis-server on 127.0.0.1:$port (keeps nothing on disk; log in var/redis.log)"
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$PWD/var" --logfile "$PWD/var/redis.log" --pidfile "$PWD/var/redis.pid"

for _ in $(seq 50); do
    answers && exit 0
    sleep 0.1
done
give_up "started redis-server but it does not answer on $url; see var/redis.log."
