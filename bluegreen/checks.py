"""Health and serving checks over the host's SSH transport (no exec round trips)."""

from __future__ import annotations

import time

from bluegreen.executor import Remote
from bluegreen.inventory import Health

COLOR_HEADER = "x-bluegreen-color"
RELEASE_HEADER = "x-bluegreen-release"


class CheckFailed(RuntimeError):
    """A color never became healthy, or the public port does not serve what it should."""


def wait_healthy(remote: Remote, port: int, health: Health) -> str:
    """Probe the color's port until the health path answers 2xx/3xx; say how it went."""
    last = "no answer"
    for attempt in range(1, health.attempts + 1):
        try:
            reply = remote.http_get(port, health.path, health.timeout)
            if reply.status < 400:
                return f"HTTP {reply.status} on {health.path} after {attempt} attempt(s)"
            last = f"HTTP {reply.status} {reply.body.strip()[:80]!r}"
        except (OSError, ConnectionError) as error:
            last = str(error) or type(error).__name__
        if attempt < health.attempts:
            time.sleep(health.interval)
    raise CheckFailed(f"port {port} not healthy after {health.attempts} attempt(s); last: {last}")


def wait_serving(
    remote: Remote,
    port: int,
    path: str,
    color: str,
    release: str,
    window: float = 0.3,
    deadline: float = 10.0,
) -> str:
    """Wait until every answer on the public port comes from ``color``/``release`` for ``window`` s.

    Right after a reload the old nginx workers still accept for ~100 ms, so one good answer
    is not enough: the window must pass with no answer from anything else.
    """
    started = time.monotonic()
    first_good: float | None = None
    last = "no answer"
    while time.monotonic() - started < deadline:
        try:
            reply = remote.http_get(port, path, timeout=2.0)
            seen = (reply.headers.get(COLOR_HEADER), reply.headers.get(RELEASE_HEADER))
            if reply.status < 400 and seen == (color, release):
                now = time.monotonic()
                first_good = first_good or now
                if now - first_good >= window:
                    return f"port {port} serves {color} {release} ({now - started:.2f} s)"
            else:
                first_good = None
                last = f"HTTP {reply.status} from color={seen[0]} release={seen[1]}"
        except (OSError, ConnectionError) as error:
            first_good = None
            last = str(error) or type(error).__name__
        time.sleep(0.02)
    raise CheckFailed(
        f"port {port} does not serve {color} {release} after {deadline:g} s; last: {last}"
    )
