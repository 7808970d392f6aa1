"""The engine of every change: ONE orchestration over all selected hosts, in phases.

preflight (connect, facts, lock — every host) → choose (each host's target) → per batch:
stage → health → [leave the load balancer] → for each step (a canary has several traffic
shares, anything else one): switch → verify → [rejoin] → watch; then the processes, then
drain. A failure before a batch's switch leaves its hosts on their old color (new
containers undone); a failure during or after it points every touched host back and
verifies that (putback.py). Later batches are not started. Locks are released and history
is written on every host at the end (finish.py), also after a failure or SIGINT/SIGTERM
(which are deferred to the end of the current step, then handled like a failure).
"""

from __future__ import annotations

import threading
import time
from functools import partial

from bluegreen import transport
from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine import (
    balancer,
    certificate,
    choose,
    finish,
    interrupts,
    judge,
    locking,
    preflight,
    putback,
    report,
)
from bluegreen.engine.operation import HostStep, Operation
from bluegreen.engine.processes import Processes
from bluegreen.engine.runner import Runner
from bluegreen.engine.state import HostRun, Options, Phase, Step, batches
from bluegreen.engine.switcher import Switcher
from bluegreen.errors import BluegreenError, BugFound, RemoteError
from bluegreen.local import children, hooks
from bluegreen.local.notify import Event, Notifier
from bluegreen.output.log import Log

HOOKED = ("deploy", "rollback", "switch")  # the operations the operator's hooks run around
SAFETY = (Phase.REVERT, Phase.UNDO, Phase.FINISH)  # they reconnect a dropped session first


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
                    self.settled(run, error, finish.LOCK_LEFT)  # what it serves is settled
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
        if not run.holds.lock or not locking.due(run.holds.lock_since):
            return
        run.holds.refreshed_lock(locking.clock())  # tried once per period, also when it fails
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

    def settled(self, run: HostRun, error: BluegreenError, consequence: str) -> None:
        """A step after the verified switch failed: a warning, not a failure (the host
        serves what it was to serve)."""
        message = str(error).removeprefix(f"{run.name}: ")
        self.log.warn(run.name, f"{message}; {consequence}")

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
        self.runs = [HostRun(host, transport.connect(host, self.options.dry_run)) for host in hosts]
        if not self.hook("before", release or ""):
            self.log.line("❌ the before hook failed: nothing changed on any host")
            return False
        with interrupts.deferred(self.interrupt):
            ok = self.attempt(plan, release, steps)
        if bugs := [run.name for run in self.runs if run.bug]:
            raise BugFound(f"a bug in bluegreen on {', '.join(bugs)}: see its traceback above")
        return ok

    def attempt(self, plan: Operation, release: str | None, steps: tuple[Step, ...]) -> bool:
        """Prepare every host, then roll the batches; the end (history and unlock, the
        report, the verdict's notification and hook) comes whatever happened."""
        webhooks = () if self.options.dry_run else self.inventory.notify
        notifier, ready, ok = Notifier(webhooks, self.log), False, False
        try:
            ready = self.prepare(plan, release, steps)
            if ready:
                notifier.send(self.event("started"))
                ok = self.roll_batches(plan, steps)
            else:
                self.log.line("❌ nothing changed")
        finally:
            finish.end(self, plan)
            verdict = report.verdict(self.runs) if ready else "failed"
            if ready:
                notifier.send(self.event(verdict))
            notifier.close()
            self.hook("after" if verdict == "succeeded" else "failed", self.releases, verdict)
        return ok

    def prepare(self, plan: Operation, release: str | None, steps: tuple[Step, ...]) -> bool:
        """Preflight, then each host's target; hosts without web follow the web hosts."""

        def connect(run: HostRun) -> None:
            preflight.step(self, run, release)
            run.share, run.sticky = steps[-1].share, steps[-1].sticky

        preflights = (Phase.PREFLIGHT, connect)
        chooses = (Phase.CHOOSE, partial(choose.target, plan, steps))
        return self.phases(self.runs, preflights, chooses) and choose.follow_web(self, release)

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

    def roll(self, group: list[HostRun], plan: Operation, steps: tuple[Step, ...]) -> bool:
        """One batch, all or nothing: any failure up to the last step's watch (or the
        processes' start) puts it back."""
        self.batch = group
        web = [run for run in group if run.host.web]  # the others run app.processes only
        done = (
            self.stage(group, web, plan)
            and balancer.leave_batch(self, web)
            and all(self.move(group, web, steps, number) for number in range(len(steps)))
            and self.follow(group)
        )
        if not done:
            putback.put_back(self, group, plan)
            return False
        for run in group:
            run.outcome = "switched"
        self.hook("after_switch", self.releases)
        self.phase(Phase.DRAIN, web, self.drain)
        return True

    def stage(self, group: list[HostRun], web: list[HostRun], plan: Operation) -> bool:
        """The target color on every host of the batch (a certificate first, where ACME
        needs one), agreed on, then healthy."""
        (phase, first), *rest = plan.stages()  # the image is on every host after the first

        def certified(run: HostRun) -> None:
            if not run.host.web:
                plan.ready(run)
                return
            certificate.ensure(self.switcher, self.log, run)
            first(run)

        return (
            self.phases(group, (phase, certified))
            and self.agreed(plan, group)  # the same image everywhere?
            and self.phases(web, *rest, (Phase.HEALTH, partial(judge.health, self)))
        )

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

    def move(
        self, group: list[HostRun], web: list[HostRun], steps: tuple[Step, ...], index: int
    ) -> bool:
        """One traffic step: switch, verify, back into the load balancer (whose traffic the
        watch judges), watch."""
        self.step = step = steps[index]
        for run in group:
            run.share, run.sticky = step.share, step.sticky
        if len(steps) > 1:
            self.log.line(f"step {index + 1}/{len(steps)}: {step.share} % to the new release")
        switcher = self.switcher
        moved = self.phases(
            web, (Phase.SWITCH, switcher.switch), (Phase.VERIFY, switcher.verify_target)
        )
        if moved:
            balancer.rejoin_batch(self, web, wait=True)
        return moved and self.phases(web, (Phase.WATCH, partial(judge.watched, self)))

    def follow(self, group: list[HostRun]) -> bool:
        """``app.processes`` move to the release the batch's web now serves."""
        following = [run for run in group if self.processes.follows(run)]
        return not following or self.phases(following, *self.processes.moves)

    def drain(self, run: HostRun) -> None:
        """After a verified switch nothing is put back: a failed drain leaves the old color
        running (a warning), the host stays switched."""
        try:
            self.switcher.drain(run)
        except BluegreenError as error:
            self.settled(run, error, "the old color still runs (fab status shows it)")

    # -- around it ------------------------------------------------------------------------

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
