"""``fab rollback`` and ``fab switch``: send traffic to a color that is already there
(``bluegreen.engine.serving`` does it; ``split``, ``promote`` and ``abort`` use it too)."""

from __future__ import annotations

from bluegreen.config.inventory import COLORS, Host, Inventory, other
from bluegreen.engine.operation import names, no_split
from bluegreen.engine.serving import serve_color
from bluegreen.engine.state import HostRun, Options
from bluegreen.errors import Refused
from bluegreen.output.log import Log


def rollback(
    inventory: Inventory, hosts: list[Host], log: Log, options: Options | None = None
) -> bool:
    """Return every host to its previous color and release (kept stopped, started again)."""
    log.line(f"rollback {inventory.app.name} on {names(hosts)}")

    def previous(run: HostRun) -> str:
        if run.facts.live_color is None:
            raise Refused("nothing is live here, so there is nothing to roll back from")
        no_split(run)
        return other(run.facts.live_color)

    return serve_color(inventory, hosts, log, "rollback", previous, options)


def switch(
    inventory: Inventory, hosts: list[Host], color: str, log: Log, options: Options | None = None
) -> bool:
    """Make ``color`` live on every host, with the same checks as a deploy."""
    if color not in COLORS:
        raise Refused(f"--to must be one of {', '.join(COLORS)}, not {color!r}")
    log.line(f"switch {inventory.app.name} to {color} on {names(hosts)}")
    return serve_color(inventory, hosts, log, "switch", lambda run: color, options)
