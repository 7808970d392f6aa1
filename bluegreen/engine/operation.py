"""The engine's contract with an operation, and the per-host pieces operations share.

``Change.run`` is handed an ``Operation``: it asks it for each host's target (choose), the
phases that stage a batch (stages), whether a staged batch may switch together (agree),
how to put a host's staged color back (undo) and what a switched host tidies at its
finish (tidy). Operations import these shared pieces from here, never from another
operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from bluegreen.config.inventory import Host
from bluegreen.engine.state import HostRun, Phase
from bluegreen.errors import Refused
from bluegreen.shell import runtime

if TYPE_CHECKING:
    from bluegreen.engine.change import Change

HostStep = Callable[[HostRun], None]
Stages = tuple[tuple[Phase, HostStep], ...]  # phases that stage a batch, before its health


class Operation(Protocol):
    """One operation's per-host steps. ``agree`` and ``tidy`` have defaults (nothing to
    judge, nothing to tidy) that an operation inherits by subclassing this protocol."""

    def choose(self, run: HostRun) -> None:
        """Set the host's target (color, release), mark it already live, or refuse."""
        ...

    def stages(self) -> Stages:
        """The phases that stage a batch before its health checks (usually one)."""
        ...

    def undo(self, run: HostRun) -> None:
        """Put back what the stages started on a host (the batch is not switched)."""
        ...

    def agree(self, batch: list[HostRun]) -> None:
        """Refuse a staged batch that may not switch together (e.g. different images)."""

    def tidy(self, run: HostRun) -> str:
        """A command run with a switched host's finish (e.g. prune old images); '' for none."""
        return ""

    def ready(self, run: HostRun) -> None:
        """Put the target release on a host without web (``web: false``) for its processes
        (e.g. its image); nothing when it is there already."""


def names(hosts: list[Host]) -> str:
    return ", ".join(h.name for h in hosts)


def no_split(run: HostRun) -> None:
    """Refuse a change that would replace or drop a color while a split still sends it traffic."""
    if run.facts.split is not None and run.facts.traffic is not None:
        raise Refused(
            f"traffic is split ({run.facts.traffic.describe()}): `fab promote` or `fab abort` first"
        )


def start(change: Change, run: HostRun) -> None:
    """Run the target release as the target color (its image, or its release directory),
    env from a 0600 file."""
    inv = change.inventory
    runs = runtime.of(inv.app)
    run.holds.started_color(retire=runs.retire(run.host, run.color))
    env = inv.env_for(run.host)
    command, env_text = runs.run(run.color, run.release, run.host, inv.ports, env)
    timeout = 120 + inv.app.stop_timeout  # a warm standby set aside is stopped first
    run.remote.run(command, stdin=env_text, timeout=timeout, what=f"start {run.color}")
    change.log.ok(run.name, f"start: {runs.name(run.color)} runs {run.release}")
