"""``fab lock.status`` and ``fab lock.release``: see and break the deploy lock on hosts."""

from __future__ import annotations

from datetime import datetime, timezone

from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine.runner import Session, read_each
from bluegreen.output.log import Log
from bluegreen.shell import lock


def _describe(info: lock.LockInfo | None) -> str:
    if info is None:
        return "free"
    expires = datetime.fromtimestamp(info.expires, timezone.utc).isoformat(timespec="seconds")
    return f"held by {info.describe()}, expires {expires}"


def lock_status(inventory: Inventory, hosts: list[Host], log: Log) -> bool:
    """Print who holds the lock on each host."""

    def read(run: Session) -> None:
        text = run.remote.run(lock.show(run.host.app_dir), what="lock", readonly=True)
        log.host(run.name, "🔒" if text.strip() else "  ", _describe(lock.parse(text)))

    return read_each(hosts, read, log).ok


def lock_release(inventory: Inventory, hosts: list[Host], log: Log) -> bool:
    """Break the lock on each host, saying whose lock it was."""

    def release(run: Session) -> None:
        text = run.remote.run(lock.force_release(run.host.app_dir), what="lock release")
        info = lock.parse(text)
        what = f"released the lock {_describe(info)}" if info else "no lock to release"
        log.ok(run.name, what)

    return read_each(hosts, release, log).ok
