#!/bin/sh
# Entrypoint of the example app; see the Dockerfile for its controls.
# Long waits run as `sleep & wait`, because sh runs a trap only after a
# foreground command ends, and wait returns as soon as a trapped signal comes.
set -eu

port=${PORT:-8080}
host=${LISTEN:-${HOST:-0.0.0.0}}  # bluegreen passes HOST=127.0.0.1 with network: host
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

fail() {
    kill "$httpd_pid" 2>/dev/null || true
    wait "$httpd_pid" 2>/dev/null || true
    echo "failing as asked (FAIL_AFTER=$FAIL_AFTER): 500 on all but /health" >&2
    nc -ll -p "$port" -e /bin/sh /app/fail.sh &  # (busybox nc cannot bind one address)
    httpd_pid=$!
}

trap stop TERM INT
trap crash USR1
trap fail USR2

if [ -n "${CRASH_AFTER:-}" ]; then
    (sleep "$CRASH_AFTER" && kill -USR1 $$) &
fi
if [ -n "${FAIL_AFTER:-}" ]; then
    (sleep "$FAIL_AFTER" && kill -USR2 $$) &
fi

mkdir -p "$www"
printf '%s' "$version" >"$www/version"
cp -r /app/static "$www/static"
asset=$(cd "$www" && ls static/app.*.js)
printf 'bluegreen example app, version %s\n<script src="/%s"></script>\n' "$version" "$asset" \
    >"$www/index.html"
mkdir -p "$www/cgi-bin"  # the client address nginx passed (X-Real-IP), for the balancer test
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%%s" "$HTTP_X_REAL_IP"\n' \
    >"$www/cgi-bin/client"
chmod +x "$www/cgi-bin/client"
if [ "${HEALTH:-ok}" != fail ]; then
    printf 'ok' >"$www/health"
fi

if [ -n "${START_DELAY:-}" ]; then
    echo "waiting ${START_DELAY}s before listening (START_DELAY)" >&2
    sleep "$START_DELAY" &
    wait $! || true
fi

httpd -f -p "$host:$port" -h "$www" &
httpd_pid=$!
echo "listening on $host:$port, version $version" >&2
while kill -0 "$httpd_pid" 2>/dev/null; do
    wait "$httpd_pid" || true  # also returns when a signal came (FAIL_AFTER swaps the server)
done
echo "httpd exited by itself" >&2
exit 1
