"""The deploy lock on a host: a directory made atomically with ``mkdir``, holding who took it.

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


def acquire(app_dir: str, info: LockInfo) -> str:
    """Prints ``lock=taken``, or ``lock=held <json>`` and ``lock_now=<epoch>`` when held."""
    d = _dir(app_dir)
    return (
        f"mkdir -p {quote(app_dir)} && if mkdir {d} 2>/dev/null;"
        f" then printf '%s' {quote(info.to_json())} > {d}/info && echo lock=taken;"
        f' else echo "lock=held $(cat {d}/info 2>/dev/null)"; echo "lock_now=$(date +%s)"; fi'
    )


def take_over(app_dir: str, info: LockInfo) -> str:
    """Replace an expired lock with ours."""
    d = _dir(app_dir)
    return f"rm -rf {d} && mkdir {d} && printf '%s' {quote(info.to_json())} > {d}/info"


def ours(app_dir: str, token: str) -> str:
    """A test that succeeds while the lock is this run's."""
    return f"grep -qs {quote(token)} {_dir(app_dir)}/info"


def release(app_dir: str, token: str) -> str:
    """Remove the lock only if it is still ours."""
    return f"if {ours(app_dir, token)}; then rm -rf {_dir(app_dir)}; fi"


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
