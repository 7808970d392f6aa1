"""Serving a color that is already there: the operation behind rollback, switch, split,
promote and abort.

``serve_color`` starts the color if it is stopped (rollback falls back to the last verified
release in the host's history when that color's container is gone), checks it and switches.
"""

from __future__ import annotations

from collections.abc import Callable

from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine.change import Change
from bluegreen.engine.operation import Operation, Stages, start
from bluegreen.engine.state import HostRun, Options, Phase, Step
from bluegreen.errors import Refused
from bluegreen.facts import pairs, release_id
from bluegreen.output.log import Log
from bluegreen.shell import runtime


def last_verified(run: HostRun) -> str | None:
    """The newest release this host's history says was switched to and verified, not live."""
    for record in reversed(run.facts.history):
        release = record.get("release")
        switched = record.get("result") == "switched" and "share" not in record  # not a split
        if switched and release_id(release) and release != run.facts.live_release:
            return release
    return None


class Serve(Operation):
    """The per-host steps of sending traffic to an existing color."""

    def __init__(self, change: Change, pick: Callable[[HostRun], str]) -> None:
        self.change = change
        self.pick = pick
        self.cold: set[str] = set()  # hosts whose container is gone: run its image again

    @property
    def app(self) -> str:
        return self.change.app

    @property
    def runtime(self) -> runtime.Docker:
        return runtime.of(self.change.inventory.app)

    def choose(self, run: HostRun) -> None:
        run.color = color = self.pick(run)
        container = run.facts.containers.get(color)
        if color == run.facts.live_color:
            run.release = run.facts.live_release or ""
        elif container is not None and container.release:
            run.release = container.release
        elif self.change.operation == "rollback" and (release := last_verified(run)):
            self.from_image(run, release)
        else:
            raise Refused(f"no {color} container ({self.runtime.name(color)}) to switch to")
        if run.target == run.facts.traffic:
            run.outcome = "already live"
            split = run.share < 100
            self.change.log.ok(
                run.name,
                f"already serves {run.target.describe()}" if split else f"{color} is already live",
            )

    def from_image(self, run: HostRun, release: str) -> None:
        """Rollback when the color's container is gone: run the last verified release's image."""
        runs = self.runtime
        name, image = runs.name(run.color), runs.artifact(run.host, release)
        found = run.remote.run(runs.present(run.host, release), what="image", readonly=True)
        if pairs(found).get("image") != "present":
            raise Refused(
                f"cannot roll back: {name} is gone and {runs.kind} {image} (the last verified"
                " release) is not on this host either;"
                f" deploy it again: fab deploy --ref {release}"
            )
        self.change.log.warn(
            run.name,
            f"rollback: {name} is gone; running {release} (the last verified release in"
            " this host's history) from its image again",
        )
        run.release = release
        self.cold.add(run.name)

    def stages(self) -> Stages:
        return ((Phase.STAGE, self.stage),)

    def stage(self, run: HostRun) -> None:
        container = run.facts.containers.get(run.color)
        if run.name in self.cold:
            start(self.change, run)
        elif container is not None and not container.running:
            run.holds.started_color()
            run.remote.run(self.runtime.start(run.color), what=f"start {run.color}")
            self.change.log.ok(run.name, f"start: {self.runtime.name(run.color)} ({run.release})")

    def undo(self, run: HostRun) -> None:
        timeout = 120 + self.change.inventory.app.stop_timeout
        run.remote.run(self.runtime.stop(run.color), timeout=timeout, what=f"stop {run.color}")


def serve_color(
    inventory: Inventory,
    hosts: list[Host],
    log: Log,
    operation: str,
    pick: Callable[[HostRun], str],
    options: Options | None,
    steps: tuple[Step, ...] = (),
) -> bool:
    """Send traffic to the color ``pick`` names (all of it, or the steps' share)."""
    change = Change(inventory, log, operation, options)
    return change.run(hosts, Serve(change, pick), steps=steps)
