"""What a change tells: each host's history record, the verdict, the notification event,
and the operator's closing table."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from bluegreen.engine.state import NEEDS_ATTENTION, HostRun
from bluegreen.facts.traffic import Traffic
from bluegreen.local.notify import Event
from bluegreen.output.log import Log


def record(run: HostRun, operation: str, operator: str, started: float) -> dict:
    """The history line a host keeps of this change."""
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "operator": operator,
        "operation": operation,
        "release": run.release,
        "from": run.facts.live_color,
        "from_release": run.facts.live_release,
        "to": run.color,
        **({"share": run.share} if run.share < 100 else {}),
        "result": run.outcome,
        "seconds": round(time.time() - started, 2),
        **run.recorded,
    }


def verdict(runs: list[HostRun]) -> str:
    outcomes = {run.outcome for run in runs}
    if outcomes <= {"switched", "already live"}:
        return "succeeded"
    if NEEDS_ATTENTION in outcomes:
        return "failed"
    return "reverted" if "reverted" in outcomes else "failed"


def event(
    name: str, operation: str, app: str, runs: list[HostRun], operator: str, started: float
) -> Event:
    """What webhooks are told (``started``, then the verdict)."""
    return Event(
        event=name,
        operation=operation,
        app=app,
        release=", ".join(sorted({run.release for run in runs if run.release})),
        hosts=tuple(run.name for run in runs),
        operator=operator,
        seconds=round(time.time() - started, 2),
    )


def plans(log: Log, runs: list[HostRun]) -> None:
    """A dry run's end: every host's command plan."""
    for run in runs:
        log.line(f"{run.name}: plan ({run.mode} mode)")
        for command in run.remote.plan:
            for line in command.splitlines():
                log.line(f"    {line}")
    log.line("dry run: nothing was changed")


def serving(run: HostRun) -> Traffic | None:
    """What the host serves after the change, as far as the change knows (see ``known``)."""
    switched = run.outcome in ("switched", "already live")
    return run.target if switched else run.facts.traffic


def known(run: HostRun) -> bool:
    """The host was reached, and no failed switch left it unsure what nginx serves."""
    return run.reached and not (run.holds.nginx and run.outcome == "failed")


def summary(log: Log, runs: list[HostRun], timings: dict[str, float], interrupted: bool) -> None:
    """The final table: what each host did and what it serves now; the time of each phase."""
    rows = [("host", "result", "serves", "ssh round trips")]
    for run in runs:
        traffic = serving(run)
        serves = traffic.describe() if traffic else "nothing"
        if run.attention:
            serves = run.attention
        elif not run.host.web:  # app.processes only
            moved = run.outcome in ("switched", "already live")
            serves = f"processes {run.release}" if moved else "processes as before"
        if not run.attention and not known(run):
            serves = "unknown (not reached)" if not run.reached else "unknown (see fab status)"
        rows.append((run.name, run.outcome, serves, str(run.remote.round_trips)))
    log.table(rows)
    log.line("phases: " + ", ".join(f"{name} {s:.2f} s" for name, s in timings.items()))
    attention = [run.name for run in runs if run.attention]
    if verdict(runs) == "succeeded":
        late = " (interrupted after every switch was verified: nothing to put back)"
        log.line(f"✅ done{late if interrupted else ''}")
    elif attention:
        log.line(
            f"❌ {'interrupted' if interrupted else 'failed'}: {', '.join(attention)} needs"
            " attention (its revert failed; nothing was stopped there: docs/guides/recovery.md);"
            " every other host serves what the table says"
        )
    elif interrupted:
        log.line("❌ interrupted: every host serves what the table says")
    else:
        log.line("❌ failed: every host serves what the table says")
    log.summary(
        {
            "verdict": verdict(runs),
            "interrupted": interrupted,
            "needs_attention": attention,
            "hosts": [dict(zip(rows[0], row, strict=True)) for row in rows[1:]],
            "phases": {name: round(seconds, 3) for name, seconds in timings.items()},
        }
    )
