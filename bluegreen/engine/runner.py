"""Run one step on many hosts at once, and say how each fared (like Fabric's GroupResult).

Every fleet operation is built from this: a change runs its phases through a ``Runner``
(which also times them by name); the read-only tasks (status, history, logs, lock) use
``read_each``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from bluegreen import transport
from bluegreen.config.inventory import Host
from bluegreen.engine.state import PARALLEL
from bluegreen.errors import BluegreenError, RemoteError
from bluegreen.output.log import Log
from bluegreen.transport.ssh import Remote


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


@dataclass
class GroupResult(Generic[T]):
    """Which items a step succeeded on and why it failed on the others (in input order)."""

    succeeded: list[T] = field(default_factory=list)
    failed: dict[str, BaseException] = field(default_factory=dict)  # name -> error

    @property
    def ok(self) -> bool:
        return not self.failed


def in_parallel(items: Iterable[T], step: Callable[[T], object], parallel: int) -> GroupResult[T]:
    """Run ``step`` on every item, at most ``parallel`` at a time; collect every failure."""
    items = list(items)
    result: GroupResult[T] = GroupResult()
    if not items:
        return result
    with ThreadPoolExecutor(max_workers=min(parallel, len(items))) as pool:
        futures = [(item, pool.submit(step, item)) for item in items]
    for item, future in futures:
        error = future.exception()
        if error is None:
            result.succeeded.append(item)
        else:
            result.failed[item.name] = error
    return result


class Runner:
    """Phases of one operation: each step on every host in parallel, each failure logged as
    one line under its host, the time of each phase kept by name (all batches together)."""

    def __init__(self, log: Log, parallel: int = PARALLEL) -> None:
        self.log = log
        self.parallel = parallel
        self.timings: dict[str, float] = {}

    def phase(self, name: str, items: list[T], step: Callable[[T], object]) -> GroupResult[T]:
        started = time.monotonic()
        result = in_parallel(items, step, self.parallel)
        if items:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started
        for host, error in result.failed.items():
            if isinstance(error, BluegreenError):
                self.log.fail(host, str(error).removeprefix(f"{host}: "))
            else:
                self.bug(host, error)
        return result

    def bug(self, host: str, error: BaseException) -> None:
        """Anything but a BluegreenError is a bug: its type and its traceback, not one line."""
        self.log.fail(host, f"a bug in bluegreen: {type(error).__name__}: {error}")
        for line in "".join(traceback.format_exception(error)).splitlines():
            self.log.line(f"      | {line}")


@dataclass
class Session:
    """A host and its open SSH session, for read-only tasks."""

    host: Host
    remote: Remote

    @property
    def name(self) -> str:
        return self.host.name


def read_each(
    hosts: list[Host], step: Callable[[Session], object], log: Log, parallel: int = PARALLEL
) -> GroupResult[Session]:
    """Connect to every host (no lock) and run the read-only ``step`` on each."""
    sessions = [Session(host, transport.connect(host)) for host in hosts]

    def opened(session: Session) -> None:
        session.remote.open()
        step(session)

    try:
        return Runner(log, parallel).phase("read", sessions, opened)
    finally:
        for session in sessions:
            session.remote.close()


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
