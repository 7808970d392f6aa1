import subprocess
import threading
import time
from pathlib import Path

import pytest

from bluegreen.config.inventory import App, Inventory, Ports, Watch
from bluegreen.engine import watch

UPSTREAMS = {"127.0.0.1:4001": "blue", "127.0.0.1:4002": "green"}
LOG = """1795688454.308 200 0.001 127.0.0.1:4001
1795688454.309 500 0.004 127.0.0.1:4002
1795688454.310 200 0.250 127.0.0.1:4002
1795688454.311 502 0.000 127.0.0.1:4002, 127.0.0.1:4001
1795688454.312 503 0.000 -
not a log line
1795688454.313 200 x 127.0.0.1:4001
"""


def _tallies(text: str = LOG) -> dict[str, watch.Tally]:
    tallies: dict[str, watch.Tally] = {}
    watch.count(text, UPSTREAMS, tallies)
    return tallies


def test_answers_are_counted_by_the_upstream_that_answered_last():
    t = _tallies()
    assert (t["blue"].requests, t["blue"].errors) == (2, 1)  # the retried 502 ended on blue
    assert (t["green"].requests, t["green"].errors, t["green"].times) == (2, 1, [0.004, 0.25])
    assert (t["nginx"].requests, t["nginx"].errors) == (1, 1)


def test_p99_is_the_nearest_rank_in_milliseconds():
    tally = watch.Tally(times=[i / 1000 for i in range(1, 201)])  # 1..200 ms
    assert tally.p99_ms() == pytest.approx(198)
    assert watch.Tally().p99_ms() is None


def test_the_error_rate_is_judged_from_min_requests_on():
    settings = Watch(seconds=5, max_error_rate=0.1, min_requests=10)
    assert watch.judge(watch.Tally(requests=9, errors=9), settings) is None  # too few yet
    assert watch.judge(watch.Tally(requests=10, errors=1), settings) is None
    assert watch.judge(watch.Tally(requests=10, errors=2), settings) == (
        "2 of 10 answers were 5xx (20.0%, max 10.0%)"
    )


def test_the_p99_is_judged_only_when_a_limit_is_set():
    slow = watch.Tally(requests=20, times=[0.5] * 20)
    assert watch.judge(slow, Watch(min_requests=20)) is None
    assert watch.judge(slow, Watch(min_requests=20, max_p99_ms=100)) == (
        "p99 500 ms over 20 answers (max 100 ms)"
    )


def test_evidence_lists_5xx_and_p99_by_upstream():
    assert watch.evidence(_tallies()) == (
        "blue 1 of 2 5xx, p99 1 ms; green 1 of 2 5xx, p99 250 ms; nginx 1 of 1 5xx, p99 0 ms"
    )
    assert watch.evidence({}) == "no requests"


class LocalRemote:
    """Runs the watch's commands in a local shell, as a host would."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command: str, **kw) -> str:
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout
        self.commands.append(command)  # after it ran: the watch has read what it asked
        return out


def _inventory(tmp_path: Path, **settings) -> Inventory:
    app = App(name="shop", watch=Watch(min_requests=3, **settings))
    return Inventory(tmp_path / "hosts.yml", app, Ports(), hosts={}, groups={})


@pytest.fixture
def log_file(tmp_path, monkeypatch):
    path = tmp_path / "access.log"
    path.write_text("1 500 0.001 127.0.0.1:4002\n" * 5)  # before the watch: not counted
    monkeypatch.setattr(watch.nginx, "access_log_path", lambda app: str(path))
    monkeypatch.setattr(watch, "POLL", 0.05)
    return path


def _append_soon(
    remote: LocalRemote, path: Path, text: str, delay: float = 0.08
) -> threading.Thread:
    """Append ``text`` ``delay`` seconds after the watch's first read (where it starts
    counting), however late a busy machine starts it."""

    def append() -> None:
        deadline = time.monotonic() + 10
        while not remote.commands and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        with path.open("a") as log:
            log.write(text)

    thread = threading.Thread(target=append)
    thread.start()
    return thread


def test_a_failing_color_fails_the_watch_with_the_evidence(tmp_path, log_file):
    remote = LocalRemote()
    _append_soon(
        remote, log_file, "2 500 0.001 127.0.0.1:4002\n" * 3 + "2 200 0.001 127.0.0.1:4001\n"
    )
    with pytest.raises(watch.WatchFailed) as failed:
        watch.watch(remote, _inventory(tmp_path), "green", 5.0, threading.Event())
    message = str(failed.value)
    assert message.startswith("watch: green 3 of 3 answers were 5xx (100.0%, max 1.0%) after ")
    assert message.endswith("| by upstream: blue 0 of 1 5xx, p99 1 ms; green 3 of 3 5xx, p99 1 ms")


def test_a_healthy_color_passes_and_a_partial_line_waits_for_its_end(tmp_path, log_file):
    remote = LocalRemote()
    _append_soon(remote, log_file, "2 200 0.001 127.0.0.1:4002\n" * 3 + "2 500 0.0")
    timer = _append_soon(remote, log_file, "01 127.0.0.1:4001\n", delay=0.15)
    report = watch.watch(remote, _inventory(tmp_path), "green", 1.0, threading.Event())
    timer.join()
    assert report.endswith("s, blue 1 of 1 5xx, p99 1 ms; green 0 of 3 5xx, p99 1 ms")
    assert len(remote.commands) >= 3


def test_too_few_requests_are_not_judged_and_a_halt_stops_the_watch(tmp_path, log_file):
    halt = threading.Event()
    threading.Timer(0.1, halt.set).start()
    report = watch.watch(LocalRemote(), _inventory(tmp_path), "green", 30, halt)
    assert report.endswith("s (stopped early), no requests, too few to judge")
