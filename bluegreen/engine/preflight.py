"""A change's first phase on each host: connect, read facts and take the lock in one round
trip; repair what a change cut off mid-way left; refuse a host the change may not touch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bluegreen.config.inventory import COLORS
from bluegreen.engine import locking, monitoring, probe
from bluegreen.engine.state import HostRun
from bluegreen.engine.switcher import installed, switch_mode
from bluegreen.errors import Refused
from bluegreen.facts import HostFacts, neighbours
from bluegreen.shell import lock, nginx, runtime

if TYPE_CHECKING:
    from bluegreen.engine.change import Change


def step(change: Change, run: HostRun, release: str | None) -> None:
    """Connect, read facts and take the lock, in one round trip."""
    inventory = change.inventory
    run.remote.open()
    take = (
        ""
        if change.options.dry_run
        else lock.acquire(run.host.app_dir, change.lock, locking.LOCK_TTL)
    )
    if take and inventory.metrics:
        take += "\n" + monitoring.preflight(inventory, run, change.lock.token)
    # serving a color that is there: both colors' health is probed with the facts (the
    # target's answer counts if nothing is started before its health phase)
    colors = COLORS if take and release is None else ()
    if take:
        run.holds.took_lock()
    seen = probe.read(run.remote, inventory, run.host, release, take, colors)
    run.early_health = seen.healthy
    run.facts, run.unfinished, run.reached = seen.facts, seen.unfinished, True
    run.installed = installed(change.app, seen.facts)
    if take:
        settle(change, run, seen.output)
    if run.holds.lock and (lost := locking.abandoned(run.facts)):
        change.log.warn(run.name, f"left unsettled: {locking.unconfirmed(lost)}")
    if run.holds.lock and run.facts.aside:
        run.early_health = {}  # the repair renames containers: ask again
        repair(change, run, release)
    if run.unfinished:
        change.log.warn(run.name, run.unfinished)
    if run.facts.drained:  # by hand, or a run cut off: it stays out until removed
        path = nginx.drain_path(change.app)
        change.log.warn(run.name, f"out of the load balancer ({path} exists; rm it to rejoin)")
    refuse_in_maintenance(change, run)
    monitoring.check(inventory, seen.output)
    found = run.facts
    clash = neighbours.check(inventory, found.neighbours, found.owners)
    if clash:
        raise Refused(clash)
    run.mode = switch_mode(run.host, run.facts)
    refuse_unfit(run)


def settle(change: Change, run: HostRun, output: str) -> None:
    """Read the lock's answer: this run's now, or another's (refused, left alone)."""
    run.holds.refreshed_lock(locking.clock())  # the host's expiry was set from its clock now
    try:
        mine = locking.settle(run.remote, run.host, change.lock, output, change.log)
    except Refused:
        run.holds.without_lock()  # theirs: left alone
        raise
    if not mine:
        run.holds.without_lock()


def repair(change: Change, run: HostRun, release: str | None) -> None:
    """A deploy cut off mid-way left the kept container set aside: where its color does
    not serve, it is the rollback target and gets its name back (the unverified new one
    is removed); where its color serves, the deploy got through and it is dropped. Then
    the facts are read again."""
    runs = runtime.of(change.inventory.app)
    commands, done = [], []
    for color, keep in leftovers(run.facts):
        if keep:
            commands.append(runs.restore(run.host, color, running=False))
            done.append(f"the kept {runs.name(color)} is back")
        else:
            commands.append(runs.retire(run.host, color))
            done.append(f"dropped the set-aside {runs.name(color)} ({color} serves)")
    run.remote.run("; ".join(commands), what="repair")
    change.log.warn(run.name, f"repair after a change cut off mid-way: {'; '.join(done)}")
    seen = probe.read(run.remote, change.inventory, run.host, release)
    run.facts, run.unfinished = seen.facts, seen.unfinished
    run.installed = installed(change.app, seen.facts)


def leftovers(found: HostFacts) -> list[tuple[str, bool]]:
    """(color, put back?) for each container still set aside: put back where its color
    does not serve (it is the rollback target), dropped where it does."""
    serving = set(found.traffic.releases) if found.traffic else set()
    return [(color, color not in serving) for color in found.aside]


def refuse_in_maintenance(change: Change, run: HostRun) -> None:
    """While the maintenance page is up only ``fab maintenance`` changes a host, unless
    forced (the switch then takes the page down)."""
    served = run.facts.traffic
    if change.operation == "maintenance" or change.options.force:
        return
    if served is not None and served.maintenance:
        raise Refused(
            f"host {run.name} is in maintenance: fab maintenance --off first, or --force"
            f" to {change.operation} anyway (its switch takes the maintenance page down)"
        )


def refuse_unfit(run: HostRun) -> None:
    """A host that cannot run the app as configured."""
    if run.facts.systemd == "no":
        raise Refused(
            f"host {run.name} runs no systemd, and runtime: process runs each color as a"
            " systemd unit: use a server booted with systemd (bootstrap checks it; the"
            " sandbox: sandbox.up --systemd), or runtime: docker"
        )
    if run.host.network == "bridge" and run.facts.docker_bridge == "no":
        raise Refused(
            "network: bridge, but this host's dockerd has no bridge network (started with"
            " --bridge=none?), so docker would silently ignore -p and the app could not be"
            f" reached; set hosts.{run.name}.network: host (or defaults.network: host)"
        )
