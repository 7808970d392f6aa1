"""Helpers shared by the end-to-end tests (not a test module).

The example app gets extra releases that each carry one fault, and a fab runner that
streams fab's output so a test can act at an exact point of a deploy (a phase marker). The
traffic app (traffic_app.py) gets a repository of releases and a WebSocket client that
behaves like a browser tab.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import connect

from bluegreen import sandbox as sb
from bluegreen.testing.demo import (
    API_TOKEN,
    FAB,
    PROJECT,
    RELEASES,
    AppRepo,
    fab,
    make_app_repo,
    write_inventory,
)
from bluegreen.testing.load import Load

HOSTS = ["sandbox1", "sandbox2", "sandbox3"]
NEEDED_TOOLS = ("ip", "nsenter", "unshare", "tini", "sshd", "nginx", "dockerd", "docker")
RETRYING = ("new", "keepalive-retry")  # client kinds that must never see a failure
SECRET = API_TOKEN  # write_inventory's secret
# tag, version, Dockerfile lines appended: each release carries one fault
FAULTY = (
    ("slow", "4.0.0", "RUN sleep 3\n"),  # a slow build: stage takes ~3 s
    ("nobuild", "5.0.0", "RUN echo compiling assets && echo 'error: assets missing' && false\n"),
    # exits at once and prints its environment (a leaky app): the log must be masked
    ("crash", "6.0.0", 'ENTRYPOINT ["/bin/sh", "-c", "echo token=$API_TOKEN >&2; exit 1"]\n'),
)
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)


def require_sandbox_tools() -> None:
    """Skip without root or the sandbox's tools; in CI (env CI set) fail instead."""
    problem = None
    if os.geteuid() != 0:
        problem = "the sandbox needs root"
    elif missing := [tool for tool in NEEDED_TOOLS if shutil.which(tool) is None]:
        problem = f"the sandbox needs: {', '.join(missing)}"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def make_fault_repo(path: Path) -> AppRepo:
    return make_app_repo(path, RELEASES + FAULTY)


def reset(hosts, repo: AppRepo) -> None:
    """Hosts with no app, and no image but v1's (so v2 and the faulty ones build again)."""
    images = " ".join(f"example:{repo.releases[t]}" for t in repo.releases if t != "v1")
    for host in hosts:
        sb.run_in(host, f"{RESET}; docker rmi -f {images} >/dev/null 2>&1; true")


def inventory(tmp_path: Path, repo: AppRepo, name="hosts.yml", **kw) -> Path:
    kw.setdefault("defaults_extra", "switch_mode: reload")
    return write_inventory(tmp_path / name, repo.path, HOSTS, **kw)


def start_fleet(hosts, repo: AppRepo, tmp_path: Path) -> Path:
    """Every host serves v1 in blue (reload mode); returns the inventory."""
    reset(hosts, repo)
    base = inventory(tmp_path, repo)
    result = fab(base, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    return base


@contextmanager
def systemd_host(index: int) -> Iterator[sb.SandboxHost]:
    """Sandbox host ``index`` booted with a real systemd (a stale one of that index removed
    first), removed again at the end."""
    name = sb.host_name(index)
    if sb.host_dir(sb.DEFAULT_STATE, name).exists():
        sb.remove_host(name)
    try:
        yield sb.add_host(index, options=sb.HostOptions(init="systemd"))
    finally:
        sb.remove_host(name)


def served(host) -> tuple[str, str]:
    with urllib.request.urlopen(f"http://{host.address}:4000/version", timeout=5) as response:
        return response.headers["X-Bluegreen-Color"], response.headers["X-Bluegreen-Release"]


def containers(host) -> list[str]:
    out = sb.run_in(host, "docker ps -a --format '{{.Names}} {{.State}}' | sort").stdout
    return out.splitlines()


def lock_held(host) -> bool:
    return sb.run_in(host, "test -d /srv/example/.lock", check=False).returncode == 0


def load(hosts, seconds: float = 120) -> Load:
    return Load([(h.address, 4000) for h in hosts], max_seconds=seconds)


def failed(load: Load, kinds=RETRYING) -> int:
    return sum(load.stats(kind).failed for kind in kinds)


def assert_no_failures(load: Load, kinds=RETRYING) -> None:
    for kind in kinds:
        stats = load.stats(kind)
        assert stats.sent > 10 and stats.failed == 0, load.report()


def snapshot(host) -> str:
    """Everything a change could touch on a host: nginx and app files, containers, images
    (not the history, where a refused attempt is recorded as "unchanged")."""
    return sb.run_in(
        host,
        "find /etc/nginx /srv -type f ! -name history.jsonl -exec md5sum {} + | sort;"
        " docker ps -a --format '{{.ID}} {{.Names}} {{.State}}' | sort; docker images -q | sort",
    ).stdout


def restart_sshd(host) -> None:
    config = sb.host_dir(sb.DEFAULT_STATE, host.name) / "sshd_config"
    sb.run_in(host, f"/usr/sbin/sshd -f {shlex.quote(str(config))}")


def fake_nginx(host, script: str) -> None:
    """Bind-mount a wrapper over the host's nginx: ``script`` runs first, then the real one."""
    fake = f'#!/bin/sh\n{script}\nexec /tmp/nginx.real "$@"\n'
    sb.run_in(
        host,
        "cp /usr/sbin/nginx /tmp/nginx.real"
        f" && printf '%s' {shlex.quote(fake)} > /tmp/nginx.fake && chmod +x /tmp/nginx.fake"
        " && mount --bind /tmp/nginx.fake /usr/sbin/nginx",
    )


def real_nginx(host) -> None:
    sb.run_in(host, "umount /usr/sbin/nginx", check=False)


def restore(host) -> None:
    """Undo what a fault test may leave on a host: fake nginx, stopped sshd, slow login."""
    real_nginx(host)
    alive = "test -e /run/sshd.pid && kill -0 $(cat /run/sshd.pid)"
    if sb.run_in(host, alive, check=False).returncode:
        restart_sshd(host)
    sb.run_in(
        host,
        "rm -f /tmp/slow-login /tmp/login-slowed;"
        " if [ -f /root/.bashrc.orig ]; then mv -f /root/.bashrc.orig /root/.bashrc; fi",
    )


SLOW_TEST = 'case "$*" in *-t*) sleep 2;; esac'  # nginx -t takes 2 s (a big configuration)
# nginx -s reload returns at once and the new configuration applies 2 s later
SLOW_RELOAD = (
    'case "$*" in *"-s reload"*) (sleep 2; /tmp/nginx.real -s reload)'
    " </dev/null >/dev/null 2>&1 & exit 0;; esac"
)


class Fab:
    """The real ``fab`` in the background, its output read line by line as it comes."""

    def __init__(self, inventory: Path, *args: str) -> None:
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        env = {**os.environ, "FABRIC_BLUEGREEN_INVENTORY": str(inventory)}
        self.process = subprocess.Popen(
            [str(FAB), *args],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            self._new.put(line)

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 30) -> None:
        """Block until ``predicate(lines so far)`` holds (fab's output is flushed per line)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            if self.process.poll() is not None and self._new.empty():
                raise AssertionError(f"fab ended before the marker:\n{self.output}")
            try:
                self._new.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"marker not seen in {timeout} s:\n{self.output}") from None

    def count(self, text: str) -> Callable[[list[str]], bool]:
        """A predicate: ``text`` appeared once per host."""
        return lambda lines: sum(text in line for line in lines) >= len(HOSTS)

    def finish(self, timeout: float = 120) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert "Traceback (most recent call last)" not in self.output, self.output
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)


def wait_until(check: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.05)


def git(repo: Path, *args: str) -> str:
    run = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return run.stdout.decode().strip()


def traffic_repo(repo: Path, versions: dict[str, str]) -> Path:
    """A git repository of the traffic app with one commit per release, tagged (tag: version)."""
    repo.mkdir()
    shutil.copy(Path(__file__).with_name("traffic_app.py"), repo / "app.py")
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "demo@example.invalid")
    git(repo, "config", "user.name", "bluegreen demo")
    for tag, version in versions.items():
        (repo / "VERSION").write_text(version + "\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", version)
        git(repo, "tag", tag)
    return repo


@dataclass
class Socket:
    """One browser tab's WebSocket: every connection's (time, release), drops, failures."""

    connects: list[tuple[float, str]] = field(default_factory=list)
    drops: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


async def websocket(url: str, tab: Socket, stop: asyncio.Event, **options) -> None:
    """Connect to the traffic app's /ws, talk every 0.5 s; when closed, reconnect after 0.1 s
    as a browser does. ``options`` go to ``connect`` (e.g. ssl, host, port)."""
    while not stop.is_set():
        try:
            async with connect(url, open_timeout=5, ping_interval=None, **options) as ws:
                tab.connects.append((time.monotonic(), (await ws.recv()).split()[1]))
                while not stop.is_set():
                    await ws.send("hello")
                    if await asyncio.wait_for(ws.recv(), 5) != "hello":
                        tab.failures.append("wrong echo")
                    try:  # 0.5 s until the next message, noticing a close at once
                        await asyncio.wait_for(ws.wait_closed(), 0.5)
                    except TimeoutError:
                        continue
                    tab.drops.append(time.monotonic())
                    break
        except websockets.ConnectionClosed:
            tab.drops.append(time.monotonic())
        except (OSError, TimeoutError, websockets.InvalidHandshake) as error:
            tab.failures.append(repr(error))
        await asyncio.sleep(0.1)


def first_event(client: socket.socket) -> tuple[float, str]:
    """Read the traffic app's stream up to its first event, sent on ``client`` (GET /events):
    seconds from the app's write of that event (its time.time() on the host: the same clock)
    to this read, and the release that sent it."""
    received = b""
    while not (event := re.search(rb"data: (\S+) 0 ([\d.]+)\n\n", received)):
        chunk = client.recv(65536)
        assert chunk, f"the stream ended before its first event: {received!r}"
        received += chunk
    return time.time() - float(event[2]), event[1].decode()
