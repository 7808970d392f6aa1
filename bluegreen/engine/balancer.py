"""A batch leaves the load balancer before its switch and rejoins after it.

The hosts' health endpoint (``GET /.bluegreen/up``, templates/health.conf.j2) answers 503
while a drain mark exists; the balancer's own checks then mark the host down and stop
sending it requests, so a reload or a failed switch never reaches a client through it.
The waits are ``app.balancer.drain`` and ``rejoin``: the time the balancer's checks need
(fall × interval, rise × interval) plus the longest request in flight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bluegreen.config.inventory import Inventory
from bluegreen.engine.state import HostRun, Phase
from bluegreen.errors import BluegreenError
from bluegreen.shell import lock, nginx

if TYPE_CHECKING:
    from bluegreen.engine.change import Change


def applies(inventory: Inventory, batches: int) -> bool:
    """Hosts leave the balancer only batch by batch: all at once would leave it empty."""
    return inventory.app.balancer is not None and batches > 1


def leave(run: HostRun, app: str, token: str) -> None:
    """The health endpoint turns 503 (only while this run holds the host's lock)."""
    run.holds.left_balancer()
    run.remote.run(f"{lock.held(run.host.app_dir, token)}\n{nginx.leave(app)}", what="leave")


def rejoin(run: HostRun, app: str) -> None:
    """The health endpoint answers from the switch state again."""
    run.remote.run(nginx.rejoin(app), what="rejoin")
    run.holds.rejoined_balancer()


def leave_batch(change: Change, group: list[HostRun]) -> bool:
    """With a load balancer: the batch's health endpoints turn 503, then the balancer is
    given ``app.balancer.drain`` seconds to take the hosts out."""
    if not (change.balanced and group):
        return True
    app, seconds = change.app, change.inventory.app.balancer.drain
    if not change.phase(Phase.LEAVE, group, lambda r: leave(r, app, change.lock.token)):
        return False
    if not change.hook("before_batch", change.releases, runs=group):
        return False
    pause(change, group, seconds, "out of the load balancer (health endpoint 503)")
    return not change.interrupted


def rejoin_batch(change: Change, group: list[HostRun], wait: bool) -> None:
    """The batch's health endpoints answer 200 again; with ``wait``, the balancer is given
    ``app.balancer.rejoin`` seconds to take the hosts back before anything goes on. A
    host that cannot be put back is a warning (it serves; the balancer skips it)."""
    drained = [run for run in group if run.holds.drained]
    if not drained:
        return

    def back(run: HostRun) -> None:
        try:
            rejoin(run, change.app)
        except BluegreenError as error:
            how = f"rm {nginx.drain_path(change.app)} on the host puts it back"
            change.settled(run, error, f"still out of the load balancer: {how}")

    change.phase(Phase.REJOIN, drained, back)
    change.hook("after_batch", change.releases, runs=drained)
    if wait:
        pause(change, drained, change.inventory.app.balancer.rejoin, "back in the load balancer")


def pause(change: Change, group: list[HostRun], seconds: float, state: str) -> None:
    """Give the load balancer ``seconds`` to see the hosts' new health (an interrupt
    cuts it short)."""
    names = ", ".join(run.name for run in group)
    if change.options.dry_run:
        change.log.line(f"balancer: {names} would be {state}; would wait {seconds:g} s")
        return
    change.halt.wait(seconds)
    change.log.line(f"balancer: {names} {state}; waited {seconds:g} s")
