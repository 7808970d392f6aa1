"""The deploy lock on a host: a directory renamed into place with its holder's record inside.

One lock per app per host (``<app_dir>/.lock``). Every change takes it on every host
before anything changes and gives it back at the end, also on failure and interrupt.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from shlex import quote


@dataclass(frozen=True)
class LockInfo:
    holder: str  # user@machine
    pid: int
    operation: str
    started: str  # ISO time, for people
    expires: int  # epoch seconds: after this the lock may be taken over (with a warning)
    token: str  # identifies this run's lock, so we only ever release our own

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def describe(self) -> str:
        return f"{self.holder} (pid {self.pid}, {self.operation} since {self.started})"


def _dir(app_dir: str) -> str:
    return quote(f"{app_dir}/.lock")


def _record(info: LockInfo, ttl: int | None) -> str:
    """The holder's record as a shell word; with ``ttl`` its expiry is the host's clock plus
    ``ttl`` (the host compares expiries with its own clock, never with the operator's)."""
    if ttl is None:
        return quote(info.to_json())
    key = '"expires": '
    before, _, after = info.to_json().partition(f"{key}{info.expires}")
    return f'{quote(before + key)}"$(($(date +%s) + {int(ttl)}))"{quote(after)}'


def acquire(app_dir: str, info: LockInfo, ttl: int | None = None) -> str:
    """Prints ``lock=taken``, or ``lock=held <json>`` and ``lock_now=<epoch>`` when held.

    Atomic: the holder's record is written into a private directory first, which is then
    renamed onto ``.lock``; a rename onto a lock that exists (never empty) fails, so the
    lock is never visible without its holder and only one of many racers can win."""
    d = _dir(app_dir)
    return (
        f"mkdir -p {quote(app_dir)} && t=$(mktemp -d {quote(app_dir)}/.lock-new.XXXXXXXX)"
        f" && printf '%s' {_record(info, ttl)} > \"$t/info\""
        f' && if mv -T "$t" {d} 2>/dev/null; then echo lock=taken;'
        f' else rm -rf "$t"; echo "lock=held $(cat {d}/info 2>/dev/null)";'
        f' echo "lock_now=$(date +%s)"; fi'
    )


def take_over(
    app_dir: str, info: LockInfo, expired: LockInfo | None, ttl: int | None = None
) -> str:
    """Replace the ``expired`` lock (None: an unreadable one) with ours, answering as
    ``acquire`` does. Only one of many takers gets the marker ``mkdir``; it renames the
    lock aside only while it is still the expired one, then acquires like anyone else."""
    d = _dir(app_dir)
    name = expired.token if expired else "unreadable"
    marker, aside = (quote(f"{app_dir}/.lock-{kind}.{name}") for kind in ("taker", "old"))
    still = f"grep -qsF {quote(expired.token)} {d}/info" if expired else f"! test -s {d}/info"
    return (
        f"if mkdir {marker} 2>/dev/null; then if {still} && mv -T {d} {aside} 2>/dev/null;"
        f" then rm -rf {aside}; fi; rm -rf {marker}; fi; {acquire(app_dir, info, ttl)}"
    )


def ours(app_dir: str, token: str) -> str:
    """A test that succeeds while the lock is this run's."""
    return f"grep -qs {quote(token)} {_dir(app_dir)}/info"


LOST = 4  # the exit status of a command stopped by ``held``
LOST_WHY = "the lock is no longer this run's (taken over?)"


def held(app_dir: str, token: str) -> str:
    """A first line that stops the command (exit ``LOST``, nothing done) unless the lock is
    still this run's: a run whose lock was taken over must not act on the host."""
    return f"{ours(app_dir, token)} || {{ echo {quote(LOST_WHY)} >&2; exit {LOST}; }}"


def refresh(app_dir: str, info: LockInfo, ttl: int) -> str:
    """The heartbeat of a long run: its lock's expiry becomes the host's clock plus ``ttl``,
    only while the lock is still this run's (else it stops as ``held`` does). The record is
    renamed over the old one, so a reader never sees it half written."""
    d = _dir(app_dir)
    write = f"printf '%s' {_record(info, ttl)} > {d}/info.new && mv -f {d}/info.new {d}/info"
    return f"{held(app_dir, info.token)}\n{write}"


def release(app_dir: str, token: str) -> str:
    """Remove the lock only if it is still ours (renamed aside first, so that a run taking
    the lock meanwhile never has its new lock removed)."""
    aside = quote(f"{app_dir}/.lock-old.{token}")
    return f"if {ours(app_dir, token)}; then mv -T {_dir(app_dir)} {aside} && rm -rf {aside}; fi"


UNMARKED = 5  # the exit status of a switch whose mark could not be written (nothing done)


def mark_path(app_dir: str) -> str:
    return f"{app_dir}/.unsettled"


def mark(app_dir: str, info: LockInfo) -> str:
    """A switch's first write: this run's record, left until its finish writes the history
    line. A mark left behind names a run that switched traffic here and never finished (the
    host was lost), so what serves was never confirmed, even when nobody could record that.
    Written whole or not at all; failing, the command stops (exit ``UNMARKED``)."""
    path, new = quote(mark_path(app_dir)), quote(f"{mark_path(app_dir)}.new")
    write = f"printf '%s' {_record(info, None)} > {new} && mv -f {new} {path}"
    return f"{{ {write}; }} || {{ rm -f {new}; exit {UNMARKED}; }}"


def unmark(app_dir: str, token: str) -> str:
    """The finish's: remove the mark when it is this run's (its history line says the rest)."""
    path = quote(mark_path(app_dir))
    return f"if grep -qsF {quote(token)} {path}; then rm -f {path}; fi"


def show_mark(app_dir: str) -> str:
    return f"cat {quote(mark_path(app_dir))} 2>/dev/null || true"


def show(app_dir: str) -> str:
    return f"cat {_dir(app_dir)}/info 2>/dev/null || true"


def force_release(app_dir: str) -> str:
    """Print the lock that is broken (so the operator can say whose), then remove it."""
    d = _dir(app_dir)
    return f"cat {d}/info 2>/dev/null; rm -rf {d}"


def parse(text: str) -> LockInfo | None:
    """A LockInfo from its JSON, or None for no lock (or an unreadable one)."""
    try:
        return LockInfo(**json.loads(text))
    except (ValueError, TypeError):
        return None
