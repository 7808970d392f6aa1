"""The engine of every change: ONE orchestration over all selected hosts, in phases.

preflight (connect, facts, lock — every host) → choose (each host's target) → per batch:
stage → health → for each step (a canary has several traffic shares, anything else one):
switch → verify → watch; then drain. A failure before a batch's switch leaves its hosts
on their old color (new containers undone); a failure during or after it points every
touched host back and verifies that. Later batches are not started. Locks are released and
history is written on every host at the end, also after a failure or SIGINT/SIGTERM (which
are deferred to the end of the current step, then handled like a failure).
"""

from __future__ import annotations

import json
import threading
import time

from bluegreen import transport
from bluegreen.config.inventory import COLORS, Host, Inventory
from bluegreen.engine import (
    balancer,
    certificate,
    checks,
    interrupts,
    locking,
    monitoring,
    probe,
    report,
    watch,
)
from bluegreen.engine.operation import HostStep, Operation
from bluegreen.engine.processes import Processes
from bluegreen.engine.runner import Runner
from bluegreen.engine.state import NEEDS_ATTENTION, HostRun, Options, Phase, Step, batches
from bluegreen.engine.switcher import Switcher, installed, switch_mode
from bluegreen.errors import (
    BluegreenError,
    BugFound,
    CheckFailed,
    Refused,
    RemoteError,
    WatchFailed,
)
from bluegreen.facts import HostFacts, neighbours
from bluegreen.local import children, hooks
from bluegreen.local.notify import Event, Notifier
from bluegreen.output.log import Log
from bluegreen.shell import history, lock, nginx, runtime

HOOKED = ("deploy", "rollback", "switch")  # the operations the operator's hooks run around
SAFETY = (Phase.REVERT, Phase.UNDO, Phase.FINISH)  # they reconnect a dropped session first
LOCK_LEFT = "its lock stays until it expires or the next run from this machine takes it over"


class Change:
    """One fleet change: the hosts' runs, the phases, the lock, the report."""

    def __init__(
        self, inventory: Inventory, log: Log, operation: str, options: Options | None = None
    ) -> None:
        self.inventory = inventory
        self.log = log
        self.operation = operation
        self.options = options or Options()
        self.runner = Runner(log, self.options.parallel)
        self.started = time.time()
        self.lock = locking.new(operation, self.started)
        self.switcher = Switcher(inventory, log, self.options.dry_run, self.lock)
        self.processes = Processes(inventory, log, self.options.dry_run)
        self.runs: list[HostRun] = []
        self.interrupted = False
        self.halt = threading.Event()  # a watch failed or an interrupt came: stop watching
        self.step = Step()  # the traffic move being made
        self.batch: list[HostRun] = []  # the hosts being rolled now
        self.balanced = False  # each batch leaves the load balancer before its switch
        self.unreachable: set[str] = set()  # hosts a reconnect failed on

    @property
    def app(self) -> str:
        return self.inventory.app.name

    def phase(self, phase: Phase, runs: list[HostRun], step: HostStep) -> bool:
        """``step`` on every host in parallel, after its lock's heartbeat when that is due;
        a host it failed on is marked failed."""

        def alive(run: HostRun) -> None:
            if phase in SAFETY:
                try:
                    self.reconnect(run)
                except BluegreenError as error:
                    if phase is not Phase.FINISH:
                        raise
                    self.settled(run, error, LOCK_LEFT)  # what it serves is settled
                    return
            if phase is not Phase.FINISH:
                self.heartbeat(run, phase)
            step(run)

        wrapped = phase is not Phase.PREFLIGHT and not self.options.dry_run
        result = self.runner.phase(phase.value, runs, alive if wrapped else step)
        for run in runs:
            if run.name in result.failed:
                run.outcome = "failed"
                run.bug |= not isinstance(result.failed[run.name], BluegreenError)
        return result.ok

    def phases(self, runs: list[HostRun], *steps: tuple[Phase, HostStep]) -> bool:
        """Run phases in order while they succeed and no interrupt came."""
        return all(self.phase(phase, runs, step) and not self.interrupted for phase, step in steps)

    def reconnect(self, run: HostRun) -> None:
        """Before a phase that puts a host back or finishes it: a session that dropped
        (a transient network fault) is opened again; failing that, the phase fails on that
        host as an unreachable host does, and later phases do not wait for it again."""
        if run.name in self.unreachable:
            raise RemoteError(run.name, "still unreachable (see above)")
        try:
            again = run.remote.reconnect()
        except BluegreenError:
            self.unreachable.add(run.name)
            raise
        if again:
            self.log.warn(run.name, "the SSH connection had dropped: connected again")

    def heartbeat(self, run: HostRun, phase: Phase) -> None:
        """Keep a long run's lock: refresh its expiry on the host's clock at a phase boundary
        once it is due. A lock that is no longer this run's fails the host, except while it
        is being put back (the revert and undo still run)."""
        if not run.locked or not locking.due(run.lock_since):
            return
        run.lock_since = locking.clock()  # tried once per period, also when it fails
        try:
            locking.refresh(run.remote, run.host, self.lock)
        except BluegreenError as error:
            if phase not in (Phase.REVERT, Phase.UNDO):
                raise
            self.settled(run, error, f"the {phase.value} goes on")

    def interrupt(self, signal_name: str) -> None:
        """A signal came: finish the current step everywhere, then put everything back. A
        second one ends the local programs the step waits for (a hook, a build, docker
        save, git): the step fails at once and the hosts are put back."""
        if self.interrupted:
            stopped = children.stop_all()
            self.log.line(
                f"⚠️  {signal_name} again: stopped {stopped} local program(s);"
                " putting everything back"
            )
            return
        self.log.line(
            f"⚠️  {signal_name}: finishing the current step on every host,"
            f" then putting everything back ({signal_name} again to stop local programs now)"
        )
        self.interrupted = True
        self.halt.set()

    # -- per-host steps -----------------------------------------------------------------

    def preflight(self, run: HostRun, release: str | None) -> None:
        """Connect, read facts and take the lock, in one round trip."""
        run.remote.open()
        take = (
            ""
            if self.options.dry_run
            else lock.acquire(run.host.app_dir, self.lock, locking.LOCK_TTL)
        )
        if take and self.inventory.metrics:
            take += "\n" + monitoring.preflight(self.inventory, run, self.lock.token)
        # serving a color that is there: both colors' health is probed with the facts (the
        # target's answer counts if nothing is started before its health phase)
        colors = COLORS if take and release is None else ()
        run.locked = bool(take)  # maybe taken: a run lost before settle still gives it back
        seen = probe.read(run.remote, self.inventory, run.host, release, take, colors)
        run.early_health = seen.healthy
        run.facts, run.unfinished, run.reached = seen.facts, seen.unfinished, True
        run.installed = installed(self.app, seen.facts)
        if take:
            run.lock_since = locking.clock()  # the host's expiry was set from its clock now
            try:
                run.locked = locking.settle(run.remote, run.host, self.lock, seen.output, self.log)
            except Refused:
                run.locked = False  # theirs: left alone
                raise
        if run.locked and (lost := locking.abandoned(run.facts)):
            self.log.warn(run.name, f"left unsettled: {locking.unconfirmed(lost)}")
        if run.locked and run.facts.aside:
            run.early_health = {}  # the repair renames containers: ask again
            self.repair(run, release)
        if run.unfinished:
            self.log.warn(run.name, run.unfinished)
        if run.facts.drained:  # by hand, or a run cut off: it stays out until removed
            path = nginx.drain_path(self.app)
            self.log.warn(run.name, f"out of the load balancer ({path} exists; rm it to rejoin)")
        self.refuse_in_maintenance(run)
        monitoring.check(self.inventory, seen.output)
        found = run.facts
        clash = neighbours.check(self.inventory, found.neighbours, found.owners)
        if clash:
            raise Refused(clash)
        run.mode = switch_mode(run.host, run.facts)
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

    def repair(self, run: HostRun, release: str | None) -> None:
        """A deploy cut off mid-way left the kept container set aside: where its color does
        not serve, it is the rollback target and gets its name back (the unverified new one
        is removed); where its color serves, the deploy got through and it is dropped. Then
        the facts are read again."""
        runs = runtime.of(self.inventory.app)
        commands, done = [], []
        for color, keep in leftovers(run.facts):
            if keep:
                commands.append(runs.restore(run.host, color, running=False))
                done.append(f"the kept {runs.name(color)} is back")
            else:
                commands.append(runs.retire(run.host, color))
                done.append(f"dropped the set-aside {runs.name(color)} ({color} serves)")
        run.remote.run("; ".join(commands), what="repair")
        self.log.warn(run.name, f"repair after a change cut off mid-way: {'; '.join(done)}")
        seen = probe.read(run.remote, self.inventory, run.host, release)
        run.facts, run.unfinished = seen.facts, seen.unfinished
        run.installed = installed(self.app, seen.facts)

    def refuse_in_maintenance(self, run: HostRun) -> None:
        """While the maintenance page is up only ``fab maintenance`` changes a host, unless
        forced (the switch then takes the page down)."""
        served = run.facts.traffic
        if self.operation == "maintenance" or self.options.force:
            return
        if served is not None and served.maintenance:
            raise Refused(
                f"host {run.name} is in maintenance: fab maintenance --off first, or --force"
                f" to {self.operation} anyway (its switch takes the maintenance page down)"
            )

    def health(self, run: HostRun) -> None:
        if run.maintenance:
            return  # the maintenance page needs no app (it may be down: that is why)
        port = self.inventory.ports.of(run.color)
        health = self.inventory.app.health
        if self.options.dry_run:
            self.log.step(run.name, f"would check http://127.0.0.1:{port}{health.path}")
            return
        early = None if run.started else run.early_health.get(run.color)
        try:
            detail = (
                f"{early}, probed with the facts"
                if early
                else checks.wait_healthy(run.remote, port, health)
            )
        except CheckFailed as error:
            command = runtime.of(self.inventory.app).logs(run.color)
            logs = run.remote.run(command, check=False, what="logs")
            raise CheckFailed(f"health: {run.color} {error}{tail(logs)}") from error
        self.log.ok(run.name, f"health: {run.color} {detail}")
        if run.host.network == "host" and checks.exposed(run.host.address, port):
            self.log.warn(
                run.name,
                f"{run.color} answers on {run.host.address}:{port} from outside: with network:"
                f" host the app must listen on 127.0.0.1 (bluegreen passes HOST=127.0.0.1 and"
                f" PORT={port}), or a firewall must close ports {self.inventory.ports.of('blue')}"
                f" and {self.inventory.ports.of('green')}",
            )

    def watch(self, run: HostRun) -> None:
        """Judge the color that got traffic by the access log, for the step's watch time."""
        seconds = self.step.watch
        if seconds <= 0 or not run.watched:
            return
        if self.options.dry_run:
            self.log.step(run.name, f"would watch {run.color} for {seconds:g} s")
            return
        try:
            result = watch.watch(run.remote, self.inventory, run.color, seconds, self.halt)
        except WatchFailed:
            self.halt.set()  # the other hosts stop watching: the batch goes back now
            raise
        self.log.ok(run.name, f"watch: {result}")

    def settled(self, run: HostRun, error: BluegreenError, consequence: str) -> None:
        """A step after the verified switch failed: a warning, not a failure (the host
        serves what it was to serve)."""
        message = str(error).removeprefix(f"{run.name}: ")
        self.log.warn(run.name, f"{message}; {consequence}")

    def drain(self, run: HostRun) -> None:
        """After a verified switch nothing is put back: a failed drain leaves the old color
        running (a warning), the host stays switched."""
        try:
            self.switcher.drain(run)
        except BluegreenError as error:
            self.settled(run, error, "the old color still runs (fab status shows it)")

    def finish(self, plan: Operation, run: HostRun) -> None:
        """Write the host's history line and give its lock back (a switched host also drops
        the container it set aside, and old images), in one round trip. A host lost by then
        keeps its lock (a warning): what it serves is already settled."""
        line = json.dumps(report.record(run, self.operation, self.lock.holder, self.started))
        app_dir = run.host.app_dir
        command = lock.release(app_dir, self.lock.token)
        if run.reached:  # its facts were read: the history line has something to say
            unmark = lock.unmark(app_dir, self.lock.token)  # only once the line is written
            command = f"{history.append(app_dir, line)} && {unmark}; {command}"
        if self.inventory.metrics:
            command += f"; {monitoring.finish(self.inventory, run, self.operation)}"
        if run.drained and not run.attention:  # cut off between leaving and rejoining
            command = f"{nginx.rejoin(self.app)}; {command}"
        if run.outcome == "switched" and (tidy := plan.tidy(run)):
            command = f"{tidy}\n{command}"
        if run.outcome == "switched" and run.prune:  # the old TLS pair, now that it verified
            command = f"{run.prune}\n{command}"
        if run.retire and run.outcome == "switched":  # first: its image may then be pruned
            command = f"{run.retire}; {command}"
        try:
            output = run.remote.run(command, what="history and unlock")
        except BluegreenError as error:
            self.settled(run, error, LOCK_LEFT)
            return
        run.locked = False
        pruned = [line[7:] for line in output.splitlines() if line.startswith("pruned=")]
        if pruned:
            self.log.ok(run.name, f"prune: removed {len(pruned)} old image(s): {' '.join(pruned)}")
        for warning in (line for line in output.splitlines() if line.startswith("warning: ")):
            self.log.warn(run.name, warning.removeprefix("warning: "))  # e.g. a metrics file

    def agreed(self, plan: Operation, group: list[HostRun]) -> bool:
        """The staged batch may switch together (e.g. every host has the same image)."""
        try:
            plan.agree(group)
        except BluegreenError as error:
            self.log.line(f"❌ {error}")
            for run in group:
                run.outcome = "failed"
            return False
        return True

    # -- the state machine ----------------------------------------------------------------

    def run(
        self,
        hosts: list[Host],
        plan: Operation,
        release: str | None = None,
        steps: tuple[Step, ...] = (),
    ) -> bool:
        """Run the change ``plan`` describes; True when every host ends on its target.

        ``steps`` move traffic to the target color (default: all of it at once, watched for
        the inventory's ``app.watch.seconds``); the last one is where the hosts end.
        """
        steps = steps or (Step(watch=self.inventory.app.watch.seconds),)
        batches(hosts, self.options.batch)  # a bad --batch is refused before any connect
        dry = self.options.dry_run
        self.runs = [HostRun(host, transport.connect(host, dry)) for host in hosts]
        ready = False
        if not self.hook("before", release or ""):
            self.log.line("❌ the before hook failed: nothing changed on any host")
            return False

        def preflight(run: HostRun) -> None:
            self.preflight(run, release)
            run.share, run.sticky = steps[-1].share, steps[-1].sticky

        def choose_target(run: HostRun) -> None:
            if not run.host.web:
                return  # its release is the web hosts' (``follow_web``)
            plan.choose(run)
            splits = min(step.share for step in steps) < 100
            if splits and run.outcome != "already live" and run.facts.traffic is None:
                raise Refused("nothing serves here yet, so there is nothing to split with")

        notifier, ok = Notifier(() if dry else self.inventory.notify, self.log), False
        with interrupts.deferred(self.interrupt):
            try:
                ready = self.phases(
                    self.runs, (Phase.PREFLIGHT, preflight), (Phase.CHOOSE, choose_target)
                ) and self.follow_web(release)
                if ready:
                    notifier.send(self.event("started"))
                    ok = self.roll_batches(plan, steps)
                else:
                    self.log.line("❌ nothing changed")
            finally:
                self.end(plan)
                verdict = report.verdict(self.runs) if ready else "failed"
                if ready:
                    notifier.send(self.event(verdict))
                notifier.close()
                self.hook("after" if verdict == "succeeded" else "failed", self.releases, verdict)
        if bugs := [run.name for run in self.runs if run.bug]:
            raise BugFound(f"a bug in bluegreen on {', '.join(bugs)}: see its traceback above")
        return ok

    def follow_web(self, release: str | None) -> bool:
        """Hosts without web (``web: false``) take the release the web hosts move to."""
        others = [run for run in self.runs if not run.host.web]
        if not others:
            return True
        moving = {
            run.release for run in self.runs if run.host.web and run.outcome != "already live"
        }
        releases = (moving or {release}) - {None, ""}
        if len(releases) != 1:
            self.log.line(
                f"❌ hosts without web ({', '.join(run.name for run in others)}) follow the"
                " release the web hosts of the same run move to; this run moves"
                f" {' and '.join(sorted(releases)) or 'none'}: name the web hosts in -H too"
            )
            return False
        (target,) = releases
        for run in others:
            run.release = target
        return True

    def roll_batches(self, plan: Operation, steps: tuple[Step, ...]) -> bool:
        """Batch after batch while each succeeds; an interrupt starts no further batch (the
        batches switched so far stay)."""
        todo = [run for run in self.runs if run.outcome != "already live"]
        groups = batches(todo, self.options.batch)
        self.balanced = balancer.applies(self.inventory, len(groups))
        alone = self.inventory.app.balancer and len(todo) > 1 and not self.balanced
        if alone and self.operation in HOOKED:
            self.log.line(
                "⚠️  app.balancer: every host switches in one batch, so none leaves the load"
                " balancer (give --batch N to drain them batch by batch)"
            )
        for number, group in enumerate(groups, 1):
            if self.interrupted:
                return False
            if len(groups) > 1:
                names = ", ".join(run.name for run in group)
                self.log.line(f"batch {number}/{len(groups)}: {names}")
            if not self.roll(group, plan, steps):
                return False
        return True

    def end(self, plan: Operation) -> None:
        """On every host: history and unlock; sessions closed; then the operator's report."""
        locked = [run for run in self.runs if run.locked]
        self.phase(Phase.FINISH, locked, lambda run: self.finish(plan, run))
        for run in self.runs:
            run.remote.close()
        if self.options.dry_run:
            report.plans(self.log, self.runs)
        else:
            report.summary(self.log, self.runs, self.runner.timings, self.interrupted)

    def hook(
        self,
        name: str,
        release: str,
        result: str | None = None,
        runs: list[HostRun] | None = None,
    ) -> bool:
        """The operator's hook ``name`` on this machine for ``runs`` (default: every host;
        not for other operations, nor in a dry run); False when it failed."""
        if self.operation not in HOOKED or self.options.dry_run:
            return True
        names = [run.name for run in (self.runs if runs is None else runs)]
        variables = hooks.environment(self.app, release, names, self.operation, result)
        return hooks.run(self.inventory, name, variables, self.log)

    @property
    def releases(self) -> str:
        return ", ".join(sorted({run.release for run in self.runs if run.release}))

    def event(self, name: str) -> Event:
        return report.event(
            name, self.operation, self.app, self.runs, self.lock.holder, self.started
        )

    def roll(self, group: list[HostRun], plan: Operation, steps: tuple[Step, ...]) -> bool:
        """One batch, all or nothing: any failure up to the last step's watch puts it back."""
        switcher, self.batch = self.switcher, group
        (phase, first), *rest = plan.stages()  # the image is on every host after the first
        web = [run for run in group if run.host.web]  # the others run app.processes only

        def certified(run: HostRun) -> None:  # ACME: a certificate before anything starts
            if not run.host.web:
                plan.ready(run)
                return
            certificate.ensure(switcher, self.log, run)
            first(run)

        ready = (
            self.phases(group, (phase, certified))
            and self.agreed(plan, group)  # the same image everywhere?
            and self.phases(web, *rest, (Phase.HEALTH, self.health))
        )
        if not (ready and self.leave(web)):
            self.put_back(group, plan)
            return False
        for number, step in enumerate(steps, 1):
            self.step = step
            for run in group:
                run.share, run.sticky = step.share, step.sticky
            if len(steps) > 1:
                self.log.line(f"step {number}/{len(steps)}: {step.share} % to the new release")
            moved = self.phases(
                web, (Phase.SWITCH, switcher.switch), (Phase.VERIFY, switcher.verify_target)
            )
            if moved:  # verified: back into the load balancer, whose traffic the watch judges
                self.rejoin(web, wait=True)
            if not (moved and self.phases(web, (Phase.WATCH, self.watch))):
                self.put_back(group, plan)
                return False
        following = [run for run in group if self.processes.follows(run)]
        moves = (
            (Phase.QUIESCE, self.processes.stop),
            (Phase.PROCESSES, self.processes.start),
            (Phase.SCHEDULE, self.processes.schedule),
        )
        if following and not self.phases(following, *moves):
            self.put_back(group, plan)
            return False
        for run in group:
            run.outcome = "switched"
        self.hook("after_switch", self.releases)
        self.phase(Phase.DRAIN, web, self.drain)
        return True

    def put_back(self, group: list[HostRun], plan: Operation) -> None:
        """A batch failed: point touched hosts back, then undo what was started, but only
        where nothing or a verified revert points nginx away from it: a host whose revert
        failed may still serve its new color, so it keeps every color running."""
        touched = [run for run in group if run.touched and not run.bug]
        self.phase(Phase.REVERT, touched, self.switcher.revert)
        for run in group:
            failed_revert = run in touched and run.outcome != "reverted"
            if failed_revert or (run.bug and (run.started or run.touched)):
                self.attend(run)
        undo = [run for run in group if run.started and not run.attention]
        self.phase(Phase.UNDO, undo, plan.undo)
        moved = [run for run in group if (run.processes or run.launched) and not run.attention]
        self.phase(Phase.UNDO, moved, self.processes.restore)
        # serving what it served before: back in rotation; one that needs attention stays out
        self.rejoin([run for run in group if not run.attention], wait=False)

    def leave(self, group: list[HostRun]) -> bool:
        """With a load balancer: the batch's health endpoints turn 503, then the balancer is
        given ``app.balancer.drain`` seconds to take the hosts out."""
        if not (self.balanced and group):
            return True
        app, seconds = self.app, self.inventory.app.balancer.drain
        if not self.phase(Phase.LEAVE, group, lambda r: balancer.leave(r, app, self.lock.token)):
            return False
        if not self.hook("before_batch", self.releases, runs=group):
            return False
        self.pause(group, seconds, "out of the load balancer (health endpoint 503)")
        return not self.interrupted

    def rejoin(self, group: list[HostRun], wait: bool) -> None:
        """The batch's health endpoints answer 200 again; with ``wait``, the balancer is given
        ``app.balancer.rejoin`` seconds to take the hosts back before anything goes on. A
        host that cannot be put back is a warning (it serves; the balancer skips it)."""
        drained = [run for run in group if run.drained]
        if not drained:
            return

        def back(run: HostRun) -> None:
            try:
                balancer.rejoin(run, self.app)
            except BluegreenError as error:
                how = f"rm {nginx.drain_path(self.app)} on the host puts it back"
                self.settled(run, error, f"still out of the load balancer: {how}")

        self.phase(Phase.REJOIN, drained, back)
        self.hook("after_batch", self.releases, runs=drained)
        if wait:
            self.pause(drained, self.inventory.app.balancer.rejoin, "back in the load balancer")

    def pause(self, group: list[HostRun], seconds: float, state: str) -> None:
        """Give the load balancer ``seconds`` to see the hosts' new health (an interrupt
        cuts it short)."""
        names = ", ".join(run.name for run in group)
        if self.options.dry_run:
            self.log.line(f"balancer: {names} would be {state}; would wait {seconds:g} s")
            return
        self.halt.wait(seconds)
        self.log.line(f"balancer: {names} {state}; waited {seconds:g} s")

    def attend(self, run: HostRun) -> None:
        """A host whose revert failed: ask its public port once what it serves, and say that
        it needs attention (in the log, the closing table and its history line)."""
        port, client = checks.public(self.inventory)
        health = self.inventory.app.health
        seen = checks.serving(run.remote, port, health.path, health.timeout, client)
        kept = "both colors" if run.facts.traffic is not None else run.color
        run.attention = f"{seen.describe() if seen else 'unknown'}, {kept} kept running"
        run.outcome = NEEDS_ATTENTION
        run.recorded["serves"] = run.attention
        self.log.warn(
            run.name,
            f"needs attention: its revert failed, so nothing is stopped or removed; port {port}"
            f" serves {run.attention} (docs/guides/recovery.md)",
        )


def leftovers(found: HostFacts) -> list[tuple[str, bool]]:
    """(color, put back?) for each container still set aside: put back where its color
    does not serve (it is the rollback target), dropped where it does."""
    serving = set(found.traffic.releases) if found.traffic else set()
    return [(color, color not in serving) for color in found.aside]


def with_tail(error: RemoteError, message: str) -> RemoteError:
    """``message`` and the failed command's last output lines, as one host error (its own
    one-line message when the command printed nothing)."""
    if not error.output:
        return RemoteError(
            error.host, str(error).removeprefix(f"{error.host}: "), exited=error.exited
        )
    return RemoteError(error.host, f"{message}{tail(error.output)}", exited=error.exited)


def tail(output: str, lines: int = 10) -> str:
    """The last lines of a command's output, indented under the step's error line."""
    return "".join(f"\n      | {line}" for line in output.splitlines()[-lines:])
