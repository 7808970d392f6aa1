"""The operations: deploy, rollback and switch, each one fleet change (see ``fleet``).

They differ only in what they make live and how they stage it: deploy builds REF into the
idle color (a canary deploy moves traffic to it in steps); rollback and switch start a
color that is already there (rollback falls back to the last verified release in the
host's history when that color's container is gone). ``split`` builds on ``serve_color``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from shlex import quote

from bluegreen import source
from bluegreen.commands import docker, git
from bluegreen.executor import RemoteError
from bluegreen.inventory import COLORS, Host, Inventory
from bluegreen.log import Log
from bluegreen.orchestration.fleet import Fleet, HostRun, Options, Refused, Step

BUILD_TIMEOUT = 1800.0
DEFAULT = Options()


def _names(hosts: list[Host]) -> str:
    return ", ".join(h.name for h in hosts)


def no_split(run: HostRun) -> None:
    """Refuse a change that would replace or drop a color while a split still sends it traffic."""
    if run.facts.split is not None and run.facts.traffic is not None:
        raise Refused(
            f"traffic is split ({run.facts.traffic.describe()}): `fab promote` or `fab abort` first"
        )


def canary_steps(shares: str, hold: float, watch: float) -> tuple[Step, ...]:
    """``--canary 10,50``: each share held and watched for ``hold`` s, then 100 % (watched as
    any switch is)."""
    try:
        percents = [int(part) for part in shares.split(",")]
    except ValueError:
        percents = []
    if (
        not percents
        or percents != sorted(set(percents))
        or not 0 < percents[0] <= percents[-1] < 100
    ):
        raise Refused(f"--canary must be rising percents from 1 to 99 (10,50), not {shares!r}")
    if hold <= 0:
        raise Refused(f"--hold must be a number of seconds > 0, not {hold:g}")
    return (*(Step(share, hold) for share in percents), Step(100, watch))


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
    inventory: Inventory,
    hosts: list[Host],
    ref: str,
    log: Log,
    options: Options = DEFAULT,
    canary: str | None = None,
    hold: float = 30.0,
) -> bool:
    """Build REF into the idle color on every host, then switch the fleet to it.

    ``source: upload`` resolves REF in the operator's checkout and uploads a ``git
    archive`` of it; ``source: git`` has every host fetch the repository and resolve REF
    itself (all hosts must agree on the commit). ``canary`` ("10,50") moves that share of
    the traffic first, holding and watching each step for ``hold`` s.
    """
    app = inventory.app
    steps = canary_steps(canary, hold, app.watch.seconds) if canary else ()
    from_git = app.source == "git"
    release = None if from_git else source.resolve(Path(app.repo), ref)
    fleet = Fleet(inventory, log, "deploy", options)
    archive = functools.cache(lambda: source.archive(Path(app.repo), release, app.path))
    built: set[str] = set()  # hosts that already have the release's image

    def choose(run: HostRun) -> None:
        no_split(run)
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
            with log.ticking(run.name, f"build: {image}"):
                if from_git:
                    unpack = git.export(run.host.app_dir, run.release, app.path, target)
                else:
                    run.remote.put(archive(), _archive_path(run.host, run.release))
                    unpack = _unpack(run.host, run.release, target)
                build = docker.build(app.name, run.release, target, app.dockerfile)
                try:
                    run.remote.run(f"{unpack}\n{build}", timeout=BUILD_TIMEOUT, what="build")
                except RemoteError as error:  # one line says little: show the last build lines
                    if not error.output:
                        raise
                    tail = "".join(f"\n      | {ln}" for ln in error.output.splitlines()[-10:])
                    message = str(error).removeprefix(f"{run.name}: ")
                    raise RemoteError(run.name, f"{message}{tail}") from error
            log.ok(run.name, f"build: {image} in {time.monotonic() - started:.1f} s")
        _start(fleet, run)

    what = release or f"{ref} (resolved on each host from {app.repo})"
    log.line(f"deploy {app.name} {what} to {_names(hosts)}")

    def undo(run: HostRun) -> None:
        run.remote.run(docker.remove(app.name, run.color), what="remove new container")
        log.ok(run.name, f"clean up: removed {docker.container(app.name, run.color)}")

    return fleet.change(hosts, choose, stage, undo, release, steps)


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
        switched = record.get("result") == "switched" and "share" not in record  # not a split
        if switched and release and release != run.facts.live_release:
            return release
    return None


def serve_color(
    inventory: Inventory,
    hosts: list[Host],
    log: Log,
    operation: str,
    pick: Callable[[HostRun], str],
    options: Options,
    steps: tuple[Step, ...] = (),
) -> bool:
    """Send traffic to a color that is already there (all of it, or the steps' share):
    start it if stopped, check, switch."""
    app = inventory.app.name
    fleet = Fleet(inventory, log, operation, options)
    cold: set[str] = set()  # hosts whose container is gone: run the release's image again

    def choose(run: HostRun) -> None:
        color = pick(run)
        container = run.facts.containers.get(color)
        run.color = color
        if color == run.facts.live_color:
            run.release = run.facts.live_release or ""
        elif container is not None and container.release:
            run.release = container.release
        elif operation == "rollback" and (release := _last_verified(run)):
            name, image = docker.container(app, color), docker.image(app, release)
            found = run.remote.run(
                f"docker image inspect {quote(image)} >/dev/null 2>&1 && echo present || true",
                what="image",
                readonly=True,
            )
            if found.strip() != "present":
                raise Refused(
                    f"cannot roll back: {name} is gone and image {image} (the last verified"
                    " release) is not on this host either;"
                    f" deploy it again: fab deploy --ref {release}"
                )
            log.warn(
                run.name,
                f"rollback: {name} is gone; running {release} (the last verified release in"
                " this host's history) from its image again",
            )
            run.release = release
            cold.add(run.name)
        else:
            raise Refused(f"no {color} container ({docker.container(app, color)}) to switch to")
        if run.target == run.facts.traffic:
            run.outcome = "already live"
            split = run.share < 100
            log.ok(
                run.name,
                f"already serves {run.target.describe()}" if split else f"{color} is already live",
            )

    def stage(run: HostRun) -> None:
        container = run.facts.containers.get(run.color)
        if run.name in cold:
            _start(fleet, run)
        elif container is not None and not container.running:
            run.started = True
            run.remote.run(docker.start(app, run.color), what=f"start {run.color}")
            log.ok(run.name, f"start: {docker.container(app, run.color)} ({run.release})")

    def undo(run: HostRun) -> None:
        run.remote.run(docker.stop(app, run.color), what=f"stop {run.color}")

    return fleet.change(hosts, choose, stage, undo, steps=steps)


def rollback(inventory: Inventory, hosts: list[Host], log: Log, options: Options = DEFAULT) -> bool:
    """Return every host to its previous color and release (kept stopped, started again)."""
    log.line(f"rollback {inventory.app.name} on {_names(hosts)}")

    def previous(run: HostRun) -> str:
        if run.facts.live_color is None:
            raise Refused("nothing is live here, so there is nothing to roll back from")
        no_split(run)
        return "green" if run.facts.live_color == "blue" else "blue"

    return serve_color(inventory, hosts, log, "rollback", previous, options)


def switch(
    inventory: Inventory, hosts: list[Host], color: str, log: Log, options: Options = DEFAULT
) -> bool:
    """Make ``color`` live on every host, with the same checks as a deploy."""
    if color not in COLORS:
        raise Refused(f"--to must be one of {', '.join(COLORS)}, not {color!r}")
    log.line(f"switch {inventory.app.name} to {color} on {_names(hosts)}")
    return serve_color(inventory, hosts, log, "switch", lambda run: color, options)
