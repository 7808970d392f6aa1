"""Health and serving checks over the host's SSH transport (no exec round trips)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bluegreen.config import certificates
from bluegreen.config.inventory import Expect, Health, Inventory, json_text
from bluegreen.errors import CheckFailed, RemoteError
from bluegreen.facts import traffic
from bluegreen.facts.traffic import Traffic
from bluegreen.transport.http import HttpReply
from bluegreen.transport.ssh import Remote

COLOR_HEADER = "x-bluegreen-color"
RELEASE_HEADER = "x-bluegreen-release"
MAINTENANCE_HEADER = "x-bluegreen-maintenance"
# The new color itself answering 5xx this long (nginx reaches it no more) fails verification
# at once instead of at the deadline: every second of waiting is a second of outage.
DEAD_LIMIT = 1.0


def wait_healthy(remote: Remote, port: int, health: Health) -> str:
    """Probe the color's port until the health path answers as expected (by default 2xx or
    3xx; ``health.expect`` may ask for status codes, a text and JSON fields); say how."""
    for attempt in range(1, health.attempts + 1):  # at least one (inventory.py checks)
        healthy, said = _ask_health(remote, port, health)
        if healthy:
            return f"{said} after {attempt} attempt(s)"
        if attempt < health.attempts:
            time.sleep(health.interval)
    raise CheckFailed(f"port {port} not healthy after {health.attempts} attempt(s); last: {said}")


def health_once(remote: Remote, port: int, health: Health) -> str | None:
    """One probe of the health path: how it answered when healthy, else None (whatever went
    wrong, the change then waits for health as usual)."""
    try:
        healthy, said = _ask_health(remote, port, health)
    except Exception:  # noqa: BLE001 - only a shortcut: every failure means "ask again later"
        return None
    return said if healthy else None


def _ask_health(remote: Remote, port: int, health: Health) -> tuple[bool, str]:
    """One request to the health path: (healthy?, how it answered or why not)."""
    try:
        reply = remote.http_get(port, health.path, health.timeout)
    except (OSError, ConnectionError) as error:
        return False, str(error) or type(error).__name__
    problem = unexpected(reply, health.expect)
    if problem is None:
        return True, f"HTTP {reply.status} on {health.path}"
    return False, f"HTTP {reply.status} {problem}"


def unexpected(reply: HttpReply, expect: Expect) -> str | None:
    """Why a health answer is not healthy (None: it is): its status, then its body."""
    body = reply.body.strip()
    allowed = reply.status in expect.status if expect.status else reply.status < 400
    if not allowed:
        return repr(body[:80])
    if expect.contains is not None and expect.contains not in reply.body:
        return f"but the body lacks {expect.contains!r}: {body[:80]!r}"
    if not expect.json:
        return None
    try:
        document = json.loads(reply.body)
    except ValueError:
        return f"but the body is not JSON: {body[:80]!r}"
    for name, wanted in expect.json.items():
        found: object = document
        for part in name.split("."):
            found = found.get(part, _MISSING) if isinstance(found, dict) else _MISSING
        if found is _MISSING:
            return f"but the JSON has no {name}"
        if isinstance(found, (dict, list)) or found is None or json_text(found) != wanted:
            return f"but JSON {name} is {json.dumps(found)}, expected {wanted}"
    return None


_MISSING = object()


def exposed(address: str, port: int, timeout: float = 0.3) -> bool:
    """Whether ``address:port`` accepts a TCP connection from this machine (the operator's):
    a color port that does is open to the world, not only to nginx on the host."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Public:
    """Where bluegreen asks the host's nginx for the app (over SSH, on 127.0.0.1): the port,
    the name asked for and, over HTTPS, how the certificate is checked.

    An app with domains is asked for by its first one, TLS or not: apps sharing a port by
    name each have a server on 127.0.0.1 too, and only the first of them is the default
    there, so ``localhost`` would read another app's release."""

    port: int
    name: str | None = None  # the Host (and SNI); None: localhost, an app without domains
    tls: certificates.Client | None = None

    def get(self, remote: Remote, path: str, timeout: float) -> HttpReply:
        """One GET of ``path`` here: the port, the name and TLS always go together."""
        return remote.http_get(self.port, path, timeout, tls=self.tls, name=self.name)


def plain(inventory: Inventory) -> Public:
    """Where the app is served and the name asked for there, over plain HTTP even on 443
    (bootstrap: any answer, nginx's 400 too, says the port is up)."""
    app = inventory.app
    return Public(inventory.public_port, app.domains[0] if app.domains else None)


def public(inventory: Inventory) -> Public:
    """Where the app is served and, over HTTPS, how its certificate is checked: against the
    first domain, trusting the user's own chain (files) or the system's CAs (acme)."""
    app, at = inventory.app, plain(inventory)
    if app.tls.mode == "off":
        return at
    pair, ca = app.tls.pair, app.tls.ca
    trusted = pair.chain.decode() if pair else ca.read_text() if ca else None
    client = certificates.Client(
        server_name=app.domains[0],
        cadata=trusted,
        fingerprint=pair.fingerprint if pair else None,
    )
    return Public(at.port, at.name, client)


def serving(remote: Remote, at: Public, path: str, timeout: float) -> Traffic | None:
    """What the public port serves now, by nginx's headers (one probe; None: no answer, or
    not ours)."""
    try:
        reply = at.get(remote, path, timeout)
    except (OSError, ConnectionError, RemoteError):
        return None
    color, release = reply.headers.get(COLOR_HEADER), reply.headers.get(RELEASE_HEADER)
    return traffic.parse(f"{color} {release}")


def wait_maintenance(remote: Remote, at: Public, path: str, deadline: float = 10.0) -> str:
    """Wait until the public port answers with the maintenance page (503, Retry-After)."""
    port, started, last = at.port, time.monotonic(), "no answer"
    while time.monotonic() - started < deadline:
        try:
            reply = at.get(remote, path, timeout=2.0)
            page = reply.headers.get(MAINTENANCE_HEADER) == "on"
            if reply.status == 503 and page and "retry-after" in reply.headers:
                return f"port {port} answers 503 with the maintenance page"
            last = f"HTTP {reply.status}" + (" (not the maintenance page)" if not page else "")
        except (OSError, ConnectionError) as error:
            last = str(error) or type(error).__name__
        time.sleep(0.02)
    raise CheckFailed(f"port {port} shows no maintenance page after {deadline:g} s; last: {last}")


def wait_serving(
    remote: Remote,
    at: Public,
    path: str,
    expected: Mapping[str, str],
    window: float = 0.3,
    deadline: float = 10.0,
    see_all: bool = True,
) -> str:
    """Wait until every answer on the public port comes from ``expected`` (color -> release).

    Right after a reload the old nginx workers still accept for ~100 ms, so one good answer
    is not enough: ``window`` s must pass with no answer from anything else. In a split both
    colors must have answered (``see_all``) — except a sticky one, where this client only
    ever gets one of them.
    """
    port, started = at.port, time.monotonic()
    first_good: float | None = None
    first_dead: float | None = None  # since when a target color answers only 5xx
    seen: set[str] = set()
    last = "no answer"
    serving = " and ".join(f"{color} {release}" for color, release in expected.items())
    while time.monotonic() - started < deadline:
        try:
            reply = at.get(remote, path, timeout=2.0)
            color, release = reply.headers.get(COLOR_HEADER), reply.headers.get(RELEASE_HEADER)
            if reply.status < 400 and color in expected and expected[color] == release:
                first_dead = None
                now = time.monotonic()
                first_good = first_good or now
                seen.add(color)
                if now - first_good >= window and (not see_all or seen == set(expected)):
                    return f"port {port} serves {serving} ({now - started:.2f} s)"
            else:
                first_good, seen = None, set()
                last = f"HTTP {reply.status} from color={color} release={release}"
                dead = reply.status >= 500 and color in expected
                first_dead = (first_dead or time.monotonic()) if dead else None
                if first_dead and time.monotonic() - first_dead >= DEAD_LIMIT:
                    raise CheckFailed(
                        f"port {port} does not serve {serving}: {color} answers only"
                        f" HTTP {reply.status} for {DEAD_LIMIT:g} s (its app is down)"
                    )
        except (OSError, ConnectionError) as error:
            first_good, seen = None, set()
            last = str(error) or type(error).__name__
        time.sleep(0.02)
    if last == "no answer" and seen:  # every answer was right, but a color never answered
        last = f"only {', '.join(sorted(seen))} answered"
    raise CheckFailed(f"port {port} does not serve {serving} after {deadline:g} s; last: {last}")
