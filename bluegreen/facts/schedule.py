"""The scheduled jobs of a host as ``fab status`` shows them: the schedule, the last and the
next run, and the release the last run used (read by ``shell.schedule.probe``).

systemd says when its timer ran last and runs next; a Docker scheduler says only the slot
it ran last, so the next run is computed here from the job's ``every`` or ``cron`` (UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bluegreen.config.inventory import ScheduledJob
from bluegreen.facts import pairs

_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_LOOK_AHEAD = 366 * 4  # days: a cron of Feb 29 runs once in four years


def read(jobs: tuple[ScheduledJob, ...], output: str, now: float) -> dict[str, dict]:
    """Each job of ``output`` (``job_<name>=<last>|<next>|<release>``, the probe's lines):
    ``{"schedule", "last", "next", "release"}`` with ISO times (UTC) or None."""
    found = {key.removeprefix("job_"): value for key, value in pairs(output).items()}
    records = {}
    for job in jobs:
        if job.name not in found:
            continue
        last, upcoming, release = [*found[job.name].split("|", 2), "", ""][:3]
        last_at = _moment(last, _slot_seconds(job))
        next_at = _moment(upcoming, 0) or _iso(next_run(job, now))
        records[job.name] = {
            "schedule": f"every {job.every} s" if job.every is not None else f"cron {job.cron}",
            "last": last_at,
            "next": next_at,
            "release": release or None,
        }
    return records


def _slot_seconds(job: ScheduledJob) -> int:
    """A Docker scheduler's slot length: ``every``, or a minute for cron."""
    return job.every or 60


def _moment(value: str, slot: int) -> str | None:
    """``@epoch`` (systemd's ``--timestamp=unix``) or ``#slot`` (a Docker scheduler's) as
    ISO; systemd's own words when it printed no epoch; None for none (``n/a``, empty)."""
    value = value.strip()
    if value.startswith("@") and value[1:].isdigit():
        return _iso(int(value[1:]))
    if value.startswith("#") and value[1:].isdigit():
        return _iso(int(value[1:]) * slot)
    return None if value in ("", "n/a", "0") else value


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def next_run(job: ScheduledJob, after: float) -> float | None:
    """The first run after ``after`` (epoch seconds): the next multiple of ``every``, or the
    next minute the cron names (None if none within four years)."""
    if job.every is not None:
        return (int(after) // job.every + 1) * job.every
    minutes, hours, days, months, weekdays = (
        _field(text, low, high)
        for text, (low, high) in zip((job.cron or "").split(), _CRON_RANGES, strict=True)
    )
    weekdays = {0 if day == 7 else day for day in weekdays}
    start = datetime.fromtimestamp(int(after) // 60 * 60 + 60, UTC)
    for offset in range(_LOOK_AHEAD):
        day = (start + timedelta(days=offset)).date()
        if day.month not in months or day.day not in days or (day.isoweekday() % 7) not in weekdays:
            continue
        for hour in sorted(hours):
            for minute in sorted(minutes):
                moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                if moment >= start:
                    return moment.timestamp()
    return None


def _field(text: str, low: int, high: int) -> set[int]:
    """One cron field (``*``, ``N``, ``A-B``, each with ``/STEP``; lists) as its numbers."""
    numbers: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = low, high
        else:
            first_text, _, last_text = span.partition("-")
            first = int(first_text)
            last = int(last_text) if last_text else (high if step else first)
        numbers.update(range(first, last + 1, int(step or 1)))
    return numbers
