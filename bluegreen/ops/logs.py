"""``fab logs``: the app's container output from every host, each line prefixed by host."""

from __future__ import annotations

import threading
import time

from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine import probe
from bluegreen.engine.processes import running
from bluegreen.engine.runner import Session, read_each
from bluegreen.output.log import Log
from bluegreen.shell import runtime, workers


def logs(
    inventory: Inventory,
    hosts: list[Host],
    color: str | None,
    lines: int,
    follow: bool,
    log: Log,
    process: str | None = None,
) -> bool:
    """Print the last ``lines`` of the live (or given) color's container, or of the process
    ``process`` (on the hosts that run it); ``follow`` streams."""
    probe.check_color(color)
    if process is not None:
        hosts = running(inventory, hosts, process)

    def read(run: Session) -> None:
        if process is not None:
            which, command = process, workers.logs(inventory.app, process, lines, follow)
        else:
            which = probe.color_of(run.remote, inventory, run.host, color)
            command = runtime.of(inventory.app).logs(which, lines, follow)
        if follow:
            run.remote.stream(command, lambda line: log.host(run.name, which, line))
        else:
            for line in run.remote.run(command, what="logs", readonly=True).splitlines():
                log.host(run.name, which, line)

    if not follow:
        return read_each(hosts, read, log).ok
    # Following never ends by itself: daemon threads, so Ctrl-C ends fab at once.
    threads = [
        threading.Thread(target=read_each, args=([host], read, log), daemon=True) for host in hosts
    ]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.2)
    return True
