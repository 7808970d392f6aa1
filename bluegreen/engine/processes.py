"""``app.processes`` follow the release the web serves: after a batch's switch is verified
(and watched), before its drain.

Why then: the new web is proven to serve before its workers take jobs; the old color still
runs, so a worker that fails to start puts the whole batch back (nginx and workers) on the
old release at once. Every old worker of the batch stops first (its stop signal, then its
``stop_timeout`` for the job in hand), then the new ones start: no moment where two
releases of a worker consume at once within a batch.
"""

from __future__ import annotations

import time

from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine.operation import Stages
from bluegreen.engine.runner import with_tail
from bluegreen.engine.state import HostRun, Phase
from bluegreen.errors import Refused, RemoteError
from bluegreen.facts import pairs
from bluegreen.output.log import Log
from bluegreen.shell import schedule, workers

MARGIN = 60  # seconds beyond a process's stop_timeout before the command itself times out
TIMERS = "timers"  # in Holds.launched: the scheduled jobs' timers were re-pointed


class Processes:
    """Moves one change's processes, host by host, and puts them back."""

    def __init__(self, inventory: Inventory, log: Log, dry_run: bool) -> None:
        self.inventory = inventory
        self.log = log
        self.dry_run = dry_run

    def follows(self, run: HostRun) -> bool:
        """The host runs processes and its web moved to one release (not a split, not the
        maintenance page)."""
        app = self.inventory.app
        whole = run.target.split is None and not run.maintenance
        return whole and bool(run.release) and bool(app.processes_on(run.name) or app.schedule)

    @property
    def moves(self) -> Stages:
        """The phases that move a batch's processes to its release: every old one stops,
        then the new workers start, then the schedulers."""
        return (
            (Phase.QUIESCE, self.stop),
            (Phase.PROCESSES, self.start),
            (Phase.SCHEDULE, self.schedule),
        )

    def stop(self, run: HostRun) -> None:
        """Stop the host's processes that do not run the target release (all at once)."""
        app, specs = self.inventory.app, workers.specs(self.inventory.app, run.name)
        longest = max((spec.stop_timeout for spec in specs), default=0)
        command = workers.stop_all(app, specs, run.release, run.host)
        started = time.monotonic()
        found = pairs(run.remote.run(command, timeout=longest + MARGIN, what="stop processes"))
        seconds = time.monotonic() - started
        states = {spec.name: found.get(f"process_{spec.name}", "") for spec in specs}
        if not self.dry_run and (lost := [name for name, said in states.items() if not said]):
            raise RemoteError(run.name, f"processes: could not stop {', '.join(lost)}")
        run.holds.stopped_processes({spec: states[spec.name] for spec in specs})
        stopped = [name for name, said in states.items() if said == "stopped"]
        if stopped:
            self.log.ok(run.name, f"processes: stopped {', '.join(stopped)} in {seconds:.1f} s")

    def start(self, run: HostRun) -> None:
        """Start the target release's workers and check that they stay up."""
        self.launch(run, scheduled=False)

    def schedule(self, run: HostRun) -> None:
        """Then the scheduled jobs' schedulers (or timers): once every host's workers are
        up, so no later failure of this change makes a scheduler of the old release run
        again after one of the new release ran a slot."""
        self.launch(run, scheduled=True)

    def launch(self, run: HostRun, scheduled: bool) -> None:
        app, release = self.inventory.app, run.release
        todo = tuple(
            spec
            for spec, said in run.holds.processes.items()
            if said != "current" and spec.name.startswith(schedule.PREFIX) == scheduled
        )
        timers = workers.timers(app, release, run.host) if scheduled else ""
        if not todo and not timers:
            return
        run.holds.launched_processes({spec.name for spec in todo} | ({TIMERS} if timers else set()))
        env = workers.env_text(app, self.inventory.env_for(run.host))
        parts = (workers.start_all(app, todo, release, run.host), timers)
        try:
            command = " && ".join(part for part in parts if part)
            run.remote.run(command, stdin=env, timeout=120, what="start processes")
        except RemoteError as error:
            raise with_tail(error, f"processes: start of {release} failed") from error
        moved = run.recorded.setdefault("processes", {})  # the host's history line says it
        moved.update({spec.name: release for spec in todo})
        if todo:
            names = ", ".join(spec.name for spec in todo)
            self.log.ok(run.name, f"processes: {names} run {release}, up for {workers.UP_CHECK} s")
        if timers:
            jobs = ", ".join(job.name for job in app.schedule if job.host == run.name)
            self.log.ok(run.name, f"schedule: {jobs} timer(s) run {release}")

    def restore(self, run: HostRun) -> None:
        """Put back what ``stop`` and ``start`` changed: each old process runs again (the
        new instance removed and the old one renamed back where the new one was started;
        the stopped one started again where it was not)."""
        app, old = self.inventory.app, run.facts.live_release
        if TIMERS in run.holds.launched and old:
            run.remote.run(workers.timers(app, old, run.host), what="restore timers")
            self.log.ok(run.name, f"schedule: timers back on {old}")
        moved = {  # spec -> did its old instance run?
            spec: said in ("stopped", "overlap")
            for spec, said in run.holds.processes.items()
            if said != "current"
        }
        started = {spec: ran for spec, ran in moved.items() if spec.name in run.holds.launched}
        stopped = {spec: ran for spec, ran in moved.items() if spec.name not in run.holds.launched}
        commands = [workers.restore_all(app, started, run.host)] if started else []
        if any(stopped.values()):
            commands.append(workers.restart_all(app, stopped, run.host))
        if not commands:
            return
        run.remote.run("; ".join(commands), what="restore processes")
        run.recorded["processes"] = {spec.name: "put back" for spec in moved}
        back = [spec.name for spec, ran in moved.items() if ran]
        self.log.ok(run.name, f"processes: {', '.join(back) or 'none'} back on the old release")


def running(inventory: Inventory, hosts: list[Host], name: str) -> list[Host]:
    """The selected hosts that run the process ``name`` (``schedule-<job>``: a scheduled
    job's scheduler on Docker)."""
    known = {spec.name for host in inventory.hosts for spec in workers.specs(inventory.app, host)}
    if name not in known:
        raise Refused(
            f"--process: no process {name!r} (processes: {', '.join(sorted(known)) or 'none'})"
        )
    found = [h for h in hosts if name in {s.name for s in workers.specs(inventory.app, h.name)}]
    if not found:
        raise Refused(f"--process: {name} runs on none of the selected hosts")
    return found
