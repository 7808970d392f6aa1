"""What passes through the proxy (issue 21, docs/guides/proxy.md), through a real deployed site
on a sandbox host with a real systemd (``runtime: process``), under HTTP load: SSE streams of
both framings, a 200 MB upload, 32 kB cookies both ways, a 90 s request, a request over the
timeout, and WebSockets over HTTPS through a deploy and a rollback.

Two apps of the traffic app (traffic_app.py) on one host, core mode (what ``auto`` picks):
``live`` on the public port with what ``bluegreen init`` writes plus ``proxy: {timeout:
120}``; ``edge`` by name on 443 (``tls: files``, a test CA made by trustme) with
``proxy: {timeout: 2}``. The 90 s request to ``live`` starts once both are deployed and runs
while the other checks do (nothing here reloads nginx after that: ``edge``'s deploy and
rollback switch without a reload); the last test collects it.
"""

import asyncio
import http.client
import socket
import ssl
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

from bluegreen import sandbox as sb
from bluegreen.sandbox import app as sandbox_app
from bluegreen.testing import demo
from bluegreen.testing.load import KINDS, Load
from tests.e2e import support

pytestmark = pytest.mark.e2e

INDEX = 8  # sandbox8: apart from the session's hosts and the other systemd hosts (5-7)
VERSIONS = {"v1": "1.0.0", "v2": "2.0.0"}
DOMAIN = "edge.bluegreen.test"
LONG, LONG_TIMEOUT = 90, 120  # a 90 s request to an app whose timeout is 120 s
SHORT_TIMEOUT = 2  # edge's: a slower request gets 504 after it
FIRST_EVENT = 0.1  # seconds from the app's write of an event to the client's read of it
UPLOAD_MB = 200
MAX_BODY = 256 << 20  # app.proxy.max_body's default
BIG_HEADER = 32 * 1024
SOCKETS = 20  # WebSocket clients over HTTPS through edge's deploy and rollback


def app_inventory(folder: Path, repo: Path, name: str, extra: str, top: str = "") -> Path:
    """The traffic app as ``name`` on the systemd host, core mode; ``extra`` goes into
    ``app:``, ``top`` beside it."""
    app = textwrap.dedent(f"""\
        app:
          name: {name}
          runtime: process
          repo: {repo}
          command: exec python3 app.py
          health: {{attempts: 20, interval: 0.5, timeout: 2}}
          drain: {{seconds: 0.5, max: 2}}
        """)
    path = folder / f"{name}.yml"
    hosts = sandbox_app.sandbox_hosts("fleet", [sb.host_name(INDEX)], "switch_mode: core")
    path.write_text(app + textwrap.indent(extra, "  ") + top + hosts)
    return path


def edge_extra(folder: Path, ca: trustme.CA) -> str:
    """edge's settings: its domain, its certificate (from ``ca``), its timeout."""
    cert = ca.issue_cert(DOMAIN)
    chain, key = folder / "edge.crt", folder / "edge.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key.write_bytes(cert.private_key_pem.bytes())
    key.chmod(0o600)
    return textwrap.dedent(f"""\
        proxy: {{timeout: {SHORT_TIMEOUT}}}
        domains: [{DOMAIN}]
        tls: {{files: {{certificate: {chain}, key: {key}}}}}
        """)


class Timed(threading.Thread):
    """One request in the background: its status and how long it took."""

    def __init__(self, connect, path: str) -> None:
        super().__init__(daemon=True)
        self.connect, self.path = connect, path
        self.status, self.seconds, self.error = 0, 0.0, None

    def run(self) -> None:
        started = time.monotonic()
        try:
            conn = self.connect()
            conn.request("GET", self.path)
            answer = conn.getresponse()
            answer.read()
            self.status = answer.status
        except OSError as error:
            self.error = repr(error)
        self.seconds = time.monotonic() - started


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """live and edge at v1 on one systemd host; the 90 s request to live under way."""
    folder = tmp_path_factory.mktemp("proxy")
    repo = support.traffic_repo(folder / "repo", VERSIONS)
    ca = trustme.CA()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    live = app_inventory(folder, repo, "live", f"proxy: {{timeout: {LONG_TIMEOUT}}}\n")
    ports = "ports: {public: 5000, blue: 5001, green: 5002}\n"
    edge = app_inventory(folder, repo, "edge", edge_extra(folder, ca), ports)
    with support.systemd_host(INDEX) as host:
        for inventory, step in ((live, "bootstrap"), (live, "deploy"), (edge, "deploy")):
            result = demo.fab(inventory, step, *(["--ref", "v1"] if step == "deploy" else []))
            assert result.returncode == 0, result.output
        site = {"host": host, "live": live, "edge": edge, "context": context}
        site["long"] = Timed(lambda: plain(host, LONG_TIMEOUT + 10), f"/slow?seconds={LONG}")
        site["long"].start()
        yield site  # the last test collects the long request; removing the host ends it


def plain(host, timeout: float = 10) -> http.client.HTTPConnection:
    """A connection to live's public port."""
    return http.client.HTTPConnection(host.address, 4000, timeout=timeout)


def secure(site, timeout: float = 10) -> http.client.HTTPSConnection:
    """A connection to edge: HTTPS to the host's address, asking for its domain (SNI, Host,
    the certificate checked against the test CA)."""
    conn = http.client.HTTPSConnection(DOMAIN, 443, timeout=timeout, context=site["context"])
    address = site["host"].address
    conn._create_connection = lambda _where, *a, **kw: socket.create_connection(
        (address, 443), *a, **kw
    )
    return conn


@contextmanager
def load_on(site) -> Iterator[Load]:
    """HTTP load on live's public port while the block runs, for a second at least."""
    started = time.monotonic()
    with Load([(site["host"].address, 4000)], max_seconds=120) as load:
        yield load
        time.sleep(max(0.0, started + 1 - time.monotonic()))


def no_failures(load: Load) -> None:
    print(load.report())
    for kind in KINDS:
        stats = load.stats(kind)
        assert stats.sent > 20 and stats.failed == 0, load.report()


def first_event(host, query: str) -> float:
    """Seconds from the app's write of a stream's first event to its read through the public
    port."""
    with socket.create_connection((host.address, 4000), timeout=5) as client:
        client.sendall(f"GET /events{query} HTTP/1.1\r\nHost: live\r\n\r\n".encode())
        return support.first_event(client)[0]


def test_a_stream_first_event_reaches_the_client_at_once_whatever_its_framing(site):
    """SSE close-delimited (HTTP/1.0-style, no length) and chunked: each of 10 streams' first
    event within 100 ms of the app writing it."""
    with load_on(site) as load:
        delays = {
            framing: [first_event(site["host"], query) for _ in range(10)]
            for framing, query in (("close-delimited", ""), ("chunked", "?chunked"))
        }
    print({framing: f"{max(d) * 1000:.1f} ms max" for framing, d in delays.items()})
    for framing, seen in delays.items():
        assert max(seen) < FIRST_EVENT and min(seen) >= 0, (framing, seen)
    no_failures(load)


def _body(megabytes: int) -> Iterator[bytes]:
    """A request body made as it is sent, 1 MB at a time (never held whole)."""
    block = b"u" * (1 << 20)
    for _ in range(megabytes):
        yield block


def test_a_200_mb_upload_and_32_kb_cookies_both_ways_pass_with_the_defaults(site):
    """The upload streamed from a generator (never held whole); 413 only above max_body."""
    host = site["host"]
    with load_on(site) as load:
        conn = plain(host, timeout=60)
        started = time.monotonic()
        size = UPLOAD_MB << 20
        conn.request("POST", "/upload", body=_body(UPLOAD_MB), headers={"Content-Length": size})
        answer = conn.getresponse()
        uploaded = (answer.status, answer.read(), time.monotonic() - started)
        conn = plain(host)
        conn.request("GET", "/headers", headers={"Cookie": "c=" + "x" * (BIG_HEADER - 2)})
        answer = conn.getresponse()
        cookie = answer.status, answer.read()
        conn.request("GET", f"/headers?set={BIG_HEADER}")
        answer = conn.getresponse()
        set_cookie = answer.status, len(answer.getheader("Set-Cookie", "")), answer.read()
        conn = plain(host)  # a body over the limit: 413 as soon as its length is known
        conn.putrequest("POST", "/upload")
        conn.putheader("Content-Length", str(MAX_BODY + 1))
        conn.endheaders()
        over = conn.getresponse().status
    print(f"{UPLOAD_MB} MB upload: {uploaded[2]:.1f} s, {UPLOAD_MB / uploaded[2]:.0f} MB/s")
    assert uploaded[:2] == (200, str(size).encode()), uploaded
    assert cookie == (200, str(BIG_HEADER).encode())  # the app got the whole cookie
    assert set_cookie == (200, BIG_HEADER, b"0")
    assert over == 413
    no_failures(load)


def test_a_websocket_over_https_echoes(site):
    tab, stop = support.Socket(), asyncio.Event()

    async def talk() -> None:
        task = asyncio.create_task(wss(site, tab, stop))
        while len(tab.connects) < 1 and not tab.failures:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.2)  # two echoes or three
        stop.set()
        await task

    asyncio.run(talk())
    assert tab.connects and tab.connects[0][1] == "1.0.0" and not tab.failures, tab
    assert not tab.drops


def wss(site, tab: support.Socket, stop: asyncio.Event):
    """A browser tab's WebSocket to edge over HTTPS (the host's address, edge's domain)."""
    options = {"ssl": site["context"], "host": site["host"].address, "port": 443, "proxy": None}
    return support.websocket(f"wss://{DOMAIN}/ws", tab, stop, **options)


def _under_sockets(site, *args: str) -> tuple[demo.FabResult, float, Load, list[support.Socket]]:
    """``fab ARGS`` for edge under HTTPS load, with SOCKETS WebSocket clients over HTTPS."""
    tabs, ready = [support.Socket() for _ in range(SOCKETS)], threading.Event()
    stop: asyncio.Event | None = None
    loop = asyncio.new_event_loop()

    async def sockets() -> None:
        nonlocal stop
        stop = asyncio.Event()
        ready.set()
        await asyncio.gather(*(wss(site, tab, stop) for tab in tabs))

    thread = threading.Thread(target=loop.run_until_complete, args=(sockets(),))
    thread.start()
    ready.wait(5)
    support.wait_until(lambda: all(tab.connects for tab in tabs), what="every WebSocket open")
    target = [(site["host"].address, 443)]
    load = Load(target, max_seconds=120, tls=site["context"], server_name=DOMAIN, pause=0.01)
    with load:
        result = demo.fab(site["edge"], *args)
        finished = time.monotonic()
        time.sleep(1)
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=20)
    loop.close()
    print(f"\nfab {' '.join(args)}: {result.seconds:.1f} s\n{result.stdout}")
    return result, finished, load, tabs


@pytest.mark.parametrize(
    ("change", "new"), [(("deploy", "--ref", "v2"), "2.0.0"), (("rollback",), "1.0.0")]
)
def test_websockets_over_https_move_to_the_new_release(site, change, new):
    """Through edge's deploy and its rollback: 0 failed HTTPS requests; every WebSocket
    dropped once (its color stopped after the drain) and back on the new release."""
    result, finished, load, tabs = _under_sockets(site, *change)
    assert result.returncode == 0, result.output
    no_failures(load)
    for tab in tabs:
        assert not tab.failures, tab.failures
        assert len(tab.drops) == 1, tab
        # dropped before bluegreen returned (its old color stopped), back on the new release
        assert tab.drops[0] <= finished and tab.connects[-1][1] == new, tab


def test_a_request_over_the_timeout_gets_504_at_the_timeout(site):
    request = Timed(lambda: secure(site, timeout=30), f"/slow?seconds={SHORT_TIMEOUT * 3}")
    request.run()
    print(f"504 after {request.seconds:.2f} s (timeout {SHORT_TIMEOUT} s)")
    assert request.status == 504, request.error
    assert SHORT_TIMEOUT <= request.seconds < SHORT_TIMEOUT + 1


def test_a_90_s_request_within_the_timeout_gets_its_answer(site):
    """Started when both apps were up, through everything above (no nginx reload)."""
    long = site["long"]
    long.join(timeout=LONG_TIMEOUT)
    print(f"{LONG} s request: {long.status} after {long.seconds:.1f} s")
    assert long.status == 200, long.error
    assert LONG <= long.seconds < LONG + 5
