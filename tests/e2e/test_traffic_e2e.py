"""A real app's traffic through real changes (issue 21): 100 WebSocket clients that reconnect
as browsers do, an SSE client, an uploader and the three HTTP load kinds, through a deploy
and a rollback in each switch mode on a sandbox host with a real systemd (``runtime:
process``).

The app (traffic_app.py, stdlib only) closes its WebSockets with 1001 and ends its streams
when stopped; the drain (``{seconds: 1, max: 4}``) waits while they are busy, up to its
maximum, then stops the old color: every client must be back, on the new release, before
bluegreen returns.
"""

import asyncio
import re
import socket
import textwrap
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.sandbox import app as sandbox_app
from bluegreen.testing import demo
from bluegreen.testing.load import KINDS, Load
from tests.e2e import support

pytestmark = pytest.mark.e2e

INDEX = 7  # sandbox7: apart from the session's hosts and the other systemd hosts (5, 6)
CLIENTS = 100
DRAIN_MAX = 4.0
RECONNECT = 3.0  # seconds from a drop to the next connection: 100 clients at once, 2 cores
UPLOAD = 10 * 1024 * 1024
VERSIONS = {"v1": "1.0.0", "v2": "2.0.0"}
# 0 failed requests of these kinds; a reload resets idle keep-alive client connections, so
# a client that never retries may see one failure per reload (docs: switch modes)
GUARDED = {"core": KINDS, "file": KINDS, "reload": ("new", "keepalive-retry")}


def write_inventory(folder: Path, repo: Path, mode: str) -> Path:
    """The traffic app's inventory for the systemd host, switching in ``mode``."""
    app = textwrap.dedent(f"""\
        app:
          name: live
          runtime: process
          repo: {repo}
          command: exec python3 app.py
          health: {{attempts: 20, interval: 0.5, timeout: 2}}
          drain: {{seconds: 1, max: {DRAIN_MAX:g}}}
        """)
    inventory = folder / f"{mode}.yml"
    hosts = sandbox_app.sandbox_hosts("fleet", [sb.host_name(INDEX)], f"switch_mode: {mode}")
    inventory.write_text(app + hosts)
    return inventory


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """(folder, repo, host): one systemd host serving v1 of the traffic app (reload mode);
    removed at the end."""
    folder = tmp_path_factory.mktemp("traffic")
    repo = support.traffic_repo(folder / "repo", VERSIONS)
    inventory = write_inventory(folder, repo, "reload")
    with support.systemd_host(INDEX) as host:
        for step in (["bootstrap"], ["deploy", "--ref", "v1"]):
            result = demo.fab(inventory, *step)
            assert result.returncode == 0, result.output
        yield folder, repo, host


@dataclass
class Traffic:
    """What the non-HTTP-load clients saw during one change."""

    sockets: list[support.Socket]
    # (seconds from the app's write of the first event to its read here, release)
    streams: list[tuple[float, str]] = field(default_factory=list)
    uploads: list[int] = field(default_factory=list)  # status of each upload
    problems: list[str] = field(default_factory=list)


def _stream(address: str, traffic: Traffic, stop: threading.Event) -> None:
    """An SSE client (close-delimited stream): the first event's delay (from the app's write),
    then read to the end; reconnect when it ends."""
    while not stop.is_set():
        with socket.create_connection((address, 4000), timeout=5) as client:
            # close: when the app ends the stream, nginx ends the connection (keep-alive
            # would end only the chunked body, as an EventSource notices)
            client.sendall(b"GET /events HTTP/1.1\r\nHost: live\r\nConnection: close\r\n\r\n")
            try:
                traffic.streams.append(support.first_event(client))
            except AssertionError as error:
                traffic.problems.append(str(error))
                return
            while not stop.is_set() and client.recv(65536):
                pass


def _uploads(address: str, traffic: Traffic, stop: threading.Event) -> None:
    body = b"u" * UPLOAD
    while not stop.is_set():
        request = urllib.request.Request(f"http://{address}:4000/upload", data=body)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                assert reply.read() == str(UPLOAD).encode()
                traffic.uploads.append(reply.status)
        except OSError as error:
            traffic.problems.append(f"upload: {error!r}")
            traffic.uploads.append(0)


def under_traffic(inventory: Path, host, *args: str) -> tuple[demo.FabResult, float, Load, Traffic]:
    """Run ``fab *args`` while every kind of client talks to the host; stop them after.
    Returns fab's result, when it returned (monotonic), the load and what the others saw."""
    traffic = Traffic([support.Socket() for _ in range(CLIENTS)])
    stop, ws_stop = threading.Event(), None
    loop = asyncio.new_event_loop()

    async def sockets() -> None:
        nonlocal ws_stop
        ws_stop = asyncio.Event()
        url = f"ws://{host.address}:4000/ws"
        await asyncio.gather(*(support.websocket(url, tab, ws_stop) for tab in traffic.sockets))

    threads = [
        threading.Thread(target=loop.run_until_complete, args=(sockets(),)),
        threading.Thread(target=_stream, args=(host.address, traffic, stop)),
        threading.Thread(target=_uploads, args=(host.address, traffic, stop)),
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(tab.connects for tab in traffic.sockets):
        time.sleep(0.1)
    assert all(tab.connects for tab in traffic.sockets), "every WebSocket client connected"
    with Load([(host.address, 4000)], max_seconds=120) as load:
        result = demo.fab(inventory, *args)
        finished = time.monotonic()
        time.sleep(1)  # every kind keeps sending a little after the change
    stop.set()
    loop.call_soon_threadsafe(ws_stop.set)
    for thread in threads:
        thread.join(timeout=40)
    loop.close()
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{result.stdout}{load.report()}")
    return result, finished, load, traffic


def assert_carried(
    result: demo.FabResult,
    finished: float,
    load: Load,
    traffic: Traffic,
    old: str,
    new: str,
    guarded: tuple[str, ...] = KINDS,
    everyone: bool = False,
) -> None:
    """0 failed HTTP requests and uploads; each WebSocket dropped at most once, back within
    RECONNECT, and on the new release when bluegreen returned; the stream likewise. Dropped:
    those on the old release, or with ``everyone`` all of them (a reload's old workers end
    those on the color that stays at worker_shutdown_timeout)."""
    assert result.returncode == 0, result.output
    for kind in KINDS:
        stats = load.stats(kind)
        assert stats.sent > 20 and (stats.failed == 0 or kind not in guarded), load.report()
    drained = re.search(r"drain: waited ([\d.]+) s", result.stdout)
    assert drained and float(drained[1]) <= DRAIN_MAX + 0.5, result.stdout
    started = finished - result.seconds
    gaps = []
    for tab in traffic.sockets:
        assert not tab.failures, tab.failures
        during = [t for t in tab.drops if started <= t <= finished]
        # on the old release when the change began: dropped once, back on the new one
        assert len(during) == (everyone or _state(tab, started) == old), (tab.connects, tab.drops)
        assert _state(tab, finished) in (new, "dropped"), f"still on {old} when fab returned"
        if during:
            back, release = min((t, r) for t, r in tab.connects if t > during[0])
            assert release == new, f"a WebSocket reconnected to {release}"
            gaps.append(back - during[0])
    assert gaps and max(gaps) < RECONNECT, gaps
    assert not traffic.problems, traffic.problems
    assert traffic.uploads and set(traffic.uploads) == {200}, traffic.uploads
    # every stream's first event at once after the app wrote it, also a reconnect's
    firsts = [first for first, _ in traffic.streams]
    assert max(firsts) < 0.1, f"first events after {firsts} s"
    assert traffic.streams[-1][1] == new, traffic.streams
    print(
        f"WebSockets: {len(gaps)} dropped once each, back in {max(gaps) * 1000:.0f} ms at most;"
        f" {drained[0]}; streams {len(firsts)} (first event ≤ {max(firsts) * 1000:.1f} ms);"
        f" uploads of {UPLOAD >> 20} MB: {len(traffic.uploads)}, all 200"
    )


def _state(tab: support.Socket, when: float) -> str:
    """The release a WebSocket client was connected to at ``when``, or "dropped"."""
    events = [(t, r) for t, r in tab.connects] + [(t, "dropped") for t in tab.drops]
    return max(e for e in events if e[0] <= when)[1]


@pytest.mark.parametrize("mode", ["reload", "file", "core"])
def test_a_deploy_and_a_rollback_hand_every_long_lived_connection_over(fleet, mode):
    """In file and core mode nginx keeps each connection on the color it opened to; in
    reload mode its old workers keep them: in every mode the drain lets them go."""
    folder, repo, host = fleet
    inventory = write_inventory(folder, repo, mode)
    if mode != "reload":  # the site changes mode with a reload: not part of what is measured
        assert demo.fab(inventory, "deploy", "--ref", "v1").returncode == 0
    deploy = under_traffic(inventory, host, "deploy", "--ref", "v2")
    assert_carried(*deploy, "1.0.0", "2.0.0", GUARDED[mode])
    assert_carried(*under_traffic(inventory, host, "rollback"), "2.0.0", "1.0.0", GUARDED[mode])


@pytest.mark.parametrize("mode", ["core", "reload"])
def test_a_split_keeps_every_connection_and_its_promote_hands_them_over(fleet, mode):
    """Half of the requests to the color the last change left stopped: nothing is dropped;
    the promote then drains the other like a deploy. Core mode first, as the rollbacks left
    the host; then reload mode, after a deploy of the stopped release that changes the mode
    (every reload hands both colors' connections to old workers, which keep them until
    worker_shutdown_timeout or until the app closes them)."""
    folder, repo, host = fleet
    inventory = write_inventory(folder, repo, mode)
    if mode == "reload":  # the site changes mode with a reload: not part of what is measured
        tag = {v: t for t, v in VERSIONS.items()}[_other_version(host)]
        assert demo.fab(inventory, "deploy", "--ref", tag).returncode == 0
    asked = "curl -s -o /dev/null -D - http://127.0.0.1:4000/version"
    live = re.search(r"(?im)^x-bluegreen-color: (\w+)", sb.run_in(host, asked).stdout)[1]
    other = "green" if live == "blue" else "blue"
    old, new = _other_version(host, live=True), _other_version(host)
    result, finished, load, traffic = under_traffic(inventory, host, "split", f"--{other}", "50")
    assert result.returncode == 0, result.output
    for kind in GUARDED[mode]:
        assert load.stats(kind).failed == 0, load.report()
    assert {"1.0.0", "2.0.0"} <= set(load.stats().bodies), load.report()
    assert not any(tab.drops or tab.failures for tab in traffic.sockets)
    # reload mode: the promote's reload hands the WebSockets on the new release to old
    # workers too; the drain waits for those workers, which end them at worker_shutdown_timeout
    promote = under_traffic(inventory, host, "promote")
    assert_carried(*promote, old, new, GUARDED[mode], everyone=mode == "reload")


def _other_version(host, live: bool = False) -> str:
    """The version the public port serves (``live``), or the other one."""
    with urllib.request.urlopen(f"http://{host.address}:4000/version", timeout=5) as reply:
        served = reply.read().decode()
    return served if live else next(v for v in VERSIONS.values() if v != served)


def test_the_release_headers_reach_only_bluegreen(fleet):
    """From outside the host no X-Bluegreen-* header; bluegreen's status still tells."""
    folder, repo, host = fleet
    with urllib.request.urlopen(f"http://{host.address}:4000/version", timeout=5) as reply:
        assert not [name for name in reply.headers if name.lower().startswith("x-bluegreen")]
    status = demo.fab(write_inventory(folder, repo, "core"), "status")
    release = support.git(repo, "rev-parse", "--short=12", "v2")
    assert status.returncode == 0 and release in status.stdout, status.output
