"""The post-switch watch: judge the color that just got traffic by nginx's access log.

Once a second, one command reads the log lines written since the last poll (our site
logs ``$msec $status $request_time $upstream_addr``); answers are counted by the color
whose upstream answered. Too many 5xx from the watched color, or a too slow p99, fails
the watch, and the fleet engine puts the previous traffic back (the old color is still
running: it is stopped only after the watch passed).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, field

from bluegreen.config.inventory import COLORS, Inventory, Watch
from bluegreen.engine import checks
from bluegreen.errors import WatchFailed
from bluegreen.shell import nginx
from bluegreen.transport.ssh import Remote

POLL = 1.0  # seconds between two reads of the access log
OTHER = "nginx"  # answers no upstream gave (nginx's own 503, ...)


@dataclass
class Tally:
    """The answers of one upstream during the watch."""

    requests: int = 0
    errors: int = 0  # 5xx
    times: list[float] = field(default_factory=list)  # nginx's request time, seconds

    def p99_ms(self) -> float | None:
        """The 99th percentile (nearest rank) of the request times, in milliseconds."""
        if not self.times:
            return None
        ordered = sorted(self.times)
        return ordered[math.ceil(0.99 * len(ordered)) - 1] * 1000


def count(text: str, upstreams: dict[str, str], tallies: dict[str, Tally]) -> None:
    """Add log lines to ``tallies`` (by color; ``upstreams`` maps address -> color)."""
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4 or not parts[1].isdigit():
            continue
        try:
            seconds = float(parts[2])
        except ValueError:
            continue
        # several addresses when nginx tried more than one: the last one answered
        last = parts[3].replace(" : ", ", ").split(", ")[-1].strip()
        tally = tallies.setdefault(upstreams.get(last, OTHER), Tally())
        tally.requests += 1
        tally.errors += parts[1].startswith("5")
        tally.times.append(seconds)


def judge(tally: Tally, settings: Watch) -> str | None:
    """What is wrong with the watched color's answers so far, or None."""
    if tally.requests < settings.min_requests:
        return None
    rate = tally.errors / tally.requests
    if rate > settings.max_error_rate:
        return (
            f"{tally.errors} of {tally.requests} answers were 5xx ({rate:.1%},"
            f" max {settings.max_error_rate:.1%})"
        )
    p99 = tally.p99_ms()
    if settings.max_p99_ms is not None and p99 is not None and p99 > settings.max_p99_ms:
        return f"p99 {p99:.0f} ms over {tally.requests} answers (max {settings.max_p99_ms:g} ms)"
    return None


def evidence(tallies: dict[str, Tally]) -> str:
    """5xx and p99 by upstream, for the operator."""
    parts = []
    for name, tally in sorted(tallies.items()):
        p99 = tally.p99_ms()
        latency = f", p99 {p99:.0f} ms" if p99 is not None else ""
        parts.append(f"{name} {tally.errors} of {tally.requests} 5xx{latency}")
    return "; ".join(parts) or "no requests"


def watch(
    remote: Remote, inventory: Inventory, color: str, seconds: float, halt: threading.Event
) -> str:
    """Watch ``color`` for ``seconds`` (or until ``halt``); raise WatchFailed with evidence."""
    settings = inventory.app.watch
    path = nginx.access_log_path(inventory.app.name)
    upstreams = {f"127.0.0.1:{inventory.ports.of(c)}": c for c in COLORS}
    size = remote.run(nginx.read_log(path, None), what="watch", readonly=True)
    offset = int(size.strip().removeprefix("size=") or 0)
    tallies: dict[str, Tally] = {}
    started = time.monotonic()
    at = checks.public(inventory)
    while not halt.wait(POLL):
        if settings.probe:
            # nginx logs what it answered; the log is what is judged
            with contextlib.suppress(OSError, ConnectionError):
                at.get(remote, settings.probe, timeout=POLL)
        output = remote.run(nginx.read_log(path, offset), what="watch", readonly=True)
        start, text = _start_and_text(output)
        complete = text[: text.rfind("\n") + 1]
        offset = start + len(complete.encode())
        count(complete, upstreams, tallies)
        elapsed = time.monotonic() - started
        problem = judge(tallies.get(color, Tally()), settings)
        if problem:
            raise WatchFailed(
                f"watch: {color} {problem} after {elapsed:.1f} s"
                f"\n      | by upstream: {evidence(tallies)}"
            )
        if elapsed >= seconds:
            break
    watched = tallies.get(color, Tally())
    verdict = "" if watched.requests >= settings.min_requests else ", too few to judge"
    how_long = time.monotonic() - started
    stopped = " (stopped early)" if halt.is_set() else ""
    return f"{how_long:.1f} s{stopped}, {evidence(tallies)}{verdict}"


def _start_and_text(output: str) -> tuple[int, str]:
    """``read_log``'s output with an offset: ``size=``, ``start=``, then the log's bytes."""
    _size, _, rest = output.partition("\n")
    start, _, text = rest.partition("\n")
    return int(start.removeprefix("start=") or 0), text
