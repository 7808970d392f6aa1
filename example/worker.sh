#!/bin/sh
# The example app's job worker (app.processes): takes jobs from the Redis list `jobs` (or
# $1) and records on Redis's own clock when it came up and went down and when each job
# started and ended, with its version and host, in the list `events` (or $2). A job is
# "ID:SECONDS" (the time it takes). SIGTERM: the job in hand finishes, then the worker
# exits (a graceful stop).
#
#   REDIS_HOST, REDIS_PORT  where Redis listens
#   WORKER_CRASH=1          exit at once with status 1 (a release whose worker cannot start)
#
# `worker.sh tick` is the example's scheduled job: it records "tick SLOT" and exits.
#
# Redis is spoken with busybox nc (inline commands, then QUIT): the image has no client.
set -u
queue=${1:-jobs} events=${2:-events}  # worker.sh [QUEUE [EVENTS]]: other lists than these
version=${APP_VERSION:-$(cat /app/VERSION)}
host=$(hostname)
stop=0
trap 'stop=1' TERM INT  # run when the foreground command (a job, a poll) has ended

redis() {
    printf '%s\r\nQUIT\r\n' "$1" | nc "$REDIS_HOST" "$REDIS_PORT" | tr -d '\r'
}

record() {  # record WHAT: "WHAT VERSION HOST SECONDS.MICROSECONDS" appended to `events`
    script="return redis.call('rpush', KEYS[1], ARGV[1] .. ' ' .. table.concat(redis.call('time'), '.'))"
    for try in 1 2 3 4 5; do  # a connection refused now and then must not lose the record
        case "$(redis "EVAL \"$script\" 1 $events \"$1 $version $host\"")" in :*) return ;; esac
        sleep 0.2
    done
    echo "worker $version: could not record $1" >&2
}

if [ "${1:-}" = tick ]; then  # the example's scheduled job (app.schedule): one event
    record "tick ${BLUEGREEN_SLOT:--}"
    exit 0
fi
if [ -n "${WORKER_CRASH:-}" ]; then
    echo "worker $version: crashing as asked (WORKER_CRASH)" >&2
    exit 1
fi
record up
echo "worker $version: up on $host" >&2
while [ "$stop" = 0 ]; do
    reply=$(redis "LPOP $queue")
    case "$reply" in
        '$-1'* | '') sleep 0.1 ;;  # no job (or Redis unreachable): poll again
        '$'*)
            job=$(printf '%s\n' "$reply" | sed -n 2p)
            record "start ${job%%:*}"
            sleep "${job#*:}"  # in the foreground: a TERM waits for the job to end
            record "end ${job%%:*}"
            ;;
    esac
done
record down
echo "worker $version: stopped" >&2
