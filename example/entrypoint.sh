#!/bin/sh
# Entrypoint of the example app; see the Dockerfile for its controls.
# Long waits run as `sleep & wait`, because sh runs a trap only after a
# foreground command ends, and wait returns as soon as a trapped signal comes.
set -eu

port=${PORT:-8080}
version=${APP_VERSION:-$(cat /app/VERSION)}
www=/tmp/www
httpd_pid=

stop() {
    [ -n "$httpd_pid" ] && kill "$httpd_pid" 2>/dev/null
    echo "stopped (version $version)" >&2
    exit 0
}

crash() {
    [ -n "$httpd_pid" ] && kill -9 "$httpd_pid" 2>/dev/null
    echo "crashing as asked (CRASH_AFTER=$CRASH_AFTER)" >&2
    exit 1
}

trap stop TERM INT
trap crash USR1

if [ -n "${CRASH_AFTER:-}" ]; then
    (sleep "$CRASH_AFTER" && kill -USR1 $$) &
fi

mkdir -p "$www"
printf '%s' "$version" >"$www/version"
printf 'bluegreen example app, version %s\n' "$version" >"$www/index.html"
if [ "${HEALTH:-ok}" != fail ]; then
    printf 'ok' >"$www/health"
fi

if [ -n "${START_DELAY:-}" ]; then
    echo "waiting ${START_DELAY}s before listening (START_DELAY)" >&2
    sleep "$START_DELAY" &
    wait $! || true
fi

httpd -f -p "0.0.0.0:$port" -h "$www" &
httpd_pid=$!
echo "listening on 0.0.0.0:$port, version $version" >&2
wait "$httpd_pid" || true
echo "httpd exited by itself" >&2
exit 1
