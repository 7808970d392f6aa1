"""Point nginx at a color (or a split), check through the public port that it serves it,
point it back, and drain: the nginx half of a change, per host.

The site (and in file mode the njs module) is installed only when it changed, so a
file-mode switch is one atomic rename of the state file, a core-mode switch one atomic
rename of the state link, and nginx is never reloaded.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable

from bluegreen import render
from bluegreen.config import certificates
from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine import checks
from bluegreen.engine.state import HostRun
from bluegreen.errors import Refused, RemoteError
from bluegreen.facts import HostFacts, neighbours
from bluegreen.facts.traffic import Traffic
from bluegreen.output.log import Log
from bluegreen.shell import lock, nginx, runtime, tls

# After a reload both colors answer for ~100 ms (old workers still accept): verify longer.
RELOAD_OVERLAP = 0.3
OLD_WORKERS_LIMIT = 30.0  # seconds to wait for nginx workers of the old config to finish


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def switch_mode(host: Host, found: HostFacts) -> str:
    """The host's switch mode: as configured, or the best one its nginx supports (``auto``).

    ``core`` needs only modules every nginx build has, switches without a reload and costs
    less per request than njs's ``file`` (measured: docs/evidence/switch-modes.md), so
    ``auto`` is ``core`` on every host; ``file`` and ``reload`` stay for those who ask.
    """
    if host.switch_mode == "file" and not found.njs:
        raise Refused(
            "switch_mode is file but nginx does not load the njs module"
            " (install libnginx-mod-http-js / nginx-module-njs, or set switch_mode: core)"
        )
    return "core" if host.switch_mode == "auto" else host.switch_mode


def installed(app: str, found: HostFacts) -> dict[str, str | None]:
    """The md5 of each configuration file we install, as the host has it now."""
    return {
        nginx.site_path(app): found.site_md5,
        nginx.script_path(app): found.script_md5,
        nginx.http_path(app): found.http_md5,
        nginx.refuse_path(): found.refuse_md5,
    }


class Switcher:
    def __init__(self, inventory: Inventory, log: Log, dry_run: bool, mine: lock.LockInfo) -> None:
        self.inventory = inventory
        self.mine = mine  # this run's lock: a switch acts only while the host holds it
        self.log = log
        self.dry_run = dry_run
        self.jinja = render.environment(inventory)
        self.page: str | None = None  # the maintenance page to put up with the next point()
        self.texts: dict[str, str] = {}  # what ``text`` rendered, by name
        self.rendering = threading.Lock()

    @property
    def app(self) -> str:
        return self.inventory.app.name

    def text(self, name: str, make: Callable[[], str]) -> str:
        """A configuration file's text, rendered once per change: it is the same on every
        host, and Jinja compiles a template at its first use (~20 ms of CPU, which hosts
        switching at once would otherwise each spend, one after another under the GIL)."""
        with self.rendering:
            if name not in self.texts:
                self.texts[name] = make()
            return self.texts[name]

    def point(
        self, run: HostRun, traffic: Traffic, guarded: bool = False, put_back: bool = False
    ) -> str:
        """Make nginx serve ``traffic``; say how (state file renamed, or tested and reloaded).
        ``guarded``: only while the host's lock is still this run's (checked in the same
        command, so it cannot change in between). ``put_back`` (a revert): the configuration
        files the switch replaced get their previous versions back, nothing is rendered."""
        jinja, inv, app, mode = self.jinja, self.inventory, self.app, run.mode
        config = [(nginx.site_path(app), self.text(mode, lambda: render.site(jinja, inv, mode)))]
        if inv.app.tls.mode != "off":
            config.append((nginx.http_path(app), render.http(jinja, inv, run.host)))
        found = run.facts
        refused = neighbours.refused(
            inv, found.neighbours, found.foreign_defaults, found.rejects_handshake
        )
        if refused:  # the host's, shared: the same text from every app that needs it
            named = neighbours.named(inv, found.neighbours)
            config.append((nginx.refuse_path(), render.refuse(jinja, refused, named)))
        live, link = [], ""
        if run.mode == "file":
            script = self.text("script", lambda: render.script(jinja, inv))
            config.insert(0, (nginx.script_path(app), script))
            live = [(nginx.state_path(app), render.state(traffic))]
        elif run.mode == "core":
            link = nginx.point_link(app, traffic.link_name())
        else:
            live = [(nginx.live_path(app), render.live(jinja, inv, traffic))]
        changed = [(path, text) for path, text in config if run.installed.get(path) != md5(text)]
        restored = run.holds.replaced if put_back else []
        if put_back:
            changed = []
        reload = run.mode == "reload" or bool(changed) or bool(restored)
        up = self.page and traffic.maintenance
        page = [(nginx.maintenance_path(app), self.page)] if up else []
        command, key = nginx.install([*changed, *page, *live], reload=reload, then=link), None
        if not reload:  # verification's channel opens while the switch runs (read per request)
            run.remote.connect_ahead(checks.public(inv).port, inv.app.health.timeout)
        pair = inv.app.tls.pair
        if pair is not None and changed:  # a new site may name a new pair: put it there first
            certificate, key_path = pair.paths(app)
            put = tls.put_pair(certificate, key_path, pair.chain.decode())
            command, key = f"{put} || exit 1\n{command}", pair.key.decode()
            # the old pair goes only once the switch is verified: a revert may need it
            run.holds.new_pair(tls.prune(certificates.TLS_DIR, app, pair.fingerprint))
        if restored:
            command = f"{nginx.put_back(restored)}\n{command}"
        if guarded:  # marked first: a host lost from here on still says it was switched
            app_dir = run.host.app_dir
            command = (
                f"{lock.held(app_dir, self.mine.token)}\n{lock.mark(app_dir, self.mine)}\n{command}"
            )
        run.remote.run(command, stdin=key, what="nginx switch")
        run.installed.update((path, md5(text)) for path, text in changed)
        if guarded:
            run.holds.rewrote([path for path, _ in changed])
        if restored:
            run.installed.update(installed(self.app, run.facts))
            run.holds.restored_files()
        if reload:
            return "nginx tested and reloaded"
        return "state link renamed, no reload" if link else "state file renamed, no reload"

    def switch(self, run: HostRun) -> None:
        before = run.holds.nginx
        run.holds.pointed_nginx()
        try:
            how = self.point(run, run.target, guarded=True)
        except RemoteError as error:
            if error.exited == lock.LOST:
                run.holds.kept_nginx(before)  # stopped before any file was written
                raise RemoteError(run.name, f"switch refused: {lock.LOST_WHY}") from error
            if error.exited == lock.UNMARKED:
                run.holds.kept_nginx(before)  # nginx's files were not touched
                cause = str(error).partition("): ")[2] or "see the host's disk"
                why = f"switch: its mark could not be written, nothing done: {cause}"
                raise RemoteError(run.name, why) from error
            if error.exited != nginx.TEST_FAILED:
                raise
            run.holds.kept_nginx(before)  # the host put its files back itself: nothing to revert
            cause = str(error).partition("): ")[2] or "see nginx -t on the host"
            raise RemoteError(
                run.name, f"switch: nginx -t failed, previous files restored, not reloaded: {cause}"
            ) from error
        target = run.target
        live = f"live = {target.color}" if target.split is None else target.describe()
        self.log.ok(run.name, f"switch: {how}, {live}")

    def verify(self, run: HostRun, traffic: Traffic) -> str:
        """The public port serves ``traffic``; after a reload, for longer than nginx's overlap."""
        window = RELOAD_OVERLAP if run.mode == "reload" else 0.0
        path = self.inventory.app.health.path
        at = checks.public(self.inventory)
        if self.dry_run:
            return f"would check that port {at.port} serves {traffic.describe()}"
        if traffic.maintenance:
            return checks.wait_maintenance(run.remote, at, path)
        sticky = traffic.split is not None and traffic.split.sticky
        return checks.wait_serving(
            run.remote, at, path, traffic.releases, window=window, see_all=not sticky
        )

    def verify_target(self, run: HostRun) -> None:
        self.log.ok(run.name, f"verify: {self.verify(run, run.target)}")

    def revert(self, run: HostRun) -> None:
        """Point nginx back at what served before, and check it does."""
        old = run.facts.traffic
        if old is not None:
            self.point(run, old, put_back=True)
            self.log.ok(run.name, f"revert: {self.verify(run, old)}")
            self.let_go(run, [color for color in run.target.releases if color not in old.releases])
        elif run.facts.site_md5 is not None:  # unknown is not nothing: never take it away
            raise RemoteError(
                run.name,
                "revert: what served before is unknown (nginx's files unreadable, the public"
                " port unanswered), so the site is kept as the switch left it",
            )
        else:  # the host served nothing before: take our site away again
            run.remote.run(nginx.uninstall(self.app), what="revert")
            self.log.ok(run.name, "revert: site removed (nothing served before)")
        run.outcome = "reverted"

    def let_go(self, run: HostRun, colors: list[str]) -> None:
        """After a switch back: wait (up to ``drain.max``) while connections to ``colors``
        are busy, so the stop that follows cuts no request under way and asks streams and
        WebSockets to reconnect only after traffic is back."""
        if not colors or self.dry_run:
            return
        ports = [self.inventory.ports.of(color) for color in colors]
        limit = self.inventory.app.drain.max
        try:
            said = run.remote.run(nginx.wait_busy(ports, limit), timeout=limit + 30, what="revert")
        except RemoteError as error:  # traffic is back already: only a wait is lost
            self.log.warn(run.name, f"revert: not waited for busy connections ({error})")
            return
        waited = _drained(said, 0.0)
        if waited != "waited 0 s":
            self.log.ok(run.name, f"revert: {waited} for connections to {' and '.join(colors)}")

    def drain(self, run: HostRun) -> None:
        """Let in-flight requests finish, then stop (keep) each color that no longer serves."""
        before = run.facts.traffic.releases if run.facts.traffic else {}
        after = run.target.releases
        old = [
            color
            for color in before
            if color not in after
            and (container := run.facts.containers.get(color)) is not None
            and container.running
        ]
        if not old:
            return
        colors = " and ".join(old)
        if self.inventory.app.warm_standby:
            self.log.ok(run.name, f"drain: {colors} kept running (warm standby)")
            return
        drain = self.inventory.app.drain
        ports = [self.inventory.ports.of(color) for color in old]
        busy = nginx.wait_busy(ports, drain.max - drain.seconds)
        stop = runtime.of(self.inventory.app).drain(old, drain.seconds, busy)
        # old nginx workers (reload mode) hold their streams and WebSockets until the app
        # closes them: wait for those workers after the stop, not before
        command = f"{stop} && {{ {nginx.wait_old_workers(OLD_WORKERS_LIMIT)}; }}"
        limit = drain.max + OLD_WORKERS_LIMIT + self.inventory.app.stop_timeout + 30
        said = run.remote.run(command, timeout=limit, what="drain")
        self.log.ok(run.name, f"drain: {_drained(said, drain.seconds)}, stopped {colors} (kept)")


def _drained(said: str, seconds: float) -> str:
    """How long the drain waited, from ``wait_busy``'s ``busy=N waited=S`` line."""
    found = re.search(r"busy=(\d+) waited=([\d.]+)", said)
    if found is None:
        return f"waited {seconds:g} s"
    busy, waited = int(found[1]), float(found[2])
    left = f", {busy} connection(s) still busy" if busy else ""
    return f"waited {seconds + waited:g} s{left}"
