"""The release command (``app.release``, e.g. migrations): once per deploy, after the new
image is on the hosts and before the new color starts, so its health check already sees
the migrated schema.

It runs in a one-off container of the NEW image with the app's env, secrets, volumes and
options, on the first host of the deploy (``release_on: first``), a named host, or every
host (``all``). A non-zero exit fails the release phase: nothing has started yet, so
every host keeps serving its old color.
"""

from __future__ import annotations

import time

from bluegreen.engine.change import Change
from bluegreen.engine.runner import with_tail
from bluegreen.engine.state import HostRun
from bluegreen.errors import Refused, RemoteError
from bluegreen.shell import container

RELEASE_TIMEOUT = 1800.0


def describe(command: str | tuple[str, ...]) -> str:
    return command if isinstance(command, str) else " ".join(command)


class ReleaseCommand:
    """The release phase's per-host step; ``skip`` (``--skip-release``) only says so."""

    def __init__(self, change: Change, skip: bool) -> None:
        self.change = change
        self.app = change.inventory.app
        self.skip = skip
        self.ran = False  # an earlier batch ran it: once per deploy

    def targets(self, batch: list[HostRun]) -> set[str]:
        """The hosts of this batch that run it."""
        on = self.app.release_on
        if on == "all":
            return {run.name for run in batch}
        if self.ran:
            return set()
        if on == "first":
            return {batch[0].name}
        if on not in {run.name for run in batch}:
            raise Refused(f"app.release_on: {on} is not among the hosts this deploy stages first")
        return {on}

    def step(self, run: HostRun) -> None:
        release = self.app.release
        if release is None or run.name not in self.targets(self.change.batch):
            return
        log, label = self.change.log, describe(release)
        if self.skip:
            run.recorded["release_command"] = "skipped"
            log.warn(run.name, f"release: {label} skipped (--skip-release)")
            return
        env = self.change.inventory.env_for(run.host)
        command = container.release(self.app, release, run.release, run.host)
        started = time.monotonic()
        try:
            with log.ticking(run.name, f"release: {label}"):
                output = run.remote.run(
                    command,
                    stdin=container.env_lines(env),
                    timeout=RELEASE_TIMEOUT,
                    what="release command",
                )
        except RemoteError as error:
            seconds = round(time.monotonic() - started, 2)
            run.recorded["release_command"] = {"exit": error.exited, "seconds": seconds}
            message = f"release command failed (exit {error.exited}): {label}"
            raise with_tail(error, message) from error
        self.ran = True
        seconds = round(time.monotonic() - started, 2)
        run.recorded["release_command"] = {"exit": 0, "seconds": seconds}
        for line in output.splitlines():
            log.step(run.name, f"release | {line}")
        log.ok(run.name, f"release: {label} in {seconds:.1f} s")
