"""Is the target color good? Its health before it gets traffic, then the access log of the
traffic it got (for each step's watch time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bluegreen.engine import checks, watch
from bluegreen.engine.runner import tail
from bluegreen.engine.state import HostRun
from bluegreen.errors import CheckFailed, WatchFailed
from bluegreen.shell import runtime

if TYPE_CHECKING:
    from bluegreen.engine.change import Change


def health(change: Change, run: HostRun) -> None:
    if run.maintenance:
        return  # the maintenance page needs no app (it may be down: that is why)
    inventory, log = change.inventory, change.log
    port = inventory.ports.of(run.color)
    health = inventory.app.health
    if change.options.dry_run:
        log.step(run.name, f"would check http://127.0.0.1:{port}{health.path}")
        return
    early = None if run.holds.started else run.early_health.get(run.color)
    try:
        detail = (
            f"{early}, probed with the facts"
            if early
            else checks.wait_healthy(run.remote, port, health)
        )
    except CheckFailed as error:
        command = runtime.of(inventory.app).logs(run.color)
        logs = run.remote.run(command, check=False, what="logs")
        raise CheckFailed(f"health: {run.color} {error}{tail(logs)}") from error
    log.ok(run.name, f"health: {run.color} {detail}")
    if run.host.network == "host" and checks.exposed(run.host.address, port):
        log.warn(
            run.name,
            f"{run.color} answers on {run.host.address}:{port} from outside: with network:"
            f" host the app must listen on 127.0.0.1 (bluegreen passes HOST=127.0.0.1 and"
            f" PORT={port}), or a firewall must close ports {inventory.ports.of('blue')}"
            f" and {inventory.ports.of('green')}",
        )


def watched(change: Change, run: HostRun) -> None:
    """Judge the color that got traffic by the access log, for the step's watch time."""
    seconds = change.step.watch
    if seconds <= 0 or not run.watched:
        return
    if change.options.dry_run:
        change.log.step(run.name, f"would watch {run.color} for {seconds:g} s")
        return
    try:
        result = watch.watch(run.remote, change.inventory, run.color, seconds, change.halt)
    except WatchFailed:
        change.halt.set()  # the other hosts stop watching: the batch goes back now
        raise
    change.log.ok(run.name, f"watch: {result}")
