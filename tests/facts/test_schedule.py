"""Scheduled jobs as status reads them: systemd's timer times, a Docker scheduler's slot,
the next run computed from every/cron (UTC)."""

from datetime import UTC, datetime

from bluegreen.config.inventory import ScheduledJob
from bluegreen.facts import schedule

TICK = ScheduledJob("tick", "x", every=10, host="web1")
REPORT = ScheduledJob("report", "x", cron="*/5 1-5 * * 1,3,7", host="web1")
NOON = datetime(2026, 12, 6, 12, 0, 3, tzinfo=UTC).timestamp()  # a Sunday


def _at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


def test_systemd_timer_times_and_the_release_of_the_last_run():
    last, upcoming = int(_at(2026, 12, 6, 12, 0)), int(_at(2026, 12, 6, 12, 0, 10))
    monday = int(_at(2026, 12, 7, 1, 0))
    output = f"job_tick=@{last}|@{upcoming}|1a2b3c4d5e6f\njob_report=n/a|@{monday}|\n"
    found = schedule.read((TICK, REPORT), output, NOON)
    assert found["tick"] == {
        "schedule": "every 10 s",
        "last": "2026-12-06T12:00:00+00:00",
        "next": "2026-12-06T12:00:10+00:00",
        "release": "1a2b3c4d5e6f",
    }
    assert found["report"] == {  # never ran
        "schedule": "cron */5 1-5 * * 1,3,7",
        "last": None,
        "next": "2026-12-07T01:00:00+00:00",
        "release": None,
    }


def test_a_docker_scheduler_s_slot_is_its_last_run_and_the_next_is_computed():
    slot = int(_at(2026, 12, 6, 11, 59, 50)) // 10
    found = schedule.read((TICK, REPORT), f"job_tick=#{slot}||1a2b3c4d5e6f\n", NOON)
    assert found == {
        "tick": {
            "schedule": "every 10 s",
            "last": "2026-12-06T11:59:50+00:00",
            "next": "2026-12-06T12:00:10+00:00",
            "release": "1a2b3c4d5e6f",
        }
    }  # report: not set up on this host, not shown


def test_the_next_cron_run_matches_systemd_s_calendar():
    assert schedule.next_run(REPORT, NOON) == _at(2026, 12, 7, 1, 0)  # Monday 01:00
    assert schedule.next_run(REPORT, _at(2026, 12, 7, 1, 0)) == _at(2026, 12, 7, 1, 5)
    assert schedule.next_run(REPORT, _at(2026, 12, 7, 5, 55)) == _at(2026, 12, 9, 1, 0)  # Wed
    leap = ScheduledJob("leap", "x", cron="0 0 29 2 *")
    assert schedule.next_run(leap, NOON) == _at(2028, 2, 29)
    assert schedule.next_run(TICK, NOON) == _at(2026, 12, 6, 12, 0, 10)
