"""Unit tests for the e2e HTTP load harness, against a real local HTTP server."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bluegreen.testing.load import KINDS, Load, first_and_last


class _State:
    """What the test server answers; tests change it while load runs."""

    def __init__(self, color: str, release: str) -> None:
        self.color = color
        self.release = release
        self.status = 200
        self.close_after = 0  # close each connection after N requests, silently
        self.hang = 0.0  # seconds to stall before answering
        self.unhang = threading.Event()
        self.dead = False  # drop requests on existing connections without answer
        self.lock = threading.Lock()
        self.requests = 0
        self.connections = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client asks to close
    disable_nagle_algorithm = True  # headers and body are two writes: avoid 40 ms stalls

    def setup(self) -> None:
        super().setup()
        self.served = 0
        st: _State = self.server.state  # type: ignore[attr-defined]
        with st.lock:
            st.connections += 1

    def do_GET(self) -> None:  # noqa: N802
        st: _State = self.server.state  # type: ignore[attr-defined]
        if st.dead:
            self.close_connection = True
            return
        with st.lock:
            st.requests += 1
        if st.hang:
            st.unhang.wait(st.hang)
        body = f"{st.release}\n".encode()
        self.send_response(st.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Bluegreen-Color", st.color)
        self.send_header("X-Bluegreen-Release", st.release)
        self.end_headers()
        self.wfile.write(body)
        self.served += 1
        if st.close_after and self.served >= st.close_after:
            self.close_connection = True  # no "Connection: close": the client cannot know

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # resets and broken pipes are expected here


class Backend:
    def __init__(self, color: str = "blue", release: str = "r1") -> None:
        self.state = _State(color, release)
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.state = self.state  # type: ignore[attr-defined]
        self.target = ("127.0.0.1", self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.alive = True

    def kill(self) -> None:
        """Refuse new connections and drop requests on open ones."""
        self.state.dead = True
        if self.alive:
            self.alive = False
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    made: list[Backend] = []
    yield made
    for b in made:
        b.state.unhang.set()
        b.kill()


def _backend(backends: list[Backend], color: str = "blue", release: str = "r1") -> Backend:
    b = Backend(color, release)
    backends.append(b)
    return b


def _until_sent(load: Load, count: int, seconds: float = 20) -> None:
    """Until every kind sent more than ``count`` requests, however busy the machine is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and min(load.stats(k).sent for k in KINDS) <= count:
        time.sleep(0.05)


def test_healthy_targets_all_kinds_no_failures(backends: list[Backend]) -> None:
    blue = _backend(backends, "blue", "r1")
    green = _backend(backends, "green", "r2")
    with Load([blue.target, green.target], max_seconds=30) as load:
        _until_sent(load, 30)
    for kind in KINDS:
        s = load.stats(kind)
        assert s.sent > 20, load.report()
        assert s.failed == 0 and s.retried == 0 and not s.errors, load.report()
        assert set(s.colors) == {"blue", "green"}
        assert set(s.releases) == {"r1", "r2"}
        assert set(s.bodies) == {"r1", "r2"}
        assert sum(s.colors.values()) == s.sent
    per_target = load.stats(target=green.target)
    assert set(per_target.colors) == {"green"}
    total = load.stats()
    assert total.sent == sum(load.stats(k).sent for k in KINDS)
    # Exact counting: the servers saw every recorded request, plus at most one
    # in-flight request per client discarded by stop().
    served = blue.state.requests + green.state.requests
    assert total.sent <= served <= total.sent + len(KINDS) * 2
    samples = load.samples()
    assert len(samples) == total.sent and all(ok for _t, _k, _c, ok in samples)
    assert {k for _t, k, _c, _ok in samples} == set(KINDS)
    assert len(load.samples(target=blue.target)) == load.stats(target=blue.target).sent
    assert load.report().splitlines()[0].startswith("new: sent ")


def test_new_opens_a_connection_per_request_keepalive_reuses_one(
    backends: list[Backend],
) -> None:
    a = _backend(backends)
    b = _backend(backends)
    with Load([a.target], kinds=("new",)) as new, Load([b.target], kinds=("keepalive",)) as ka:
        time.sleep(0.3)
    assert new.stats().sent > 10 and ka.stats().sent > 10
    # stop() may cut one connection before its request was read.
    assert a.state.requests <= a.state.connections <= a.state.requests + 1
    assert b.state.connections == 1


def test_502_window_counts_failures_for_every_kind(backends: list[Backend]) -> None:
    b = _backend(backends)
    with Load([b.target]) as load:
        time.sleep(0.1)
        t_bad = load.mark()
        b.state.status = 502
        time.sleep(0.3)
        b.state.status = 200
        t_good = load.mark()
        time.sleep(0.15)
    for kind in KINDS:
        s = load.stats(kind)
        assert 0 < s.failed < s.sent, load.report()
        assert set(s.errors) == {"HTTP 502"}, load.report()
    assert load.stats("keepalive-retry").retried >= load.stats("keepalive-retry").failed
    # Failures happen only inside the 502 window (allowing one request latency).
    bad = [t for t, _k, _c, ok in load.samples() if not ok]
    assert min(bad) >= t_bad - 0.05 and max(bad) <= t_good


def test_non_200_fails_without_retry(backends: list[Backend]) -> None:
    b = _backend(backends)
    with Load([b.target], kinds=("keepalive-retry",)) as load:
        b.state.status = 404
        time.sleep(0.1)
    s = load.stats()
    assert s.failed > 0 and s.retried == 0 and set(s.errors) == {"HTTP 404"}


def test_server_shut_down_mid_load_counts_failures_for_every_kind(
    backends: list[Backend],
) -> None:
    b = _backend(backends)
    with Load([b.target]) as load:
        time.sleep(0.1)
        b.kill()
        time.sleep(0.3)
    for kind in KINDS:
        s = load.stats(kind)
        assert s.failed > 0, load.report()
        assert not any(e.startswith("HTTP") for e in s.errors), load.report()
    assert "ConnectionRefusedError" in load.stats("new").errors


def test_silently_closed_keepalive_retry_recovers_keepalive_fails(
    backends: list[Backend],
) -> None:
    b = _backend(backends)
    b.state.close_after = 3
    with Load([b.target]) as load:  # until enough requests, however busy the machine is
        deadline = time.monotonic() + 20
        while (
            time.monotonic() < deadline
            and min(load.stats(kind).sent for kind in ("keepalive-retry", "keepalive")) <= 30
        ):
            time.sleep(0.05)
    new, retry, ka = (load.stats(k) for k in KINDS)
    assert new.failed == 0 and new.retried == 0, load.report()
    # keepalive-retry: every 3rd request after the first finds its connection
    # closed, and the retry on a fresh connection succeeds.
    assert retry.failed == 0, load.report()
    assert retry.sent > 20 and abs(retry.retried - retry.sent / 3) <= 2, load.report()
    assert not any(e.startswith("HTTP") for e in retry.retry_errors)
    # keepalive: 3 answers per connection, then one failure, then a new one.
    assert ka.sent > 20 and abs(ka.failed - ka.sent / 4) <= 2, load.report()
    assert ka.retried == 0 and not any(e.startswith("HTTP") for e in ka.errors)


def test_timeout_counts_as_failure(backends: list[Backend]) -> None:
    b = _backend(backends)
    with Load([b.target], timeout=0.2) as load:
        b.state.hang = 1.0
        time.sleep(0.6)
    for kind in KINDS:
        s = load.stats(kind)
        assert s.failed > 0 and "TimeoutError" in s.errors, load.report()


def test_latencies_are_recorded_per_successful_request(backends: list[Backend]) -> None:
    b = _backend(backends)
    with Load([b.target], kinds=("keepalive",)) as load:
        deadline = time.monotonic() + 10  # a busy machine sends fewer in the same time
        while len(load.latencies()) < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        slow_from = load.mark()
        b.state.hang = 0.15
        time.sleep(0.5)
    fast = load.latencies(before=slow_from - 0.05)  # ended long before the server slowed
    slow = load.latencies(after=slow_from + 0.2)
    assert len(fast) > 10 and statistics.median(fast) < 0.05
    assert slow and min(slow) >= 0.15
    assert len(load.latencies()) == load.stats().sent


def test_stop_is_prompt_while_requests_hang(backends: list[Backend]) -> None:
    b = _backend(backends)
    load = Load([b.target], timeout=5.0).__enter__()
    b.state.hang = 5.0
    time.sleep(0.2)  # every client is now waiting on a stalled response
    t0 = time.monotonic()
    load.stop()
    assert time.monotonic() - t0 < 0.5
    assert not load.running()
    assert load.stats().failed == 0  # interrupted requests are discarded, not failures


def test_stops_by_itself_at_max_seconds(backends: list[Backend]) -> None:
    b = _backend(backends)
    load = Load([b.target], max_seconds=0.5).__enter__()
    assert load.running()
    while load.running() and time.monotonic() - load.started_at < 2.0:
        time.sleep(0.02)
    assert not load.running()
    assert 0.5 <= time.monotonic() - load.started_at < 1.0
    sent = load.stats().sent
    time.sleep(0.1)
    assert load.stats().sent == sent > 10


def test_stops_by_itself_at_max_requests(backends: list[Backend]) -> None:
    b = _backend(backends)
    load = Load([b.target], max_requests=30, max_seconds=10).__enter__()
    while load.running() and time.monotonic() - load.started_at < 2.0:
        time.sleep(0.02)
    assert not load.running()
    assert load.stats().sent == 30 == b.state.requests
    load.stop()


def test_dead_target_raises_on_enter() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    load = Load([("127.0.0.1", port)], ready_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="no successful response"), load:
        pass
    assert time.monotonic() - t0 < 1.5
    assert not load.running()
    assert load.stats().failed > 0


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Load([])
    with pytest.raises(ValueError):
        Load([("127.0.0.1", 1)], kinds=("bogus",))


def test_first_and_last_synthetic() -> None:
    samples = [
        (1.0, "new", "blue", True),
        (2.0, "keepalive", "green", True),
        (1.5, "keepalive", "blue", False),  # samples need not be time-ordered
        (3.0, "new", "green", True),
        (2.5, "new", None, False),
    ]
    assert first_and_last(samples, "blue", after=0.0) == (1.0, 1.5)
    assert first_and_last(samples, "blue", after=1.2) == (1.5, 1.5)
    assert first_and_last(samples, "green", after=0.0) == (2.0, 3.0)
    assert first_and_last(samples, "green", after=2.5) == (3.0, 3.0)
    assert first_and_last(samples, "blue", after=1.6) == (None, None)
    assert first_and_last([], "blue", after=0.0) == (None, None)


def test_first_and_last_across_a_color_switch(backends: list[Backend]) -> None:
    b = _backend(backends, "blue", "r1")
    with Load([b.target]) as load:
        time.sleep(0.2)
        b.state.color = "green"
        t_switch = load.mark()  # every request started after this gets green
        time.sleep(0.2)
    samples = load.samples()
    first_blue, last_blue = first_and_last(samples, "blue", after=0.0)
    first_green, last_green = first_and_last(samples, "green", after=0.0)
    assert first_blue is not None and last_blue is not None
    assert first_green is not None and last_green is not None
    assert first_blue < last_blue < t_switch
    assert t_switch - 0.1 < first_green < last_green
    assert first_and_last(samples, "blue", after=t_switch) == (None, None)
