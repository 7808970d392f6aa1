"""A change's end on every host, also after a failure or an interrupt: its history line,
what this run still holds there given back (the lock, a balancer drain cut off) and, on a
switched host, what it set aside dropped; then the operator's report."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bluegreen.engine import monitoring, report
from bluegreen.engine.operation import Operation
from bluegreen.engine.state import HostRun, Phase
from bluegreen.errors import BluegreenError
from bluegreen.shell import history, lock, nginx

if TYPE_CHECKING:
    from bluegreen.engine.change import Change

LOCK_LEFT = "its lock stays until it expires or the next run from this machine takes it over"


def end(change: Change, plan: Operation) -> None:
    """On every host: history and unlock; sessions closed; then the operator's report."""
    locked = [run for run in change.runs if run.holds.lock]
    change.phase(Phase.FINISH, locked, lambda run: step(change, plan, run))
    for run in change.runs:
        run.remote.close()
    if change.options.dry_run:
        report.plans(change.log, change.runs)
    else:
        report.summary(change.log, change.runs, change.runner.timings, change.interrupted)


def step(change: Change, plan: Operation, run: HostRun) -> None:
    """Write the host's history line and give its lock back (a switched host also drops
    the container it set aside, and old images), in one round trip. A host lost by then
    keeps its lock (a warning): what it serves is already settled."""
    app, holds = change.app, run.holds
    record = report.record(run, change.operation, change.lock.holder, change.started)
    app_dir = run.host.app_dir
    command = lock.release(app_dir, change.lock.token)
    if run.reached:  # its facts were read: the history line has something to say
        unmark = lock.unmark(app_dir, change.lock.token)  # only once the line is written
        command = f"{history.append(app_dir, json.dumps(record))} && {unmark}; {command}"
    if change.inventory.metrics:
        command += f"; {monitoring.finish(change.inventory, run, change.operation)}"
    if holds.drained and not run.attention:  # cut off between leaving and rejoining
        command = f"{nginx.rejoin(app)}; {command}"
    if run.outcome == "switched" and (tidy := plan.tidy(run)):
        command = f"{tidy}\n{command}"
    if run.outcome == "switched" and holds.prune:  # the old TLS pair, now that it verified
        command = f"{holds.prune}\n{command}"
    if holds.retire and run.outcome == "switched":  # first: its image may then be pruned
        command = f"{holds.retire}; {command}"
    try:
        output = run.remote.run(command, what="history and unlock")
    except BluegreenError as error:
        change.settled(run, error, LOCK_LEFT)
        return
    holds.without_lock()
    pruned = [line[7:] for line in output.splitlines() if line.startswith("pruned=")]
    if pruned:
        change.log.ok(run.name, f"prune: removed {len(pruned)} old image(s): {' '.join(pruned)}")
    for warning in (line for line in output.splitlines() if line.startswith("warning: ")):
        change.log.warn(run.name, warning.removeprefix("warning: "))  # e.g. a metrics file
