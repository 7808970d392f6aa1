"""A batch that failed is put back, by what its hosts' ``Holds`` say this run did there:
REVERT points nginx back where it was touched, UNDO stops the colors it started and puts
the processes back, then the hosts rejoin the load balancer. A host whose revert failed
(or that hit a bug after touching something) may still serve its new color: it keeps
every color running and is reported as needing attention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bluegreen.engine import balancer, checks
from bluegreen.engine.operation import Operation
from bluegreen.engine.state import NEEDS_ATTENTION, HostRun, Phase

if TYPE_CHECKING:
    from bluegreen.engine.change import Change


def put_back(change: Change, group: list[HostRun], plan: Operation) -> None:
    """Point touched hosts back, then undo what was started, but only where nothing or a
    verified revert points nginx away from it."""
    touched = [run for run in group if run.holds.nginx and not run.bug]
    change.phase(Phase.REVERT, touched, change.switcher.revert)
    for run in group:
        failed_revert = run in touched and run.outcome != "reverted"
        if failed_revert or (run.bug and (run.holds.started or run.holds.nginx)):
            attend(change, run)
    undo = [run for run in group if run.holds.started and not run.attention]
    change.phase(Phase.UNDO, undo, plan.undo)
    moved = [run for run in group if run.holds.moved_processes and not run.attention]
    change.phase(Phase.UNDO, moved, change.processes.restore)
    # serving what it served before: back in rotation; one that needs attention stays out
    balancer.rejoin_batch(change, [run for run in group if not run.attention], wait=False)


def attend(change: Change, run: HostRun) -> None:
    """A host whose revert failed: ask its public port once what it serves, and say that
    it needs attention (in the log, the closing table and its history line)."""
    port, client = checks.public(change.inventory)
    health = change.inventory.app.health
    seen = checks.serving(run.remote, port, health.path, health.timeout, client)
    kept = "both colors" if run.facts.traffic is not None else run.color
    run.attention = f"{seen.describe() if seen else 'unknown'}, {kept} kept running"
    run.outcome = NEEDS_ATTENTION
    run.recorded["serves"] = run.attention
    change.log.warn(
        run.name,
        f"needs attention: its revert failed, so nothing is stopped or removed; port {port}"
        f" serves {run.attention} (docs/guides/recovery.md)",
    )
