"""A real job queue for the workers' tests: a private ``redis-server``, a producer that
enqueues jobs while a change runs, and the ledger the example app's worker writes
(example/worker.sh: ``up``/``down``/``start ID``/``end ID`` with version, host, time).
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


def _encode(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read(stream) -> object:
    """One RESP2 reply."""
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind in (b"+", b":"):
        return rest
    if kind == b"-":
        raise RuntimeError(f"redis: {rest}")
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else stream.read(size + 2)[:-2].decode()
    if kind == b"*":
        return [_read(stream) for _ in range(int(rest))]
    raise RuntimeError(f"redis: unexpected reply {line!r}")


class Redis:
    """``redis-server`` on ``address:port``, without persistence, stopped on exit."""

    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port
        self.folder = Path(tempfile.mkdtemp(prefix="bluegreen-redis-"))
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Redis:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", self.address,
             "--protected-mode", "no", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=(self.folder / "log").open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                self.command("PING")
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError((self.folder / "log").read_text()) from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    def command(self, *args: str) -> object:
        with socket.create_connection((self.address, self.port), timeout=5) as connection:
            connection.sendall(_encode(*args))
            return _read(connection.makefile("rb"))

    def events(self, key: str = "events") -> list[Event]:
        return [Event.parse(line) for line in self.command("LRANGE", key, "0", "-1")]


@dataclass(frozen=True)
class Event:
    """One line of the worker's ledger."""

    what: str  # up | down | start | end
    job: str  # the job id (start, end) or ""
    version: str
    host: str
    time: float  # Redis's clock

    @classmethod
    def parse(cls, line: str) -> Event:
        words = line.split()
        if words[0] in ("start", "end", "tick"):  # a tick's "job" is its slot (or -)
            return cls(words[0], words[1], words[2], words[3], redis_time(words[4]))
        return cls(words[0], "", words[1], words[2], redis_time(words[3]))


def redis_time(word: str) -> float:
    """Seconds of what the recorders write: Redis's TIME joined by a dot, "SECONDS.MICROS",
    whose micros are not zero-padded ("469.17684" is 469.017684)."""
    seconds, _, micros = word.partition(".")
    return int(seconds) + int(micros or 0) / 1_000_000


class Producer:
    """Enqueues a short job (``<prefix>N:0``) every ``interval`` seconds in a thread, at
    most ``limit`` of them (``sent``: their ids, in order)."""

    def __init__(self, redis: Redis, prefix: str, interval: float = 0.05, limit: int = 5000):
        self.redis, self.prefix, self.interval, self.limit = redis, prefix, interval, limit
        self.sent: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Producer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stopping.is_set() and len(self.sent) < self.limit:
            job = f"{self.prefix}{len(self.sent)}"
            self.redis.command("RPUSH", "jobs", f"{job}:0")
            self.sent.append(job)
            self.stopping.wait(self.interval)


@dataclass(frozen=True)
class Ledger:
    """What the worker's events say about a list of jobs."""

    events: list[Event]

    def processed(self, jobs: list[str]) -> Counter[str]:
        """How often each of ``jobs`` ended (1 is right; 0 lost, 2 run twice)."""
        ends = Counter(e.job for e in self.events if e.what == "end")
        return Counter({job: ends[job] for job in jobs})

    def version_of(self, job: str) -> str:
        return next(e.version for e in self.events if e.what == "end" and e.job == job)

    def slots(self, every: int) -> Counter[int]:
        """How often each time slot of a scheduled job ran (its own slot number, else the
        slot of its time)."""
        ticks = [e for e in self.events if e.what == "tick"]
        return Counter(int(e.job) if e.job != "-" else int(e.time // every) for e in ticks)

    def lifetimes(self) -> list[tuple[str, str, float, float]]:
        """(version, host, up, down) of each worker instance, in order; down is inf while
        it runs."""
        open_: dict[tuple[str, str], float] = {}
        lives = []
        for e in sorted(self.events, key=lambda e: e.time):
            if e.what == "up":
                open_[(e.version, e.host)] = e.time
            elif e.what == "down" and (e.version, e.host) in open_:
                lives.append((e.version, e.host, open_.pop((e.version, e.host)), e.time))
        lives += [(v, h, up, float("inf")) for (v, h), up in open_.items()]
        return sorted(lives, key=lambda life: life[2])

    def overlaps(self) -> list[str]:
        """Moments when workers of two versions consumed at once."""
        lives = self.lifetimes()
        return [
            f"{a[0]} on {a[1]} and {b[0]} on {b[1]}"
            for i, a in enumerate(lives)
            for b in lives[i + 1 :]
            if a[0] != b[0] and b[2] < a[3] and a[2] < b[3]
        ]
