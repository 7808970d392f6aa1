"""Commands for ``app.schedule``: each job runs once per time slot, on its one host, in the
live release.

``runtime: process`` uses systemd timers: ``bluegreen-<app>-schedule-<job>.timer`` starts a
oneshot service in ``<app_dir>/schedule-<job>.release`` (a link to the live release), so a
deploy re-points the link and a job already running finishes on the release it started
with; systemd never starts a running service twice.

Docker hosts may have no systemd (nor cron), so there the job's host runs a scheduler
container ``<app>-schedule-<job>`` of the live release (a process of ``app.processes``: it
moves as workers do). Its loop (``LOOP``, POSIX sh) runs the job in the foreground at each
slot, so a stop waits for a running job (up to the job's ``stop_timeout``), and prints
``bluegreen-slot=N`` for each slot it ran: the next release's scheduler starts after that
slot (``BLUEGREEN_LAST_SLOT``) and runs late, once each, the slots that passed in between
(at most 10); a scheduler started again remembers its own last slot (a file in the
container). So no slot runs twice, and none is lost, across a deploy or a put-back.
"""

from __future__ import annotations

from shlex import quote

from bluegreen.config.inventory import App, AppProcess, Host, ScheduledJob
from bluegreen.shell import process
from bluegreen.shell import release as releases

PREFIX = "schedule-"
SLOT = "bluegreen-slot="
RELEASE = "bluegreen-release="  # a systemd job's first line: the release it runs (status)

# $1 every (seconds, or empty for cron), $2 cron, $3 the job's command; slots are epoch
# seconds divided by the interval (a minute for cron), in UTC
LOOP = r"""every=$1 cron=$2 job=$3
set -f  # a cron field's * is no file name pattern
stop=0
trap 'stop=1' TERM INT
matches() { # VALUE LIST LOW: does the cron field LIST match VALUE
  for part in $(echo "$2" | tr , ' '); do
    step=1 range=$part
    case $part in */*) step=${part#*/} range=${part%/*};; esac
    case $range in
      '*') low=$3 high=99;;
      *-*) low=${range%-*} high=${range#*-};;
      *) low=$range high=$range; [ "$step" = 1 ] || high=99;;
    esac
    [ "$1" -ge "$low" ] && [ "$1" -le "$high" ] && [ $(( ($1 - low) % step )) = 0 ] && return 0
  done
  return 1
}
due() { # EPOCH: the cron matches its minute
  set -- $(date -u -d "@$1" '+%M %H %d %m %w')
  v1=${1#0} v2=${2#0} v3=${3#0} v4=${4#0} v5=$5
  set -- $cron
  matches "$v1" "$1" 0 && matches "$v2" "$2" 0 && matches "$v3" "$3" 1 &&
    matches "$v4" "$4" 1 && { matches "$v5" "$5" 0 || { [ "$v5" = 0 ] && matches 7 "$5" 0; }; }
}
size=${every:-60}
catch_up=10  # slots run late that passed while no scheduler ran (a handover)
memory=/tmp/.bluegreen-slot  # in the container: the last slot it ran, kept over a restart
last=$(cat "$memory" 2>/dev/null || echo "${BLUEGREEN_LAST_SLOT:-$(( $(date +%s) / size ))}")
while [ "$stop" = 0 ]; do
  now=$(date +%s)
  slot=$(( now / size ))
  [ $(( slot - last )) -le "$catch_up" ] || last=$(( slot - 1 ))  # down long: this slot only
  while [ "$last" -lt "$slot" ] && [ "$stop" = 0 ]; do  # each slot since the last one run
    last=$(( last + 1 ))
    if [ -n "$every" ] || due $(( last * size )); then
      echo "bluegreen-slot=$last"
      echo "$last" 2>/dev/null >"$memory"
      BLUEGREEN_SLOT=$last sh -c "$job" || echo "job failed (exit $?) in slot $last"
    fi
  done
  sleep 1
done
"""


def as_process(job: ScheduledJob) -> AppProcess:
    """The scheduler container of a job on Docker: a process on the job's host."""
    loop = (
        f"exec sh -c {quote(LOOP)} bluegreen-schedule {quote(str(job.every or ''))}"
        f" {quote(job.cron or '')} {quote(job.command)}"
    )
    return AppProcess(f"{PREFIX}{job.name}", loop, (job.host,), "SIGTERM", job.stop_timeout)


def handover(name: str) -> str:
    """``docker run`` flag: the last slot the set-aside scheduler ran."""
    slots = f"docker logs --tail 1000 {quote(name + '-prev')} 2>&1 | sed -n 's/^{SLOT}//p'"
    return f' -e BLUEGREEN_LAST_SLOT="$({slots} | tail -n 1)"'


# --- runtime: process: systemd timers ---------------------------------------------------


def unit(app: str, job: str, kind: str) -> str:
    return f"bluegreen-{app}-{PREFIX}{job}.{kind}"


def on_calendar(job: ScheduledJob) -> str:
    """systemd's ``OnCalendar`` for ``every`` seconds or the cron fields (numbers, lists,
    ranges ``A..B`` and steps), in UTC."""
    if job.every is not None:
        return f"*-*-* *:*:00/{job.every} UTC"
    minute, hour, day, month, weekday = (f.replace("-", "..") for f in (job.cron or "").split())
    days = "" if weekday == "*" else f"{_weekdays(weekday)} "
    return (
        f"{days}*-{_calendar(month)}-{_calendar(day)} {_calendar(hour)}:{_calendar(minute)}:00 UTC"
    )


def _calendar(field: str) -> str:
    """A cron field in systemd's words: ``*/5`` is ``00/5``."""
    return ",".join(f"00{part[1:]}" if part.startswith("*/") else part for part in field.split(","))


def _weekdays(field: str) -> str:
    names = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return ",".join("..".join(names[int(n)] for n in part.split("..")) for part in field.split(","))


def units(app: App, job: ScheduledJob, app_dir: str) -> tuple[str, str]:
    """The job's oneshot service (the app's env file, limits, user) and its timer."""
    service = "\n".join(
        [
            f"# bluegreen app={app.name} schedule={job.name}",
            "[Unit]",
            f"Description=bluegreen {app.name} scheduled job {job.name}",
            "",
            "[Service]",
            "Type=oneshot",
            f"WorkingDirectory={process.link(app_dir, PREFIX + job.name)}",
            f"EnvironmentFile={app_dir}/_processes.env",
            # the journal keeps which release each run used (``fab status``)
            f"ExecStartPre=/bin/sh -c {process.systemd_quote(_SAY_RELEASE)}",
            f"ExecStart=/bin/sh -c {process.systemd_quote(job.command)}",
            f"TimeoutStopSec={job.stop_timeout}",
            *process.limits(app),
            "",
        ]
    )
    timer = "\n".join(
        [
            f"# bluegreen app={app.name} schedule={job.name}",
            "[Unit]",
            f"Description=bluegreen {app.name} scheduled job {job.name}",
            "",
            "[Timer]",
            f"OnCalendar={on_calendar(job)}",
            "AccuracySec=1s",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    return service, timer


_SAY_RELEASE = f'echo {RELEASE}"$(basename "$(pwd -P)")"'
JOURNAL_LINES = 2000  # how far back status looks for the last run's release


def probe(app: App, host: Host) -> str:
    """``job_<name>=<last>|<next>|<release>`` for each scheduled job whose host this is:
    its last and next run (``@epoch``; on Docker ``#slot`` and no next: the scheduler
    computes none ahead) and the release of its last run. Nothing for a job not set up."""
    jobs = [job for job in app.schedule if job.host == host.name]
    if not jobs:
        return ""
    if app.runtime == "process":
        return "\n".join([_WHEN, *(_timer_probe(app.name, job) for job in jobs)])
    return "\n".join(_scheduler_probe(app.name, job) for job in jobs)


# a timer's time property ($1 of unit $2) as @epoch: systemctl prints it in words (its
# --timestamp=unix does not apply to these), or n/a before the first run
_WHEN = (
    'bg_when() { v=$(systemctl show --value -p "$1" "$2");'
    ' case $v in ""|n/a) ;; *) date -u -d "$v" +@%s 2>/dev/null;; esac; }'
)


def _timer_probe(app: str, job: ScheduledJob) -> str:
    timer, service = quote(unit(app, job.name, "timer")), quote(unit(app, job.name, "service"))
    released = (
        f"journalctl -u {service} -o cat --no-pager -n {JOURNAL_LINES} 2>/dev/null"
        f" | sed -n 's/^{RELEASE}//p' | tail -n 1"
    )
    return (
        f'if [ -e {process.UNIT_DIR}/{timer} ]; then echo "job_{job.name}='
        f"$(bg_when LastTriggerUSec {timer})|$(bg_when NextElapseUSecRealtime {timer})"
        f'|$({released})"; fi'
    )


def _scheduler_probe(app: str, job: ScheduledJob) -> str:
    """The last slot run by the job's scheduler container (or the one set aside, when the
    new one has run none yet) and that container's release."""
    name = f"{app}-{PREFIX}{job.name}"
    label = quote('{{index .Config.Labels "bluegreen.release"}}')
    return (
        f"for c in {quote(name)} {quote(name + '-prev')}; do"
        f' r=$(docker container inspect -f {label} "$c" 2>/dev/null) || continue;'
        f" s=$(docker logs --tail 1000 \"$c\" 2>&1 | sed -n 's/^{SLOT}//p' | tail -n 1);"
        f' if [ -n "$s" ] || [ "$c" = {quote(name)} ]; then'
        f' echo "job_{job.name}=${{s:+#$s}}||${{s:+$r}}"; [ -z "$s" ] || break; fi; done'
    )


def install_timer(app: App, job: ScheduledJob, release: str, host: Host) -> str:
    """Point the job at ``release`` and make sure its timer runs (the units rewritten only
    when they changed)."""
    service, timer = units(app, job, host.app_dir)
    link = quote(process.link(host.app_dir, PREFIX + job.name))
    return (
        f"{process.ensure_user(app, host.app_dir)}"
        f"{process.write_unit(unit(app.name, job.name, 'service'), service)}"
        f" && {process.write_unit(unit(app.name, job.name, 'timer'), timer)}"
        f" && ln -sfn {quote(releases.directory(host.app_dir, release))} {link}.new"
        f" && mv -fT {link}.new {link}"
        f" && systemctl enable --now -q {quote(unit(app.name, job.name, 'timer'))}"
    )


def remove_timer(app: str, job: ScheduledJob, app_dir: str) -> str:
    """The job no longer runs on this host (its ``host`` changed)."""
    timer = quote(unit(app, job.name, "timer"))
    return (
        f"if [ -e /etc/systemd/system/{timer} ]; then systemctl disable --now -q {timer};"
        f" rm -f /etc/systemd/system/{timer}"
        f" /etc/systemd/system/{quote(unit(app, job.name, 'service'))}"
        f" {quote(process.link(app_dir, PREFIX + job.name))}; fi"
    )
