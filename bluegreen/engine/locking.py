"""The lock protocol of a change: one lock per app per host, taken in preflight (in the same
round trip as the facts), given back at the end on every host, also after a failure.

A lock still held by someone else is refused until it expires, unless it is stale: taken
from this same user@machine by a process that no longer runs (killed, or its connection
lost), so nobody will ever give it back.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from bluegreen.config.inventory import Host
from bluegreen.errors import Refused, RemoteError
from bluegreen.facts import HostFacts, pairs
from bluegreen.output.log import Log
from bluegreen.shell import lock
from bluegreen.transport.ssh import Remote

LOCK_TTL = 3600  # seconds after which a lock left by a dead run may be taken over (host clock)
# A run refreshes its lock at the first phase boundary this long after the last refresh: a
# lock never ages past a quarter of its TTL between two phases, and a short run sends none.
REFRESH_EVERY = LOCK_TTL / 4


def me() -> str:
    """Who takes a lock from this process: user@machine."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def new(operation: str, now: float) -> lock.LockInfo:
    """This run's lock: who, which process, what, until when, and a token of its own."""
    return lock.LockInfo(
        holder=me(),
        pid=os.getpid(),
        operation=operation,
        started=datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
        expires=int(now) + LOCK_TTL,
        token=uuid.uuid4().hex,
    )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True


def stale(info: lock.LockInfo, me: str, running: Callable[[int], bool] = _running) -> bool:
    """A lock taken from this same user@machine by a process that no longer runs."""
    return info.holder == me and info.pid != os.getpid() and not running(info.pid)


def abandoned(found: HostFacts) -> lock.LockInfo | None:
    """The run whose switch mark the host keeps, once that run is over (its lock gone, not
    its own any more, stale or expired): it switched traffic there and never finished, so
    what serves was never confirmed, whether or not it could say so. None while it may still
    be at work. (An expiry read against this machine's clock: it only decides what to show.)"""
    mark, held = found.mark, found.lock
    if mark is None:
        return None
    if held is None or held.token != mark.token:
        return mark
    return mark if stale(held, me()) or held.expires <= time.time() else None


def unconfirmed(lost: lock.LockInfo) -> str:
    """Why a host an abandoned run switched needs attention (status, the next run's log)."""
    return f"switched by {lost.describe()}, which never finished there: what serves is unconfirmed"


def settle(remote: Remote, host: Host, mine: lock.LockInfo, output: str, log: Log) -> bool:
    """Read ``lock.acquire``'s answer: True when we hold the lock now (taken, or an expired
    or stale one taken over, with a warning); Refused when someone else holds it."""
    state, holder, now = _answer(output)
    if state == "taken":
        return True
    if state != "held":  # dry run: the lock is not taken
        return False
    dead = holder is not None and stale(holder, mine.holder)
    if holder is not None and holder.expires > now and not dead:
        raise _refusal(holder)
    taking = remote.run(lock.take_over(host.app_dir, mine, holder, LOCK_TTL), what="take over lock")
    state, now_held, _ = _answer(taking)
    if state != "taken":  # another run took it over first
        raise _refusal(now_held)
    was = holder.describe() if holder else "an unreadable lock"
    why = "the stale lock (its process no longer runs here)" if dead else "the expired lock"
    log.warn(host.name, f"lock: took over {why} of {was}")
    return True


def _answer(output: str) -> tuple[str, lock.LockInfo | None, int]:
    """``taken``, ``held`` or nothing; who holds it; the host's clock."""
    values = pairs(output)
    state, _, held = values.get("lock", "").partition(" ")
    return state, lock.parse(held.strip()), int(values.get("lock_now", "0") or 0)


def _refusal(holder: lock.LockInfo | None) -> Refused:
    who = holder.describe() if holder else "another run"
    return Refused(f"locked by {who}; try again later or `fab lock.release`")


def clock() -> float:
    """The operator's monotonic clock: when a host's lock was last taken or refreshed."""
    return time.monotonic()


def due(since: float) -> bool:
    """A lock taken or refreshed at ``since`` is due for its heartbeat."""
    return clock() - since >= REFRESH_EVERY


def refresh(remote: Remote, host: Host, mine: lock.LockInfo) -> None:
    """The heartbeat: the lock's expiry becomes the host's clock plus the TTL; a RemoteError
    (one line) when the lock is no longer this run's."""
    try:
        remote.run(lock.refresh(host.app_dir, mine, LOCK_TTL), what="lock heartbeat")
    except RemoteError as error:
        if error.exited != lock.LOST:
            raise
        raise RemoteError(host.name, f"lock: {lock.LOST_WHY}", exited=lock.LOST) from error
