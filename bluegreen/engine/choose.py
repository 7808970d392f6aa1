"""A change's second phase: each web host's target, as the operation chooses it; hosts
without web (``web: false``) then take the release the web hosts move to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bluegreen.engine.operation import Operation
from bluegreen.engine.state import HostRun, Step
from bluegreen.errors import Refused

if TYPE_CHECKING:
    from bluegreen.engine.change import Change


def target(plan: Operation, steps: tuple[Step, ...], run: HostRun) -> None:
    if not run.host.web:
        return  # its release is the web hosts' (``follow_web``)
    plan.choose(run)
    splits = min(step.share for step in steps) < 100
    if splits and run.outcome != "already live" and run.facts.traffic is None:
        raise Refused("nothing serves here yet, so there is nothing to split with")


def follow_web(change: Change, release: str | None) -> bool:
    """Hosts without web take the release the web hosts of this run move to."""
    others = [run for run in change.runs if not run.host.web]
    if not others:
        return True
    moving = {run.release for run in change.runs if run.host.web and run.outcome != "already live"}
    releases = (moving or {release}) - {None, ""}
    if len(releases) != 1:
        change.log.line(
            f"❌ hosts without web ({', '.join(run.name for run in others)}) follow the"
            " release the web hosts of the same run move to; this run moves"
            f" {' and '.join(sorted(releases)) or 'none'}: name the web hosts in -H too"
        )
        return False
    (chosen,) = releases
    for run in others:
        run.release = chosen
    return True
