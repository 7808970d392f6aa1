"""The engine of every change: ONE orchestration over all selected hosts, in phases.

preflight (connect, facts, lock — every host) → per batch: stage → health → for each step
(a canary has several traffic shares, anything else one): switch → verify → watch; then
drain. A failure before a batch's switch leaves its hosts on their old color
(new containers undone); a failure during or after it points every touched host back
and verifies that. Later batches are not started. Locks are released and history is
written on every host at the end, also after a failure or SIGINT/SIGTERM (which are
deferred to the end of the current step, then handled like a failure).
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import hashlib
import json
import math
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bluegreen import checks, executor, facts, watch
from bluegreen import render as templates
from bluegreen.commands import docker, history, lock, nginx
from bluegreen.errors import Refused
from bluegreen.executor import Remote, RemoteError
from bluegreen.inventory import Host, Inventory
from bluegreen.log import Log
from bluegreen.notify import Event, Notifier
from bluegreen.traffic import Split, Traffic

# After a reload both colors answer for ~100 ms (old workers still accept): verify longer.
RELOAD_OVERLAP = 0.3
OLD_WORKERS_LIMIT = 30.0  # seconds to wait for nginx workers of the old config to finish
LOCK_TTL = 3600  # seconds after which a lock left by a dead run may be taken over


@dataclass(frozen=True)
class Options:
    dry_run: bool = False  # read facts, print the commands, change nothing
    batch: str | None = None  # switch N hosts ("2") or a share ("25%") at a time
    parallel: int = 10  # hosts worked on at once within a phase


@dataclass(frozen=True)
class Step:
    """One traffic move of a change: the target color's share, then watching it."""

    share: int = 100  # percent of the requests for the target color; the rest stay live
    watch: float = 0.0  # seconds to watch the target color afterwards (0: not watched)
    sticky: bool = False  # split by client address instead of per request


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
    locked: bool = False
    started: bool = False  # we started (or replaced) the target color's container
    touched: bool = False  # nginx was (possibly) pointed at the target
    unfinished: str = ""  # nginx serves other than its files say (a switch that did not finish)
    outcome: str = "unchanged"  # unchanged | switched | reverted | already live | failed
    share: int = 100  # the current step's share for the target color
    sticky: bool = False

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def target(self) -> Traffic:
        """What nginx is to serve: the target color alone, or a share of it beside the live one."""
        base = self.facts.traffic
        if self.share == 100 or base is None:
            return Traffic(self.color, self.release)
        split = Split(self.color, self.release, self.share, self.sticky)
        return Traffic(base.color, base.release, split)

    @property
    def watched(self) -> bool:
        """The target color gets traffic it did not have (not a return to the live color)."""
        return self.share < 100 or self.color != self.facts.live_color


def batches(runs: list[HostRun], size: str | None) -> list[list[HostRun]]:
    """Split hosts into batches: all at once, N at a time ("2"), or a share ("25%")."""
    if not runs or not size:
        return [runs] if runs else []
    text = size.strip()
    try:
        count = math.ceil(len(runs) * float(text[:-1]) / 100) if text.endswith("%") else int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise Refused(f"--batch must be a number of hosts (2) or a share (25%), not {size!r}")
    return [runs[i : i + count] for i in range(0, len(runs), count)]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True


def stale(info: lock.LockInfo, me: str, running: Callable[[int], bool] = _running) -> bool:
    """A lock taken from this same user@machine by a process that no longer runs (killed, or
    its connection lost): nobody will give it back. Other machines' locks wait to expire."""
    return info.holder == me and info.pid != os.getpid() and not running(info.pid)


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


class Fleet:
    """Shared context of one orchestration."""

    def __init__(
        self, inventory: Inventory, log: Log, operation: str, options: Options | None = None
    ) -> None:
        self.inventory = inventory
        self.log = log
        self.operation = operation
        self.options = options or Options()
        self.jinja = templates.environment(inventory)
        self.runs: list[HostRun] = []
        self.interrupted = False
        self.halt = threading.Event()  # a watch failed or an interrupt came: stop watching
        self.step = Step()  # the traffic move being made
        self.timings: dict[str, float] = {}  # phase -> seconds (all batches together)
        now = time.time()
        self.lock = lock.LockInfo(
            holder=f"{getpass.getuser()}@{socket.gethostname()}",
            pid=os.getpid(),
            operation=operation,
            started=datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
            expires=int(now) + LOCK_TTL,
            token=uuid.uuid4().hex,
        )
        self.started = now

    @property
    def app(self) -> str:
        return self.inventory.app.name

    def remote(self, host: Host) -> Remote:
        return executor.connect(host, self.options.dry_run)

    def phase(self, runs: list[HostRun], step: Callable[[HostRun], None]) -> bool:
        """Run ``step`` on every host in parallel; log each failure; True when all succeeded."""
        if not runs:
            return True
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=min(self.options.parallel, len(runs))) as pool:
            futures = [(run, pool.submit(step, run)) for run in runs]
        name = getattr(step, "__name__", "step").removesuffix("_target")
        self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started
        ok = True
        for run, future in futures:
            error = future.exception()
            if error is not None:
                ok = False
                run.outcome = "failed"
                self.log.fail(run.name, str(error).removeprefix(f"{run.name}: "))
        return ok

    def phases(self, runs: list[HostRun], *steps: Callable[[HostRun], None]) -> bool:
        """Run phases in order while they succeed and no interrupt came."""
        return all(self.phase(runs, step) and not self.interrupted for step in steps)

    @contextlib.contextmanager
    def deferred_interrupts(self) -> Iterator[None]:
        """SIGINT/SIGTERM set a flag: the current step ends, then everything is put back."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.getsignal(sig) for sig in signals}

        def handler(signum: int, frame: object) -> None:
            if not self.interrupted:
                self.log.line(
                    f"⚠️  {signal.Signals(signum).name}: finishing the current step on every"
                    " host, then putting everything back"
                )
            self.interrupted = True
            self.halt.set()

        for sig in signals:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # -- steps ------------------------------------------------------------------------

    def read_each(self, hosts: list[Host], step: Callable[[HostRun], None]) -> bool:
        """Connect to every host (no lock) and run the read-only ``step`` on each."""
        runs = [HostRun(host, executor.connect(host)) for host in hosts]
        try:
            return self.phase(runs, lambda run: (run.remote.open(), step(run)))
        finally:
            for run in runs:
                run.remote.close()

    def read_facts(self, run: HostRun, release: str | None = None, take_lock: bool = False) -> None:
        """Read facts (and take the lock) in one round trip."""
        command = facts.probe(self.app, run.host.app_dir, release)
        if take_lock:
            command += "\n" + lock.acquire(run.host.app_dir, self.lock)
        output = run.remote.run(command, what="facts", readonly=not take_lock)
        run.facts = facts.parse(output)
        run.installed = {
            nginx.site_path(self.app): run.facts.site_md5,
            nginx.script_path(self.app): run.facts.script_md5,
        }
        if take_lock:
            self._check_lock(run, output)
        self._trust_served(run)

    def _trust_served(self, run: HostRun) -> None:
        """What the public port serves is live, whatever nginx's files say: a switch whose
        session died between renaming the include and reloading nginx leaves them apart."""
        found = run.facts
        if found.split is not None:  # both colors answer: one answer proves nothing
            return
        health, port = self.inventory.app.health, self.inventory.ports.public
        served = checks.serving(run.remote, port, health.path, health.timeout)
        if served is None or served == found.traffic:
            return
        files = found.traffic.describe() if found.traffic else "nothing"
        run.unfinished = (
            f"nginx serves {served.describe()}, its files say {files}:"
            " an earlier switch did not finish"
        )
        run.facts = dataclasses.replace(found, live_color=served.color, live_release=served.release)

    def _check_lock(self, run: HostRun, output: str) -> None:
        values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        state = values.get("lock", "")
        if state == "taken":
            run.locked = True
            return
        if not state.startswith("held"):  # dry run: the lock is not taken
            return
        holder = lock.parse(state.removeprefix("held").strip())
        now = int(values.get("lock_now", "0") or 0)
        dead = holder is not None and stale(holder, self.lock.holder)
        if holder is not None and holder.expires > now and not dead:
            raise Refused(f"locked by {holder.describe()}; try again later or `fab lock.release`")
        run.remote.run(lock.take_over(run.host.app_dir, self.lock), what="take over lock")
        run.locked = True
        was = holder.describe() if holder else "an unreadable lock"
        why = "the stale lock (its process no longer runs here)" if dead else "the expired lock"
        self.log.warn(run.name, f"lock: took over {why} of {was}")

    def preflight(self, run: HostRun, release: str | None) -> None:
        run.remote.open()
        self.read_facts(run, release, take_lock=not self.options.dry_run)
        if run.unfinished:
            self.log.warn(run.name, run.unfinished)
        run.mode = switch_mode(run.host, run.facts)

    def health(self, run: HostRun) -> None:
        port = self.inventory.ports.of(run.color)
        health = self.inventory.app.health
        if self.options.dry_run:
            self.log.step(run.name, f"would check http://127.0.0.1:{port}{health.path}")
            return
        try:
            detail = checks.wait_healthy(run.remote, port, health)
        except checks.CheckFailed as error:
            logs = run.remote.run(docker.logs(self.app, run.color), check=False, what="logs")
            tail = "".join(f"\n      | {line}" for line in logs.splitlines()[-10:])
            raise checks.CheckFailed(f"health: {run.color} {error}{tail}") from error
        self.log.ok(run.name, f"health: {run.color} {detail}")

    def point(self, run: HostRun, traffic: Traffic) -> str:
        """Make nginx serve ``traffic``; say how (state file renamed, or tested and reloaded).

        The site (and in file mode the njs module) is installed only when it changed, so a
        file-mode switch is one atomic rename and nginx is never reloaded.
        """
        jinja, inv, app = self.jinja, self.inventory, self.app
        config = [(nginx.site_path(app), templates.site(jinja, inv, run.mode))]
        if run.mode == "file":
            config.insert(0, (nginx.script_path(app), templates.script(jinja, inv)))
            live = (nginx.state_path(app), templates.state(traffic))
        else:
            live = (nginx.live_path(app), templates.live(jinja, inv, traffic))
        changed = [(path, text) for path, text in config if run.installed.get(path) != _md5(text)]
        reload = run.mode == "reload" or bool(changed)
        run.remote.run(nginx.install([*changed, live], reload=reload), what="nginx switch")
        run.installed.update((path, _md5(text)) for path, text in changed)
        return "nginx tested and reloaded" if reload else "state file renamed, no reload"

    def switch(self, run: HostRun) -> None:
        run.touched = True
        try:
            how = self.point(run, run.target)
        except RemoteError as error:
            if error.exited != nginx.TEST_FAILED:
                raise
            run.touched = False  # the host put its files back itself: nothing to revert
            cause = str(error).partition("): ")[2] or "see nginx -t on the host"
            raise RemoteError(
                run.name, f"switch: nginx -t failed, previous files restored, not reloaded: {cause}"
            ) from error
        target = run.target
        live = f"live = {target.color}" if target.split is None else target.describe()
        self.log.ok(run.name, f"switch: {how}, {live}")

    def verify(self, run: HostRun, traffic: Traffic) -> str:
        """The public port serves ``traffic``; after a reload, for longer than nginx's overlap."""
        window = RELOAD_OVERLAP if run.mode == "reload" else 0.0
        path, port = self.inventory.app.health.path, self.inventory.ports.public
        if self.options.dry_run:
            return f"would check that port {port} serves {traffic.describe()}"
        sticky = traffic.split is not None and traffic.split.sticky
        return checks.wait_serving(
            run.remote, port, path, traffic.releases, window=window, see_all=not sticky
        )

    def verify_target(self, run: HostRun) -> None:
        self.log.ok(run.name, f"verify: {self.verify(run, run.target)}")

    def watch_target(self, run: HostRun) -> None:
        """Judge the color that got traffic by the access log, for the step's watch time."""
        seconds = self.step.watch
        if seconds <= 0 or not run.watched:
            return
        if self.options.dry_run:
            self.log.step(run.name, f"would watch {run.color} for {seconds:g} s")
            return
        try:
            report = watch.watch(run.remote, self.inventory, run.color, seconds, self.halt)
        except watch.WatchFailed:
            self.halt.set()  # the other hosts stop watching: the batch goes back now
            raise
        self.log.ok(run.name, f"watch: {report}")

    def revert(self, run: HostRun) -> None:
        """Point nginx back at what served before, and check it does."""
        old = run.facts.traffic
        if old is not None:
            self.point(run, old)
            self.log.ok(run.name, f"revert: {self.verify(run, old)}")
        else:  # the host served nothing before: take our site away again
            run.remote.run(nginx.uninstall(self.app), what="revert")
            self.log.ok(run.name, "revert: site removed (nothing served before)")
        run.outcome = "reverted"

    def drain(self, run: HostRun) -> None:
        """Let in-flight requests finish, then stop (keep) each color that no longer serves."""
        before = run.facts.traffic.releases if run.facts.traffic else {}
        after = run.target.releases
        old = [
            color
            for color in before
            if color not in after
            and (container := run.facts.containers.get(color)) is not None
            and container.running
        ]
        if not old:
            return
        if self.inventory.app.warm_standby:
            self.log.ok(run.name, f"drain: {' and '.join(old)} kept running (warm standby)")
            return
        drain = self.inventory.app.drain
        wait = nginx.wait_old_workers(OLD_WORKERS_LIMIT)
        stop = "; ".join(docker.stop(self.app, color) for color in old)
        command = f"sleep {drain:g}; {wait}; {stop}"
        run.remote.run(command, timeout=drain + OLD_WORKERS_LIMIT + 30, what="drain")
        self.log.ok(run.name, f"drain: waited {drain:g} s, stopped {' and '.join(old)} (kept)")

    def finish(self, run: HostRun) -> None:
        """Write the host's history line and give its lock back, in one round trip."""
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "operator": self.lock.holder,
            "operation": self.operation,
            "release": run.release,
            "from": run.facts.live_color,
            "from_release": run.facts.live_release,
            "to": run.color,
            **({"share": run.share} if run.share < 100 else {}),
            "result": run.outcome,
            "seconds": round(time.time() - self.started, 2),
        }
        app_dir = run.host.app_dir
        command = (
            history.append(app_dir, json.dumps(record))
            + "; "
            + lock.release(app_dir, self.lock.token)
        )
        run.remote.run(command, what="history and unlock")
        run.locked = False

    # -- the state machine ------------------------------------------------------------

    def change(
        self,
        hosts: list[Host],
        choose: Callable[[HostRun], None],
        stage: Callable[[HostRun], None],
        undo: Callable[[HostRun], None],
        release: str | None = None,
        steps: tuple[Step, ...] = (),
    ) -> bool:
        """Run one fleet change; True when every host ends on its target.

        ``steps`` move traffic to the target color (default: all of it at once, watched
        for the inventory's ``app.watch.seconds``); the last one is where the hosts end.
        """
        steps = steps or (Step(watch=self.inventory.app.watch.seconds),)
        self.runs = [HostRun(host, self.remote(host)) for host in hosts]
        ready = False

        def preflight(run: HostRun) -> None:
            self.preflight(run, release)
            run.share, run.sticky = steps[-1].share, steps[-1].sticky

        def choose_target(run: HostRun) -> None:
            choose(run)
            splits = min(step.share for step in steps) < 100
            if splits and run.outcome != "already live" and run.facts.traffic is None:
                raise Refused("nothing serves here yet, so there is nothing to split with")

        notifier = Notifier(() if self.options.dry_run else self.inventory.notify, self.log)
        with self.deferred_interrupts():
            try:
                ready = self.phases(self.runs, preflight, choose_target)
                if not ready:
                    self.log.line("❌ nothing changed")
                    return False
                notifier.send(self.event("started"))
                todo = [run for run in self.runs if run.outcome != "already live"]
                groups = batches(todo, self.options.batch)
                for number, group in enumerate(groups, 1):
                    if self.interrupted:  # the batches switched so far stay; no more start
                        return False
                    if len(groups) > 1:
                        names = ", ".join(run.name for run in group)
                        self.log.line(f"batch {number}/{len(groups)}: {names}")
                    if not self.roll(group, stage, undo, steps):
                        return False
                return True
            finally:
                self.phase([run for run in self.runs if run.locked], self.finish)
                for run in self.runs:
                    run.remote.close()
                self.summary()
                if ready:
                    notifier.send(self.event(self.verdict()))
                notifier.close()

    def verdict(self) -> str:
        outcomes = {run.outcome for run in self.runs}
        if outcomes <= {"switched", "already live"}:
            return "succeeded"
        return "reverted" if "reverted" in outcomes else "failed"

    def event(self, name: str) -> Event:
        return Event(
            event=name,
            operation=self.operation,
            app=self.app,
            release=", ".join(sorted({run.release for run in self.runs if run.release})),
            hosts=tuple(run.name for run in self.runs),
            operator=self.lock.holder,
            seconds=round(time.time() - self.started, 2),
        )

    def roll(
        self,
        group: list[HostRun],
        stage: Callable[[HostRun], None],
        undo: Callable[[HostRun], None],
        steps: tuple[Step, ...],
    ) -> bool:
        """One batch, all or nothing: any failure up to the last step's watch puts it back."""
        if not self.phases(group, stage, self.health):
            self.phase([run for run in group if run.started], undo)
            return False
        for number, step in enumerate(steps, 1):
            self.step = step
            for run in group:
                run.share, run.sticky = step.share, step.sticky
            if len(steps) > 1:
                self.log.line(f"step {number}/{len(steps)}: {step.share} % to the new release")
            if not self.phases(group, self.switch, self.verify_target, self.watch_target):
                self.phase([run for run in group if run.touched], self.revert)
                self.phase([run for run in group if run.started], undo)
                return False
        for run in group:
            run.outcome = "switched"
        self.phase(group, self.drain)
        return True

    def summary(self) -> None:
        """The final table: what each host did and what it serves now."""
        if self.options.dry_run:
            for run in self.runs:
                self.log.line(f"{run.name}: plan ({run.mode} mode)")
                for command in run.remote.plan:
                    for line in command.splitlines():
                        self.log.line(f"    {line}")
            self.log.line("dry run: nothing was changed")
            return
        rows = [("host", "result", "serves", "ssh round trips")]
        for run in self.runs:
            switched = run.outcome in ("switched", "already live")
            traffic = run.target if switched else run.facts.traffic
            serves = traffic.describe() if traffic else "nothing"
            if run.touched and run.outcome == "failed":  # switched, and not put back for sure
                serves = "unknown (see fab status)"
            rows.append((run.name, run.outcome, serves, str(run.remote.round_trips)))
        self.log.table(rows)
        phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.timings.items())
        self.log.line(f"phases: {phases}")
        if self.verdict() == "succeeded":
            late = " (interrupted after every switch was verified: nothing to put back)"
            self.log.line(f"✅ done{late if self.interrupted else ''}")
        elif self.interrupted:
            self.log.line("❌ interrupted: every host serves what the table says")
        else:
            self.log.line("❌ failed: every host serves what the table says")
