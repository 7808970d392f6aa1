"""The operations: deploy, rollback and switch, each one fleet change (see ``fleet``).

They differ only in what they make live and how they stage it: deploy builds REF into the
idle color; rollback and switch start a color that is already there (rollback falls back
to the last verified release in the host's history when that color's container is gone).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from shlex import quote

from bluegreen import source
from bluegreen.commands import docker
from bluegreen.fleet import Fleet, HostRun, Options, Refused
from bluegreen.inventory import COLORS, Host, Inventory
from bluegreen.log import Log

BUILD_TIMEOUT = 1800.0
DEFAULT = Options()


def _names(hosts: list[Host]) -> str:
    return ", ".join(h.name for h in hosts)


def _start(fleet: Fleet, run: HostRun) -> None:
    """Run the target release's image as the target color, env from a 0600 file."""
    inv = fleet.inventory
    run.started = True
    env = inv.env_for(run.host)
    command = docker.run(
        fleet.app, run.color, run.release, run.host, inv.ports, inv.app.container_port
    )
    stdin = "".join(f"{k}={v}\n" for k, v in env.items())
    run.remote.run(command, stdin=stdin, what=f"start {run.color}")
    fleet.log.ok(run.name, f"start: {docker.container(fleet.app, run.color)} runs {run.release}")


def _remove(fleet: Fleet, run: HostRun) -> None:
    run.remote.run(docker.remove(fleet.app, run.color), what="remove new container")
    fleet.log.ok(run.name, f"clean up: removed {docker.container(fleet.app, run.color)}")


def deploy(
    inventory: Inventory, hosts: list[Host], ref: str, log: Log, options: Options = DEFAULT
) -> bool:
    """Build REF into the idle color on every host, then switch the fleet to it."""
    app = inventory.app
    repo = Path(app.repo)
    release = source.resolve(repo, ref)
    fleet = Fleet(inventory, log, "deploy", options)
    archive = functools.cache(lambda: source.archive(repo, release, app.path))

    def choose(run: HostRun) -> None:
        run.color, run.release = run.facts.idle_color, release

    def stage(run: HostRun) -> None:
        image = docker.image(app.name, release)
        if run.facts.image_present:
            log.ok(run.name, f"build: image {image} present, skipped")
        else:
            started = time.monotonic()
            run.remote.put(archive(), _archive_path(run.host, release))
            command = _build_command(run.host, app.name, release, app.dockerfile)
            run.remote.run(command, timeout=BUILD_TIMEOUT, what="build")
            log.ok(run.name, f"build: {image} in {time.monotonic() - started:.1f} s")
        _start(fleet, run)

    log.line(f"deploy {app.name} {release} ({ref}) to {_names(hosts)}")
    return fleet.change(hosts, choose, stage, functools.partial(_remove, fleet), release)


def _archive_path(host: Host, release: str) -> str:
    return f"/tmp/bluegreen-{host.user}-{release}.tar.gz"


def _build_command(host: Host, app: str, release: str, dockerfile: str) -> str:
    """Unpack the uploaded source into releases/<release> and build its image."""
    target = quote(f"{host.app_dir}/releases/{release}")
    tarball = quote(_archive_path(host, release))
    return (
        f"set -e; rm -rf {target}.tmp; mkdir -p {target}.tmp"
        f" && tar -xzf {tarball} -C {target}.tmp && rm -f {tarball}"
        f" && rm -rf {target} && mv {target}.tmp {target}\n"
        + docker.build(app, release, f"{host.app_dir}/releases/{release}", dockerfile)
    )


def _last_verified(run: HostRun) -> str | None:
    """The newest release this host's history says was switched to and verified, not live."""
    for record in reversed(run.facts.history):
        release = record.get("release")
        if record.get("result") == "switched" and release and release != run.facts.live_release:
            return release
    return None


def _switch_to(
    inventory: Inventory,
    hosts: list[Host],
    log: Log,
    operation: str,
    pick: Callable[[HostRun], str],
    options: Options,
) -> bool:
    """Make a color that is already there live again: start it if stopped, check, switch."""
    app = inventory.app.name
    fleet = Fleet(inventory, log, operation, options)
    cold: set[str] = set()  # hosts whose container is gone: run the release's image again

    def choose(run: HostRun) -> None:
        color = pick(run)
        container = run.facts.containers.get(color)
        run.color = color
        if color == run.facts.live_color:
            run.release, run.outcome = run.facts.live_release or "", "already live"
            log.ok(run.name, f"{color} is already live")
        elif container is not None and container.release:
            run.release = container.release
        elif operation == "rollback" and (release := _last_verified(run)):
            run.release = release
            cold.add(run.name)
        else:
            raise Refused(f"no {color} container ({docker.container(app, color)}) to switch to")

    def stage(run: HostRun) -> None:
        if run.name in cold:
            _start(fleet, run)
        elif not run.facts.containers[run.color].running:
            run.started = True
            run.remote.run(docker.start(app, run.color), what=f"start {run.color}")
            log.ok(run.name, f"start: {docker.container(app, run.color)} ({run.release})")

    def undo(run: HostRun) -> None:
        run.remote.run(docker.stop(app, run.color), what=f"stop {run.color}")

    return fleet.change(hosts, choose, stage, undo)


def rollback(inventory: Inventory, hosts: list[Host], log: Log, options: Options = DEFAULT) -> bool:
    """Return every host to its previous color and release (kept stopped, started again)."""
    log.line(f"rollback {inventory.app.name} on {_names(hosts)}")

    def previous(run: HostRun) -> str:
        if run.facts.live_color is None:
            raise Refused("nothing is live here, so there is nothing to roll back from")
        return "green" if run.facts.live_color == "blue" else "blue"

    return _switch_to(inventory, hosts, log, "rollback", previous, options)


def switch(
    inventory: Inventory, hosts: list[Host], color: str, log: Log, options: Options = DEFAULT
) -> bool:
    """Make ``color`` live on every host, with the same checks as a deploy."""
    if color not in COLORS:
        raise Refused(f"--to must be one of {', '.join(COLORS)}, not {color!r}")
    log.line(f"switch {inventory.app.name} to {color} on {_names(hosts)}")
    return _switch_to(inventory, hosts, log, "switch", lambda run: color, options)
