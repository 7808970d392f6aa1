"""``fab exec -- CMD ARGS``: run a command in the live color's container on every host.

Each host's output is prefixed by the host, then its exit code; the task fails when it
failed anywhere. No lock is taken: the command is the operator's, as in ``docker exec``.
"""

from __future__ import annotations

from bluegreen.commands import runtime
from bluegreen.errors import Refused, RemoteError
from bluegreen.inventory import Host, Inventory
from bluegreen.log import Log
from bluegreen.orchestration import probe
from bluegreen.orchestration.runner import Session, read_each

EXEC_TIMEOUT = 3600.0


def execute(
    inventory: Inventory,
    hosts: list[Host],
    argv: list[str],
    color: str | None,
    once: bool,
    log: Log,
) -> bool:
    """Run ``argv`` in the live (or given) color's container; ``once``: the first host only."""
    if not argv:
        raise Refused("give the command after --, e.g. fab exec -- bin/console --version")
    probe.check_color(color)
    app = inventory.app.name

    def run_on(session: Session) -> None:
        which = probe.color_of(session.remote, inventory, session.host, color)
        command = runtime.of(inventory.app).exec_in(session.host, which, argv)
        try:
            output = session.remote.run(command, timeout=EXEC_TIMEOUT, what="exec")
            code = 0
        except RemoteError as error:
            if error.exited is None:
                raise
            output, code = error.output, error.exited
        for line in output.splitlines():
            log.host(session.name, "|", line)
        if code:
            raise RemoteError(session.name, f"exec in {app}-{which}: exit {code}")
        log.ok(session.name, f"exec in {app}-{which}: exit 0")

    return read_each(hosts[:1] if once else hosts, run_on, log).ok
