"""A batch leaves the load balancer before its switch and rejoins after it.

The hosts' health endpoint (``GET /.bluegreen/up``, templates/health.conf.j2) answers 503
while a drain mark exists; the balancer's own checks then mark the host down and stop
sending it requests, so a reload or a failed switch never reaches a client through it.
The waits are ``app.balancer.drain`` and ``rejoin``: the time the balancer's checks need
(fall × interval, rise × interval) plus the longest request in flight.
"""

from __future__ import annotations

from bluegreen.config.inventory import Inventory
from bluegreen.engine.state import HostRun
from bluegreen.shell import lock, nginx


def applies(inventory: Inventory, batches: int) -> bool:
    """Hosts leave the balancer only batch by batch: all at once would leave it empty."""
    return inventory.app.balancer is not None and batches > 1


def leave(run: HostRun, app: str, token: str) -> None:
    """The health endpoint turns 503 (only while this run holds the host's lock)."""
    run.drained = True
    run.remote.run(f"{lock.held(run.host.app_dir, token)}\n{nginx.leave(app)}", what="leave")


def rejoin(run: HostRun, app: str) -> None:
    """The health endpoint answers from the switch state again."""
    run.remote.run(nginx.rejoin(app), what="rejoin")
    run.drained = False
