"""``fab remove``: take the app off its hosts (docs/guides/remove.md).

Two phases over all hosts: first each host is checked (the app is there) and locked, in
one round trip; a host where that fails leaves every host unchanged. Then, once confirmed,
one command per host removes what bluegreen installed for the app (shell/remove.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from bluegreen import transport
from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine import locking
from bluegreen.engine.runner import Runner, Session
from bluegreen.errors import BluegreenError, Refused
from bluegreen.output.log import Log
from bluegreen.shell import lock
from bluegreen.shell import remove as removal


def remove(
    inventory: Inventory,
    hosts: list[Host],
    confirm: Callable[[str], bool],
    volumes: bool,
    keep_history: bool,
    dry_run: bool,
    log: Log,
) -> bool:
    """Remove the app from ``hosts`` once ``confirm`` (asked with the plan) says yes."""
    app = inventory.app
    mine = locking.new("remove", time.time())
    sessions = [Session(host, transport.connect(host, dry_run)) for host in hosts]
    runner, locked = Runner(log), set()

    def check(session: Session) -> None:
        session.remote.open()
        app_dir = session.host.app_dir
        take = "" if dry_run else lock.acquire(app_dir, mine, locking.LOCK_TTL)
        probe = removal.present(app.name, app_dir, then=take)  # the lock only where it is
        output = session.remote.run(probe, what="probe", readonly=not take)
        if take and locking.settle(session.remote, session.host, mine, output, log):
            locked.add(session.name)
        if removal.PRESENT not in output:
            raise Refused(f"app {app.name} is not on this host (no site, no {app_dir})")
        log.ok(session.name, f"found {app.name} ({app_dir})")

    def command(session: Session) -> str:
        release = lock.release(session.host.app_dir, mine.token)
        return removal.remove(
            app, session.host.app_dir, release, volumes, keep_history, inventory.metrics
        )

    def run(session: Session) -> None:
        session.remote.run(command(session), timeout=300, what="remove")
        locked.discard(session.name)
        log.ok(session.name, f"removed {app.name}")

    try:
        if not runner.phase("preflight", sessions, check).ok:
            log.line("❌ nothing removed")
            return False
        keeps = (("named volumes", not volumes), ("history", keep_history))
        kept = " and ".join(what for what, keep in keeps if keep)
        names = ", ".join(session.name for session in sessions)
        plan = f"remove {app.name} from {names}" + (f" (keeping its {kept})" if kept else "")
        if dry_run:
            for session in sessions:
                log.step(session.name, f"would run:\n{command(session)}")
            return True
        if not confirm(plan):
            log.line("❌ not confirmed: nothing removed")
            return False
        ok = runner.phase("remove", sessions, run).ok
        log.line(f"{'✅' if ok else '❌'} {plan}: {'done' if ok else 'failed'}")
        return ok
    finally:
        for session in sessions:
            if session.name in locked:  # not removed: the lock goes back (when reachable)
                with contextlib.suppress(BluegreenError):
                    give_back = lock.release(session.host.app_dir, mine.token)
                    session.remote.run(give_back, check=False)
            session.remote.close()
