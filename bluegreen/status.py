"""What serves where: per host, the live color and each color's release, state and health."""

from __future__ import annotations

import dataclasses

from bluegreen import checks
from bluegreen.fleet import Fleet, HostRun
from bluegreen.inventory import COLORS, Host, Inventory
from bluegreen.log import Log


def status(inventory: Inventory, hosts: list[Host], log: Log) -> bool:
    """Print one table row per host; False when a host could not be read."""
    fleet = Fleet(inventory, log, "status")
    rows: dict[str, list[str]] = {}
    once = dataclasses.replace(inventory.app.health, attempts=1)  # a status probe never waits

    def read(run: HostRun) -> None:
        fleet.read_facts(run)
        cells = [run.name, run.facts.live_color or "-", run.facts.site_mode or "-"]
        for color in COLORS:
            container = run.facts.containers.get(color)
            if container is None:
                cells.append("-")
                continue
            health = "-"
            if container.running:
                try:
                    checks.wait_healthy(run.remote, inventory.ports.of(color), once)
                    health = "healthy"
                except checks.CheckFailed:
                    health = "unhealthy"
            cells.append(f"{container.release} {container.status} {health}")
        rows[run.name] = cells

    ok = fleet.read_each(hosts, read)
    header = ["host", "live", "switch", "blue", "green"]
    log.table([header] + [rows[host.name] for host in hosts if host.name in rows])
    return ok
