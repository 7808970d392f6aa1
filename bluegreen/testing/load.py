"""Continuous HTTP load against bluegreen targets, with exact failure counts.

Used by every end-to-end test and the benchmark: run it around a deploy, switch
or rollback and assert how many requests failed::

    with Load([("10.210.0.11", 4000)]) as load:
        t0 = load.mark()
        run_the_deploy()
    assert load.stats().failed == 0, load.report()

Client kinds (``threads_per_kind`` threads per kind and per target):

- ``"new"``: a new TCP connection per request (``Connection: close``).
- ``"keepalive-retry"``: one persistent HTTP/1.1 connection; a request that fails
  with a connection error, a timeout or a 5xx is retried once on a new
  connection (idempotent GET). Failed only if the retry fails too; retries are
  counted in ``Stats.retried`` (their first-attempt errors in ``retry_errors``).
- ``"keepalive"``: persistent connection, never retries; any error is a failure
  and the next request opens a new connection.

With ``tls`` (an ``ssl.SSLContext``) every client speaks HTTPS to the target address,
asking for ``server_name`` (SNI and Host; the certificate is verified against it); without
it, plain HTTP asks for ``server_name`` as the Host (apps sharing port 80 by name).

A request fails on a connection error, reset, EOF or timeout, or on a status
other than 200 (502/503/504 from nginx mean downtime).

Safety: traffic goes only to the given targets. Every loop is bounded by
``max_requests`` (total logical requests over all clients) and by
``max_seconds``: the threads are daemons, check a deadline, and a watchdog timer
calls ``stop()`` at the deadline, so a crashed test cannot leave load running.
``stop()`` wakes sleeping clients and shuts down their sockets, so it returns
promptly even while requests hang; a request interrupted by ``stop()`` is
discarded (neither sent nor failed). Standard library only.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

KINDS = ("new", "keepalive-retry", "keepalive")
COLOR_HEADER = "X-Bluegreen-Color"
RELEASE_HEADER = "X-Bluegreen-Release"
MAX_KEYS = 1000  # distinct keys kept per Counter; further keys count as "<other>"

Sample = tuple[float, str, "str | None", bool]


def _bump(counter: collections.Counter, key: str) -> None:
    if key in counter or len(counter) < MAX_KEYS:
        counter[key] += 1
    else:
        counter["<other>"] += 1


@dataclass
class Stats:
    """Counts for one kind (or all kinds), aggregated over targets.

    ``sent`` counts logical requests (a retry is not a second one), ``failed``
    those that finally failed, ``retried`` those that needed a retry.
    """

    sent: int = 0
    failed: int = 0
    retried: int = 0
    errors: collections.Counter = field(default_factory=collections.Counter)
    colors: collections.Counter = field(default_factory=collections.Counter)
    releases: collections.Counter = field(default_factory=collections.Counter)
    bodies: collections.Counter = field(default_factory=collections.Counter)
    retry_errors: collections.Counter = field(default_factory=collections.Counter)

    def merge(self, other: Stats) -> None:
        """Add ``other``'s counts to this one."""
        self.sent += other.sent
        self.failed += other.failed
        self.retried += other.retried
        self.errors.update(other.errors)
        self.colors.update(other.colors)
        self.releases.update(other.releases)
        self.bodies.update(other.bodies)
        self.retry_errors.update(other.retry_errors)


@dataclass
class _Result:
    ok: bool
    error: str | None = None
    color: str | None = None
    release: str | None = None
    body: str | None = None
    retryable: bool = False  # connection error, timeout or 5xx
    broken: bool = False  # the connection must not be reused


class _Client:
    """One thread sending requests of one kind to one target."""

    def __init__(self, load: Load, kind: str, target: tuple[str, int], index: int) -> None:
        self.load = load
        self.kind = kind
        self.target = target
        self.stats = Stats()
        self.got_ok = threading.Event()
        self.conn: http.client.HTTPConnection | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"load-{kind}-{target[0]}:{target[1]}-{index}", daemon=True
        )

    # -- connection handling -------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        load, (address, port) = self.load, self.target
        name = load.server_name or address
        if load.tls is None:
            conn = http.client.HTTPConnection(name, port, timeout=load.timeout)
        else:  # HTTPS to the address, asking for server_name (SNI, Host, certificate check)
            conn = http.client.HTTPSConnection(name, port, timeout=load.timeout, context=load.tls)
        # to the address whatever the name (Host; HTTPS: SNI and the certificate's name)
        conn._create_connection = lambda _where, *a, **kw: socket.create_connection(
            (address, port), *a, **kw
        )
        self.conn = conn
        return conn

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def interrupt(self) -> None:
        """Called from another thread by stop(): unblock a request in flight."""
        conn = self.conn
        sock = getattr(conn, "sock", None) if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- requests ------------------------------------------------------------

    def _attempt(self, conn: http.client.HTTPConnection, close: bool) -> _Result:
        headers = {"Connection": "close"} if close else {}
        try:
            conn.request("GET", self.load.path, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except Exception as exc:  # any failure must be counted, never kill the thread
            return _Result(False, type(exc).__name__, retryable=True, broken=True)
        color = resp.getheader(COLOR_HEADER)
        release = resp.getheader(RELEASE_HEADER)
        body = raw.decode("utf-8", "replace").strip()[:64]
        if resp.status == 200:
            return _Result(True, None, color, release, body)
        return _Result(
            False, f"HTTP {resp.status}", color, release, body, retryable=resp.status >= 500
        )

    def _request(self) -> tuple[float, _Result, str | None]:
        """One logical request: (start time of the final attempt, result, retry reason)."""
        if self.kind == "new":
            t = time.monotonic()
            conn = self._connect()
            result = self._attempt(conn, close=True)
            self._drop()
            return t, result, None
        conn = self.conn or self._connect()
        t = time.monotonic()
        result = self._attempt(conn, close=False)
        if result.broken or (self.kind == "keepalive-retry" and result.retryable):
            self._drop()
        if self.kind == "keepalive-retry" and result.retryable and not self.load.stopping:
            reason = result.error
            conn = self._connect()
            t = time.monotonic()
            result = self._attempt(conn, close=False)
            if result.broken or not result.ok:
                self._drop()
            return t, result, reason
        return t, result, None

    def _run(self) -> None:
        load = self.load
        try:
            while load._may_continue() and load._take():
                t, result, retry_reason = self._request()
                duration = time.monotonic() - t
                if load.stopping:
                    break  # interrupted by stop(): the outcome means nothing
                load._record(self, t, result, retry_reason, duration)
                if load._stop_event.wait(load.pause):
                    break
        finally:
            self._drop()


class Load:
    """Continuous HTTP GET load on ``targets`` while a test runs; see the module doc."""

    def __init__(
        self,
        targets: list[tuple[str, int]],
        kinds: Sequence[str] = KINDS,
        path: str = "/version",
        pause: float = 0.005,
        timeout: float = 5.0,
        max_seconds: float = 300.0,
        max_requests: int = 1_000_000,
        threads_per_kind: int = 1,
        ready_timeout: float = 5.0,
        max_samples: int = 200_000,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        if not targets:
            raise ValueError("Load needs at least one target")
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"unknown client kinds {unknown}; choose from {KINDS}")
        if threads_per_kind < 1 or max_requests < 1 or max_seconds <= 0 or timeout <= 0:
            raise ValueError("threads_per_kind, max_requests, max_seconds, timeout must be > 0")
        self.targets = [(str(h), int(p)) for h, p in targets]
        self.kinds = tuple(dict.fromkeys(kinds))
        self.path = path
        self.tls = tls  # HTTPS, verifying the certificate against server_name with this context
        self.server_name = server_name
        self.pause = pause
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.ready_timeout = ready_timeout
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self._deadline = 0.0
        self._issued = 0
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._samples: collections.deque = collections.deque(maxlen=max_samples)
        self._watchdog: threading.Timer | None = None
        self._clients = [
            _Client(self, kind, target, i)
            for kind in self.kinds
            for target in self.targets
            for i in range(threads_per_kind)
        ]

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start the client threads and the deadline watchdog (once)."""
        if self.started_at is not None:
            raise RuntimeError("Load already started")
        self.started_at = time.monotonic()
        self._deadline = self.started_at + self.max_seconds
        self._watchdog = threading.Timer(self.max_seconds, self.stop)
        self._watchdog.daemon = True
        self._watchdog.start()
        for client in self._clients:
            client.thread.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every client got one 200; else stop and raise RuntimeError."""
        timeout = self.ready_timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        while True:
            missing = [c for c in self._clients if not c.got_ok.is_set()]
            if not missing:
                return
            dead = [c for c in missing if not c.thread.is_alive()]
            if dead or time.monotonic() >= end:
                self.stop()
                names = sorted({f"{c.kind}->{c.target[0]}:{c.target[1]}" for c in missing})
                raise RuntimeError(
                    f"load: no successful response within {timeout:g}s for {', '.join(names)}"
                    f"\n{self.report()}"
                )
            time.sleep(0.01)

    def __enter__(self) -> Load:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop all clients promptly and wait (bounded) for their threads to end."""
        with self._lock:
            if self.stopped_at is None:
                self.stopped_at = time.monotonic()
        self._stop_event.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.cancel()
        for client in self._clients:
            client.interrupt()
        end = time.monotonic() + 2.0
        for client in self._clients:
            if client.thread.ident is not None:
                client.thread.join(max(0.0, end - time.monotonic()))
                client.interrupt()  # in case it was connecting at the first interrupt

    @property
    def stopping(self) -> bool:
        """True once stop() was called (by the test or the deadline watchdog)."""
        return self._stop_event.is_set()

    def running(self) -> bool:
        """True while any client thread is alive."""
        return any(c.thread.is_alive() for c in self._clients)

    def _may_continue(self) -> bool:
        return not self._stop_event.is_set() and time.monotonic() < self._deadline

    def _take(self) -> bool:
        with self._lock:
            if self._issued >= self.max_requests:
                return False
            self._issued += 1
            return True

    def _record(
        self,
        client: _Client,
        t: float,
        result: _Result,
        retry_reason: str | None,
        duration: float = 0.0,
    ) -> None:
        with self._lock:
            s = client.stats
            s.sent += 1
            if retry_reason is not None:
                s.retried += 1
                _bump(s.retry_errors, retry_reason)
            if not result.ok:
                s.failed += 1
                _bump(s.errors, result.error or "unknown")
            if result.color is not None:
                _bump(s.colors, result.color)
            if result.release is not None:
                _bump(s.releases, result.release)
            if result.body is not None:
                _bump(s.bodies, result.body)
            self._samples.append((t, client.kind, result.color, result.ok, client.target, duration))
        if result.ok:
            client.got_ok.set()

    # -- results -------------------------------------------------------------

    def stats(self, kind: str | None = None, target: tuple[str, int] | None = None) -> Stats:
        """Counts for one kind (None: all kinds), over all targets or one target."""
        total = Stats()
        with self._lock:
            for c in self._clients:
                if (kind is None or c.kind == kind) and (target is None or c.target == target):
                    total.merge(c.stats)
        return total

    def samples(self, target: tuple[str, int] | None = None) -> list[Sample]:
        """(start monotonic time, kind, color header, ok) per request, oldest first.

        The time is when the request's final attempt started; bounded ring
        (``max_samples``), so only the most recent requests are kept.
        """
        with self._lock:
            rows = list(self._samples)
        return [(t, k, c, ok) for t, k, c, ok, tg, _ in rows if target is None or tg == target]

    def latencies(
        self, kind: str | None = None, after: float = float("-inf"), before: float = float("inf")
    ) -> list[float]:
        """Seconds each successful request (final attempt) took, started in [after, before)."""
        with self._lock:
            rows = list(self._samples)
        return [
            d
            for t, k, _c, ok, _tg, d in rows
            if ok and after <= t < before and (kind is None or k == kind)
        ]

    def mark(self) -> float:
        """time.monotonic(), on the same clock as samples()."""
        return time.monotonic()

    def elapsed(self) -> float:
        """Seconds from start to stop (or to now while running)."""
        if self.started_at is None:
            return 0.0
        end = self.stopped_at if self.stopped_at is not None else time.monotonic()
        return end - self.started_at

    def report(self) -> str:
        """One line per kind: sent, failed, retried, colors, releases (errors if any)."""
        elapsed = self.elapsed()
        lines = []
        for kind in self.kinds:
            s = self.stats(kind)
            rate = s.sent / elapsed if elapsed > 0 else 0.0
            line = (
                f"{kind}: sent {s.sent} failed {s.failed} (retried {s.retried})"
                f" colors {dict(s.colors)} releases {dict(s.releases)} rate {rate:.0f}/s"
            )
            if s.errors:
                line += f" errors {dict(s.errors)}"
            if s.retry_errors:
                line += f" retry_errors {dict(s.retry_errors)}"
            lines.append(line)
        return "\n".join(lines)


def first_and_last(
    samples: Iterable[Sample], color: str, after: float = float("-inf")
) -> tuple[float | None, float | None]:
    """Earliest and latest sample time >= ``after`` whose color header is ``color``.

    Looks at every sample with that color header (ok or not); (None, None) if
    the color was not seen after ``after``.
    """
    times = [t for t, _kind, c, _ok in samples if c == color and t >= after]
    if not times:
        return None, None
    return min(times), max(times)
