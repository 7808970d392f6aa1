"""``fab history``: the audit trail every host keeps of the changes made to it."""

from __future__ import annotations

import json

from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine.runner import Session, read_each
from bluegreen.output.log import Log
from bluegreen.shell import history

COLUMNS = ("time", "operator", "operation", "release", "from", "to", "result", "seconds")


def show_history(inventory: Inventory, hosts: list[Host], lines: int, log: Log) -> bool:
    """Print the last ``lines`` records of every host, newest last (and the processes each
    change moved, for an app with ``app.processes`` or ``app.schedule``)."""
    rows: dict[str, list[list[str]]] = {}
    moved = bool(inventory.app.processes or inventory.app.schedule)

    def read(run: Session) -> None:
        text = run.remote.run(history.tail(run.host.app_dir, lines), what="history", readonly=True)
        records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        rows[run.name] = [
            [run.name, *(str(r.get(c, "") if r.get(c) is not None else "-") for c in COLUMNS)]
            + ([_processes(r.get("processes"))] if moved else [])
            for r in records
        ]

    ok = read_each(hosts, read, log).ok
    table = [row for host in hosts for row in rows.get(host.name, [])]
    log.table([["host", *COLUMNS, *["processes"] * moved], *table])
    return ok


def _processes(moved: dict | None) -> str:
    """``worker=1a2b3c4d5e6f`` per process the change moved (or ``put back``)."""
    return " ".join(f"{name}={where}" for name, where in (moved or {}).items()) or "-"
