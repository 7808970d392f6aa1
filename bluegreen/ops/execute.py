"""``fab exec -- CMD ARGS``: run a command in the live color's container on every host.

Each host's output is prefixed by the host, then its exit code; the task fails when it
failed anywhere. No lock is taken: the command is the operator's, as in ``docker exec``.
``--new`` runs it in a one-off container of the live image instead (``docker run --rm``);
``-i`` gives it a terminal, on exactly one host.
"""

from __future__ import annotations

from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine import probe
from bluegreen.engine.processes import running
from bluegreen.engine.runner import Session, read_each
from bluegreen.errors import Refused, RemoteError
from bluegreen.output.log import Log
from bluegreen.shell import container, runtime, workers

EXEC_TIMEOUT = 3600.0


def execute(
    inventory: Inventory,
    hosts: list[Host],
    argv: list[str],
    color: str | None,
    once: bool,
    log: Log,
    new: bool = False,
    interactive: bool = False,
    process: str | None = None,
) -> bool:
    """Run ``argv`` in the live (or given) color's container; ``once``: the first host only;
    ``new``: in a one-off container of its image; ``interactive``: with a terminal;
    ``process``: beside that process of ``app.processes`` (on the hosts that run it)."""
    if not argv:
        raise Refused("give the command after --, e.g. fab exec -- bin/console --version")
    probe.check_color(color)
    if process is not None:
        if new or color:
            raise Refused("--process runs beside the process: not with --new or --color")
        hosts = running(inventory, hosts, process)
    targets = hosts[:1] if once else hosts
    if interactive and len(targets) != 1:
        raise Refused(
            f"-i needs exactly one host, not {len(targets)} ({', '.join(h.name for h in targets)}):"
            " pick one with -H, or add --once"
        )
    if inventory.app.runtime == "process" and (new or interactive):
        raise Refused("exec --new and -i are for runtime: docker (a process has no image)")
    app = inventory.app.name

    def command_for(session: Session) -> tuple[str, str]:
        """The command, and what it runs in (for the log)."""
        if process is not None:
            where = f"{app}-{process}"
            return workers.exec_in(inventory.app, process, session.host, argv, interactive), where
        if not new:
            which = probe.color_of(session.remote, inventory, session.host, color)
            command = runtime.of(inventory.app).exec_in(session.host, which, argv, interactive)
            return command, f"{app}-{which}"
        found = probe.read(session.remote, inventory, session.host).facts
        which = color or found.live_color
        kept = found.containers.get(which) if which else None
        if kept is None or not kept.release:
            raise Refused(f"no {which or 'live'} container whose image --new could run")
        command = container.exec_new(
            inventory.app, which, kept.release, session.host, argv, interactive
        )
        return command, f"a new container of {app}:{kept.release}"

    def run_on(session: Session) -> None:
        command, where = command_for(session)
        if interactive:
            code = session.remote.interactive(command)
            if code:
                raise RemoteError(session.name, f"exec in {where}: exit {code}")
            log.ok(session.name, f"exec in {where}: exit 0")
            return
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
            raise RemoteError(session.name, f"exec in {where}: exit {code}")
        log.ok(session.name, f"exec in {where}: exit 0")

    return read_each(targets, run_on, log).ok
