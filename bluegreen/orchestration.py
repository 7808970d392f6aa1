"""Deploy, rollback and switch as ONE orchestration over every selected host.

Phases run on all hosts with a barrier between them: connect and read facts → stage the
target color → health → switch → verify through the public port → drain and stop the old
color. A failure before the switch leaves every host on its old color (new containers
removed); a failure during or after it switches every touched host back and verifies that.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from shlex import quote

from bluegreen import checks, facts, source, templates
from bluegreen.commands import docker, nginx
from bluegreen.executor import Remote
from bluegreen.inventory import COLORS, Host, Inventory
from bluegreen.log import Log

# After a reload both colors answer for ~100 ms (old workers still accept): verify longer.
RELOAD_OVERLAP = 0.3
OLD_WORKERS_LIMIT = 30.0  # seconds to wait for nginx workers of the old config to finish
BUILD_TIMEOUT = 1800.0


class Refused(RuntimeError):
    """The requested change cannot be made on a host (e.g. no previous release to go back to)."""


@dataclass
class HostRun:
    """One host's part of an orchestration: its session, what it had, what it is given."""

    host: Host
    remote: Remote
    facts: facts.HostFacts = field(default_factory=facts.HostFacts)
    color: str = ""  # target color
    release: str = ""  # target release
    mode: str = "reload"  # how this host's nginx switches: reload | file
    installed: dict[str, str | None] = field(default_factory=dict)  # config path -> md5 on host
    started: bool = False  # we started (or replaced) the target color's container
    touched: bool = False  # nginx was (possibly) pointed at the target
    done: bool = False  # nothing to change: the target is already live

    @property
    def name(self) -> str:
        return self.host.name


@dataclass
class Fleet:
    """Shared context of one orchestration."""

    inventory: Inventory
    log: Log
    parallel: int = 10
    jinja: object = None
    runs: list[HostRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.jinja = templates.environment(self.inventory)

    @property
    def app(self) -> str:
        return self.inventory.app.name

    def phase(self, runs: list[HostRun], step: Callable[[HostRun], None]) -> bool:
        """Run ``step`` on every host in parallel; log each failure; True when all succeeded."""
        if not runs:
            return True
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(runs))) as pool:
            futures = [(run, pool.submit(step, run)) for run in runs]
        ok = True
        for run, future in futures:
            error = future.exception()
            if error is not None:
                ok = False
                self.log.fail(run.name, str(error).removeprefix(f"{run.name}: "))
        return ok

    # -- steps shared by every change -------------------------------------------------

    def connect(self, run: HostRun, release: str | None = None) -> None:
        run.remote.open()
        run.facts = facts.parse(run.remote.run(facts.probe(self.app, release), what="facts"))
        run.installed = {
            nginx.site_path(self.app): run.facts.site_md5,
            nginx.script_path(self.app): run.facts.script_md5,
        }

    def preflight(self, run: HostRun, release: str | None) -> None:
        self.connect(run, release)
        run.mode = switch_mode(run.host, run.facts)

    def health(self, run: HostRun) -> None:
        port = self.inventory.ports.of(run.color)
        try:
            detail = checks.wait_healthy(run.remote, port, self.inventory.app.health)
        except checks.CheckFailed as error:
            logs = run.remote.run(docker.logs(self.app, run.color), check=False, what="logs")
            tail = "".join(f"\n      | {line}" for line in logs.splitlines()[-10:])
            raise checks.CheckFailed(f"health: {run.color} {error}{tail}") from error
        self.log.ok(run.name, f"health: {run.color} {detail}")

    def point(self, run: HostRun, color: str, release: str) -> str:
        """Make ``color`` live; say how (state file renamed, or nginx tested and reloaded).

        The site (and in file mode the njs module) is installed only when it changed, so a
        file-mode switch is one atomic rename and nginx is never reloaded.
        """
        jinja, inv, app = self.jinja, self.inventory, self.app
        config = [(nginx.site_path(app), templates.site(jinja, inv, run.mode))]
        if run.mode == "file":
            config.insert(0, (nginx.script_path(app), templates.script(jinja, inv)))
            live = (nginx.state_path(app), templates.state(color, release))
        else:
            live = (nginx.live_path(app), templates.live(jinja, inv, color, release))
        changed = [(path, text) for path, text in config if run.installed.get(path) != _md5(text)]
        reload = run.mode == "reload" or bool(changed)
        run.remote.run(nginx.install([*changed, live], reload=reload), what="nginx switch")
        run.installed.update((path, _md5(text)) for path, text in changed)
        return "nginx tested and reloaded" if reload else "state file renamed, no reload"

    def switch(self, run: HostRun) -> None:
        run.touched = True
        how = self.point(run, run.color, run.release)
        self.log.ok(run.name, f"switch: {how}, live = {run.color}")

    def verify(self, run: HostRun, color: str, release: str) -> str:
        """The public port serves ``release``; after a reload, for longer than nginx's overlap."""
        window = RELOAD_OVERLAP if run.mode == "reload" else 0.0
        path, port = self.inventory.app.health.path, self.inventory.ports.public
        return checks.wait_serving(run.remote, port, path, color, release, window=window)

    def verify_target(self, run: HostRun) -> None:
        self.log.ok(run.name, f"verify: {self.verify(run, run.color, run.release)}")

    def revert(self, run: HostRun) -> None:
        """Point nginx back at what served before, and check it does."""
        old_color, old_release = run.facts.live_color, run.facts.live_release
        if old_color and old_release:
            self.point(run, old_color, old_release)
            self.log.ok(run.name, f"revert: {self.verify(run, old_color, old_release)}")
        else:  # the host served nothing before: take our site away again
            run.remote.run(nginx.uninstall(self.app), what="revert")
            self.log.ok(run.name, "revert: site removed (nothing served before)")

    def drain(self, run: HostRun) -> None:
        """Let in-flight requests finish, then stop (keep) the old color for instant rollback."""
        old = run.facts.live_color
        container = run.facts.containers.get(old) if old else None
        if not container or old == run.color or not container.running:
            return
        wait = nginx.wait_old_workers(OLD_WORKERS_LIMIT)
        command = f"sleep {self.inventory.app.drain:g}; {wait}; {docker.stop(self.app, old)}"
        run.remote.run(
            command, timeout=self.inventory.app.drain + OLD_WORKERS_LIMIT + 30, what="drain"
        )
        self.log.ok(run.name, f"drain: waited {self.inventory.app.drain:g} s, stopped {old} (kept)")

    # -- the state machine ------------------------------------------------------------

    def change(
        self,
        hosts: Iterable[Host],
        choose: Callable[[HostRun], None],
        stage: Callable[[HostRun], None],
        undo: Callable[[HostRun], None],
        release: str | None = None,
    ) -> bool:
        """Run one fleet change; True when every host ends on its target."""
        self.runs = [HostRun(host, Remote(host)) for host in hosts]
        try:
            if not self.phase(self.runs, lambda run: self.preflight(run, release)):
                self.log.line("❌ nothing changed: not every host is ready")
                return False
            if not self.phase(self.runs, choose):
                self.log.line("❌ nothing changed")
                return False
            todo = [run for run in self.runs if not run.done]
            if not (self.phase(todo, stage) and self.phase(todo, self.health)):
                self.phase([run for run in todo if run.started], undo)
                self.summary(switched=False)
                return False
            if not (self.phase(todo, self.switch) and self.phase(todo, self.verify_target)):
                self.phase([run for run in todo if run.touched], self.revert)
                self.phase([run for run in todo if run.started], undo)
                self.summary(switched=False)
                return False
            self.phase(todo, self.drain)
            self.summary(switched=True)
            return True
        finally:
            for run in self.runs:
                run.remote.close()

    def summary(self, switched: bool) -> None:
        for run in self.runs:
            if switched or run.done:
                color, release = run.color, run.release
            else:
                color, release = run.facts.live_color, run.facts.live_release
            what = f"{color} ({release})" if color else "nothing"
            self.log.line(f"{run.name:<{self.log.width}} serves {what}")
        verdict = (
            "✅ done" if switched else "❌ failed: every host is back on what it served before"
        )
        self.log.line(verdict)


# -- the operations -------------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def switch_mode(host: Host, found: facts.HostFacts) -> str:
    """The host's switch mode: as configured, or file where nginx has njs (``auto``)."""
    if host.switch_mode == "file" and not found.njs:
        raise Refused(
            "switch_mode is file but nginx does not load the njs module"
            " (install libnginx-mod-http-js / nginx-module-njs, or set switch_mode: reload)"
        )
    if host.switch_mode != "auto":
        return host.switch_mode
    return "file" if found.njs else "reload"


def deploy(inventory: Inventory, hosts: list[Host], ref: str, log: Log) -> bool:
    """Build REF into the idle color on every host, then switch the fleet to it."""
    app = inventory.app
    repo = Path(app.repo)
    release = source.resolve(repo, ref)
    fleet = Fleet(inventory, log)
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
        run.started = True
        env = inventory.env_for(run.host)
        run.remote.run(
            docker.run(app.name, run.color, release, run.host, inventory.ports, app.container_port),
            stdin="".join(f"{k}={v}\n" for k, v in env.items()),
            what=f"start {run.color}",
        )
        log.ok(run.name, f"start: {docker.container(app.name, run.color)} runs {release}")

    def undo(run: HostRun) -> None:
        run.remote.run(docker.remove(app.name, run.color), what="remove new container")
        log.ok(run.name, f"clean up: removed {docker.container(app.name, run.color)}")

    log.line(f"deploy {app.name} {release} ({ref}) to {', '.join(h.name for h in hosts)}")
    return fleet.change(hosts, choose, stage, undo, release=release)


def _archive_path(host: Host, release: str) -> str:
    return f"/tmp/bluegreen-{host.user}-{release}.tar.gz"


def _build_command(host: Host, app: str, release: str, dockerfile: str) -> str:
    """Unpack the uploaded source into releases/<release> and build its image."""
    target = f"{host.app_dir}/releases/{release}"
    tarball = _archive_path(host, release)
    return (
        f"set -e; rm -rf {quote(target)}.tmp; mkdir -p {quote(target)}.tmp"
        f" && tar -xzf {quote(tarball)} -C {quote(target)}.tmp && rm -f {quote(tarball)}"
        f" && rm -rf {quote(target)} && mv {quote(target)}.tmp {quote(target)}\n"
        + docker.build(app, release, target, dockerfile)
    )


def _switch_to(
    inventory: Inventory, hosts: list[Host], log: Log, pick: Callable[[HostRun], str]
) -> bool:
    """Make an existing container live again (rollback, manual switch): start, check, switch."""
    app = inventory.app.name
    fleet = Fleet(inventory, log)

    def choose(run: HostRun) -> None:
        color = pick(run)
        container = run.facts.containers.get(color)
        if color == run.facts.live_color:
            run.color, run.release, run.done = color, run.facts.live_release or "", True
            log.ok(run.name, f"{color} is already live")
            return
        if container is None or not container.release:
            raise Refused(f"no {color} container ({docker.container(app, color)}) to switch to")
        run.color, run.release = color, container.release

    def stage(run: HostRun) -> None:
        if not run.facts.containers[run.color].running:
            run.started = True
            run.remote.run(docker.start(app, run.color), what=f"start {run.color}")
            log.ok(run.name, f"start: {docker.container(app, run.color)} ({run.release})")

    def undo(run: HostRun) -> None:
        run.remote.run(docker.stop(app, run.color), what=f"stop {run.color}")

    return fleet.change(hosts, choose, stage, undo)


def rollback(inventory: Inventory, hosts: list[Host], log: Log) -> bool:
    """Return every host to its previous color and release (kept stopped, started again)."""
    log.line(f"rollback {inventory.app.name} on {', '.join(h.name for h in hosts)}")

    def previous(run: HostRun) -> str:
        if run.facts.live_color is None:
            raise Refused("nothing is live here, so there is nothing to roll back from")
        return "green" if run.facts.live_color == "blue" else "blue"

    return _switch_to(inventory, hosts, log, previous)


def switch(inventory: Inventory, hosts: list[Host], color: str, log: Log) -> bool:
    """Make ``color`` live on every host, with the same checks as a deploy."""
    if color not in COLORS:
        raise Refused(f"--to must be one of {', '.join(COLORS)}, not {color!r}")
    log.line(f"switch {inventory.app.name} to {color} on {', '.join(h.name for h in hosts)}")
    return _switch_to(inventory, hosts, log, lambda run: color)
