"""What serves where: per host, the live color and each color's release, state and health."""

from __future__ import annotations

import dataclasses

from bluegreen import checks
from bluegreen.executor import Remote
from bluegreen.inventory import COLORS, Host, Inventory
from bluegreen.log import Log
from bluegreen.orchestration import Fleet, HostRun


def status(inventory: Inventory, hosts: list[Host], log: Log) -> bool:
    """Print one table row per host and color; False when a host could not be read."""
    fleet = Fleet(inventory, log)
    runs = [HostRun(host, Remote(host)) for host in hosts]
    rows: dict[str, list[str]] = {}
    once = dataclasses.replace(inventory.app.health, attempts=1)  # a status probe never waits

    def read(run: HostRun) -> None:
        fleet.connect(run)
        cells = [run.name, run.facts.live_color or "-", run.facts.site_mode or "-"]
        for color in COLORS:
            container = run.facts.containers.get(color)
            if container is None:
                cells.append("-")
                continue
            health = "-"
            if container.running:
                port = inventory.ports.of(color)
                try:
                    checks.wait_healthy(run.remote, port, once)
                    health = "healthy"
                except checks.CheckFailed:
                    health = "unhealthy"
            cells.append(f"{container.release} {container.status} {health}")
        rows[run.name] = cells

    try:
        ok = fleet.phase(runs, read)
    finally:
        for run in runs:
            run.remote.close()
    header = ["host", "live", "switch", "blue", "green"]
    table = [header] + [rows[run.name] for run in runs if run.name in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        log.line(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return ok
