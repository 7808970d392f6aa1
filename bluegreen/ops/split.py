"""Traffic split (A/B, canary by hand): both colors serve, one gets a share of the requests.

``split`` starts the color that is not live if it is stopped, checks its health and gives
it the share; ``promote`` sends it everything, drains and stops the old live color;
``abort`` sends everything back to the live color and stops the other. Each is one fleet
change (lock, history, revert on failure, watch, notifications), made by ``serve_color``.
"""

from __future__ import annotations

from bluegreen.config.inventory import COLORS, Host, Inventory, other
from bluegreen.engine.operation import names
from bluegreen.engine.serving import serve_color
from bluegreen.engine.state import HostRun, Options, Step
from bluegreen.errors import Refused
from bluegreen.output.log import Log


def split(
    inventory: Inventory,
    hosts: list[Host],
    color: str,
    percent: int,
    sticky: bool,
    log: Log,
    options: Options | None = None,
) -> bool:
    """Send ``percent`` % of the requests to ``color`` (not the live one) on every host."""
    if color not in COLORS:
        raise Refused(f"the split color must be one of {', '.join(COLORS)}, not {color!r}")
    if not 0 < percent < 100:
        raise Refused(f"a split share is 1 to 99 %, not {percent} (for 100: promote or switch)")
    how = "sticky by client address" if sticky else "per request"
    log.line(f"split {inventory.app.name}: {percent} % to {color} ({how}) on {names(hosts)}")

    def pick(run: HostRun) -> str:
        if run.facts.live_color is None:
            raise Refused("nothing is live here, so there is nothing to split")
        if run.facts.live_color == color:
            raise Refused(
                f"{color} is live here; a split gives a share to the color that is not live"
                f" (--{other(color)} {100 - percent} leaves {percent} % on {color})"
            )
        return color

    step = Step(percent, inventory.app.watch.seconds, sticky)
    return serve_color(inventory, hosts, log, "split", pick, options, steps=(step,))


def _split_color(run: HostRun) -> str:
    if run.facts.split is None:
        raise Refused("traffic is not split here (`fab status` shows what serves)")
    return run.facts.split.color


def promote(
    inventory: Inventory, hosts: list[Host], log: Log, options: Options | None = None
) -> bool:
    """Send all requests to the split's other color; drain and stop the old live one."""
    log.line(f"promote {inventory.app.name} on {names(hosts)}")
    return serve_color(inventory, hosts, log, "promote", _split_color, options)


def abort(
    inventory: Inventory, hosts: list[Host], log: Log, options: Options | None = None
) -> bool:
    """Send all requests back to the live color; drain and stop the split's other color."""
    log.line(f"abort the split of {inventory.app.name} on {names(hosts)}")

    def live(run: HostRun) -> str:
        _split_color(run)
        return run.facts.live_color or ""

    return serve_color(inventory, hosts, log, "abort", live, options)
