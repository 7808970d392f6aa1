"""app.schedule's commands: systemd's calendar from cron, the timer units, and the Docker
scheduler loop's cron matching and catch-up (run by busybox sh, as in the example image)."""

import shutil
import subprocess
import time
from datetime import datetime, timezone

import pytest

from bluegreen.config.inventory import App, Host, ScheduledJob
from bluegreen.shell import schedule

EVERY = ScheduledJob("tick", "sh tick.sh", every=10, host="web1")
CRON = ScheduledJob("report", "exec ./report", cron="*/5 1-5 * * 1,3,7", host="web1")
APP = App(name="shop", runtime="process", command="x", schedule=(EVERY, CRON))
HOST = Host(name="web1", address="203.0.113.10", app_dir="/srv/shop")
SH = shutil.which("busybox")


def test_systemd_calendars_say_what_the_cron_fields_say_in_utc():
    assert schedule.on_calendar(EVERY) == "*-*-* *:*:00/10 UTC"
    assert schedule.on_calendar(CRON) == "Mon,Wed,Sun *-*-* 1..5:00/5:00 UTC"
    daily = ScheduledJob("d", "x", cron="30 4 1-15/2 * *")
    assert schedule.on_calendar(daily) == "*-*-1..15/2 4:30:00 UTC"


def test_the_timer_points_the_job_at_the_release_atomically_and_runs_it_on_its_calendar():
    service, timer = schedule.units(APP, EVERY, "/srv/shop")
    assert "Type=oneshot\nWorkingDirectory=/srv/shop/schedule-tick.release\n" in service
    assert "EnvironmentFile=/srv/shop/_processes.env\nExecStartPre=" in service
    assert "[Timer]\nOnCalendar=*-*-* *:*:00/10 UTC\nAccuracySec=1s\n" in timer
    command = schedule.install_timer(APP, EVERY, "abc", HOST)
    assert command.endswith(
        " && ln -sfn /srv/shop/releases/abc /srv/shop/schedule-tick.release.new"
        " && mv -fT /srv/shop/schedule-tick.release.new /srv/shop/schedule-tick.release"
        " && systemctl enable --now -q bluegreen-shop-schedule-tick.timer"
    )


def test_a_systemd_job_says_its_release_first_and_status_reads_its_timer_and_journal():
    service, _ = schedule.units(APP, EVERY, "/srv/shop")
    assert (
        'ExecStartPre=/bin/sh -c "echo bluegreen-release=\\"$$(basename \\"$$(pwd -P)\\")\\""\n'
        'ExecStart=/bin/sh -c "sh tick.sh"'
    ) in service
    timer = "bluegreen-shop-schedule-tick.timer"
    lines = schedule.probe(APP, HOST).split("\n")
    assert lines[0] == (
        'bg_when() { v=$(systemctl show --value -p "$1" "$2");'
        ' case $v in ""|n/a) ;; *) date -u -d "$v" +@%s 2>/dev/null;; esac; }'
    )
    assert lines[1] == (
        f'if [ -e /etc/systemd/system/{timer} ]; then echo "job_tick='
        f"$(bg_when LastTriggerUSec {timer})|$(bg_when NextElapseUSecRealtime {timer})"
        "|$(journalctl -u bluegreen-shop-schedule-tick.service -o cat --no-pager -n 2000"
        " 2>/dev/null | sed -n 's/^bluegreen-release=//p' | tail -n 1)\"; fi"
    )
    assert schedule.probe(APP, Host(name="web2", address="a", app_dir="/srv/shop")) == ""


def test_on_docker_status_reads_the_scheduler_s_last_slot_and_release():
    app = App(name="shop", schedule=(EVERY,))
    assert schedule.probe(app, HOST) == (
        "for c in shop-schedule-tick shop-schedule-tick-prev; do"
        " r=$(docker container inspect -f '{{index .Config.Labels \"bluegreen.release\"}}'"
        ' "$c" 2>/dev/null) || continue;'
        " s=$(docker logs --tail 1000 \"$c\" 2>&1 | sed -n 's/^bluegreen-slot=//p' | tail -n 1);"
        ' if [ -n "$s" ] || [ "$c" = shop-schedule-tick ]; then'
        ' echo "job_tick=${s:+#$s}||${s:+$r}"; [ -z "$s" ] || break; fi; done'
    )


def test_on_docker_a_job_is_a_scheduler_process_on_its_host():
    process = schedule.as_process(ScheduledJob("tick", "sh 'a b'", every=5, host="web2"))
    assert (process.name, process.hosts, process.stop_timeout) == ("schedule-tick", ("web2",), 30)
    assert process.command.startswith("exec sh -c '")
    assert process.command.endswith("' bluegreen-schedule 5 '' 'sh '\"'\"'a b'\"'\"''")


def _due(cron: str, moment: datetime) -> bool:
    functions = schedule.LOOP.split("size=")[0].split("\n", 4)[4]  # not the trap
    script = f"set -f\n{functions}\ncron='{cron}'\ndue {int(moment.timestamp())}"
    return subprocess.run([SH, "sh", "-c", script]).returncode == 0


@pytest.mark.skipif(SH is None, reason="needs busybox")
@pytest.mark.parametrize(
    ("cron", "moment", "due"),
    [
        ("*/5 1-5 * * 1,3,7", datetime(2026, 12, 7, 1, 5), True),  # a Monday
        ("*/5 1-5 * * 1,3,7", datetime(2026, 12, 7, 1, 8), False),  # minute 08 (not octal)
        ("*/5 1-5 * * 1,3,7", datetime(2026, 12, 6, 5, 55), True),  # Sunday as 7
        ("*/5 1-5 * * 1,3,7", datetime(2026, 12, 8, 2, 0), False),  # a Tuesday
        ("0 9 1-15/7 * *", datetime(2026, 12, 8, 9, 0), True),  # days 1, 8, 15
        ("0 9 1-15/7 * *", datetime(2026, 12, 9, 9, 0), False),
        ("0 0 * 2 *", datetime(2026, 2, 1, 0, 0), True),
    ],
)
def test_the_scheduler_loop_matches_cron_fields_as_cron_does(cron, moment, due):
    assert _due(cron, moment.replace(tzinfo=timezone.utc)) is due


@pytest.mark.skipif(SH is None, reason="needs busybox")
def test_a_new_scheduler_runs_the_slots_that_passed_since_the_last_one_run_then_stops_on_term():
    slot = int(time.time())
    env = {"BLUEGREEN_LAST_SLOT": str(slot - 3), "PATH": "/usr/bin:/bin"}
    loop = subprocess.Popen(
        [SH, "sh", "-c", schedule.LOOP.replace("/tmp/.bluegreen-slot", "/nonexistent/x"), "s",
         "1", "", "echo ran $BLUEGREEN_SLOT"],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(0.5)
    loop.terminate()
    out, _ = loop.communicate(timeout=5)
    ran = [int(line.split()[1]) for line in out.splitlines() if line.startswith("ran ")]
    assert ran[:3] == [slot - 2, slot - 1, slot], out  # late, once each, in order
    assert loop.returncode == 0
