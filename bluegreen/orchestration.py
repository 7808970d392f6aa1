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
from bluegreen.commands import docker, git
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


def deploy(
    inventory: Inventory, hosts: list[Host], ref: str, log: Log, options: Options = DEFAULT
) -> bool:
    """Build REF into the idle color on every host, then switch the fleet to it.

    ``source: upload`` resolves REF in the operator's checkout and uploads a ``git
    archive`` of it; ``source: git`` has every host fetch the repository and resolve REF
    itself (all hosts must agree on the commit).
    """
    app = inventory.app
    from_git = app.source == "git"
    release = None if from_git else source.resolve(Path(app.repo), ref)
    fleet = Fleet(inventory, log, "deploy", options)
    archive = functools.cache(lambda: source.archive(Path(app.repo), release, app.path))
    built: set[str] = set()  # hosts that already have the release's image

    def choose(run: HostRun) -> None:
        run.color, run.release = run.facts.idle_color, release or ""
        if run.facts.image_present:
            built.add(run.name)
        if from_git:
            command = git.fetch_and_resolve(app.name, run.host.app_dir, app.repo, ref)
            out = run.remote.run(command, timeout=BUILD_TIMEOUT, what="git fetch")
            found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
            run.release = found.get("release", f"<{ref} on the host>")
            if found.get("image") == "present":
                built.add(run.name)

    def stage(run: HostRun) -> None:
        releases = {r.release for r in fleet.runs if r.outcome != "already live"}
        if len(releases) > 1:
            raise Refused(f"the hosts resolved {ref} to different commits: {sorted(releases)}")
        image = docker.image(app.name, run.release)
        if run.name in built:
            log.ok(run.name, f"build: image {image} present, skipped")
        else:
            started = time.monotonic()
            target = f"{run.host.app_dir}/releases/{run.release}"
            if from_git:
                unpack = git.export(run.host.app_dir, run.release, app.path, target)
            else:
                run.remote.put(archive(), _archive_path(run.host, run.release))
                unpack = _unpack(run.host, run.release, target)
            build = docker.build(app.name, run.release, target, app.dockerfile)
            run.remote.run(f"{unpack}\n{build}", timeout=BUILD_TIMEOUT, what="build")
            log.ok(run.name, f"build: {image} in {time.monotonic() - started:.1f} s")
        _start(fleet, run)

    what = release or f"{ref} (resolved on each host from {app.repo})"
    log.line(f"deploy {app.name} {what} to {_names(hosts)}")
    def undo(run: HostRun) -> None:
        run.remote.run(docker.remove(app.name, run.color), what="remove new container")
        log.ok(run.name, f"clean up: removed {docker.container(app.name, run.color)}")

    return fleet.change(hosts, choose, stage, undo, release)


def _archive_path(host: Host, release: str) -> str:
    return f"/tmp/bluegreen-{host.user}-{release}.tar.gz"


def _unpack(host: Host, release: str, target: str) -> str:
    """Unpack the uploaded source into ``target`` (replacing it)."""
    t, tarball = quote(target), quote(_archive_path(host, release))
    return (
        f"set -e; rm -rf {t}.tmp; mkdir -p {t}.tmp && tar -xzf {tarball} -C {t}.tmp"
        f" && rm -f {tarball} && rm -rf {t} && mv {t}.tmp {t}"
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
