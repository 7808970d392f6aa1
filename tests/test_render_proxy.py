"""The proxy defaults of the rendered site (docs/guides/proxy.md): exact lines, then a real
nginx on loopback carrying what real apps send (WebSocket, stream, upload, big headers)."""

import dataclasses
import http.client
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bluegreen import render
from bluegreen.config.certificates import HTTPS_PORT, Pair
from bluegreen.config.inventory import App, Inventory, Ports, Proxy, Tls
from bluegreen.facts.traffic import Traffic

BIG = 32 * 1024  # the header size every default must carry
# The public server's address here (a host's listens on every address; on 127.0.0.1 the site
# has its own server for bluegreen's checks, which alone adds the release headers)
PUBLIC = "127.0.0.2"


def _inventory(tmp_path: Path, name: str = "shop", **ports: int) -> Inventory:
    return Inventory(
        path=tmp_path / "hosts.yml", app=App(name=name), ports=Ports(**ports), hosts={}, groups={}
    )


def test_the_site_passes_websockets_and_keeps_plain_requests_keep_alive(tmp_path):
    inv = _inventory(tmp_path)
    text = render.site(render.environment(inv), inv, "core")
    upgrade = 'map $http_upgrade $bluegreen_shop_connection {\n    default upgrade;\n    "" "";\n}'
    assert upgrade in text
    assert (
        "        proxy_http_version 1.1;\n"
        "        proxy_set_header Upgrade $http_upgrade;\n"
        "        proxy_set_header Connection $bluegreen_shop_connection;\n"
    ) in text


@pytest.mark.parametrize("mode", ["reload", "file", "core"])
def test_the_default_proxy_settings_are_rendered_in_every_mode(tmp_path, mode):
    inv = _inventory(tmp_path)
    text = render.site(render.environment(inv), inv, mode)
    assert "    client_max_body_size 256m;\n    large_client_header_buffers 4 64k;\n" in text
    public, loopback = text.split("\nserver {\n")[1:]  # loopback: the same, with the headers
    directives = [line.strip() for line in public.splitlines() if line.startswith("        proxy_")]
    assert loopback.count("\n        proxy_") == len(directives)
    assert directives[1:] == [
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $bluegreen_shop_connection;",
        "proxy_read_timeout 60s;",
        "proxy_send_timeout 60s;",
        "proxy_buffer_size 64k;",
        "proxy_buffers 8 64k;",
        "proxy_busy_buffers_size 128k;",
        "proxy_buffering off;",
        "proxy_set_header Host $host;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
    ]


def test_the_app_proxy_settings_reach_the_site(tmp_path):
    inv = _inventory(tmp_path)
    proxy = Proxy(max_body="2g", timeout=120, buffering=True)
    inv = dataclasses.replace(inv, app=dataclasses.replace(inv.app, proxy=proxy))
    text = render.site(render.environment(inv), inv, "core")
    assert "    client_max_body_size 2g;\n" in text
    assert "        proxy_read_timeout 120s;\n        proxy_send_timeout 120s;\n" in text
    assert "        proxy_buffering on;\n" in text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _App(BaseHTTPRequestHandler):
    """What real apps do: read cookies and uploads, send big headers, stream close-delimited."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: bytes, **headers: str) -> None:
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/peer":  # which connection of nginx's asked, and how
            peer = f"{self.client_address[1]} {self.headers.get('Connection', '-')}"
            self._answer(peer.encode())
        elif self.path == "/cookie":
            self._answer(str(len(self.headers.get("Cookie", ""))).encode())
        elif self.path == "/set-cookie":
            self._answer(b"ok", Set_Cookie="big=" + "c" * BIG)
        elif self.path == "/slow":  # a report export: the answer after 1.5 s
            time.sleep(1.5)
            self._answer(b"report")
        elif self.path == "/stream":  # HTTP/1.0 style: no length, no chunking, ends on close
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            self.wfile.write(b"data: first\n\n")
            self.wfile.flush()
            time.sleep(1.0)
            self.wfile.write(b"data: last\n\n")
            self.close_connection = True
        else:
            self._answer(b"app " + self.path.encode())

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        received = 0
        while received < length:
            received += len(self.rfile.read(min(65536, length - received)))
        self._answer(str(received).encode())


def _echo(connection) -> None:
    for message in connection:
        connection.send(message)


SHOP = "shop.example.test"
FINGERPRINTED = "app.0123456789ab.js"


def _tls_files(tmp_path: Path, app: str) -> Tls:
    """A certificate for ``SHOP`` from a test CA, where the site reads it (below
    ``tmp_path``); the CA's PEM is left in ``tmp_path/ca.pem`` for the client."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    leaf = ca.issue_cert(SHOP)
    chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
    pair = Pair(chain, leaf.private_key_pem.bytes(), "0123456789ab")
    for path, data in zip(pair.paths(app), (pair.chain, pair.key), strict=True):
        local = Path(path.replace("/etc/nginx/bluegreen/", f"{tmp_path}/"))
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
    return Tls(mode="files", pair=pair)


@pytest.fixture
def nginx_proxy(tmp_path):
    """One nginx with seven apps' core-mode sites (their maps must not collide): ``web`` in
    front of the HTTP app above, ``ws`` in front of a websockets echo server and ``wss`` in
    front of it over HTTPS (by name); ``public`` (release headers public), ``short``
    (timeout 1 s), ``long`` (2 s) and ``shelf`` (app.assets) in front of the HTTP app too.
    Yields the ports by name."""
    ws_server = pytest.importorskip("websockets.sync.server")
    if shutil.which("nginx") is None:
        pytest.skip("needs the nginx binary")
    web = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    echo = ws_server.serve(_echo, "127.0.0.1", 0)
    servers = {"web": web.server_address[1], "ws": echo.socket.getsockname()[1]}
    servers |= {name: servers["web"] for name in ("public", "short", "long", "shelf")}
    for server in (web, echo):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    proxies = {
        "web": Proxy(),
        "ws": Proxy(),
        "public": Proxy(release_headers="public"),
        "short": Proxy(timeout=1),
        "long": Proxy(timeout=2),
    }
    servers["wss"] = servers["ws"]  # the echo server over HTTPS, by name
    tls = _tls_files(tmp_path, "wss")
    config, public = [], {}
    for name, blue in servers.items():
        public[name] = _free_port()
        inv = _inventory(tmp_path, name, public=public[name], blue=blue, green=_free_port())
        app = dataclasses.replace(inv.app, proxy=proxies.get(name, Proxy()))
        if name == "wss":
            app = dataclasses.replace(app, domains=(SHOP,), tls=tls)
        if name == "shelf":  # app.assets: the store's union holds one fingerprinted file
            app = dataclasses.replace(app, assets="/app/static")
            (tmp_path / "union" / "static").mkdir(parents=True)
            (tmp_path / "union" / "static" / FINGERPRINTED).write_text("old")
            (tmp_path / "shelf.assets").symlink_to(tmp_path / "union")
        text = render.site(render.environment(inv), dataclasses.replace(inv, app=app), "core")
        listen = rf"\g<1>{PUBLIC}:{public[name]}"
        text = re.sub(r"^( *listen )\d+(?=[ ;])", listen, text, flags=re.M)
        text = text.replace(f"listen 127.0.0.1:{HTTPS_PORT} ", f"listen 127.0.0.1:{public[name]} ")
        config.append(
            text.replace("/etc/nginx/bluegreen/", f"{tmp_path}/").replace(
                "/var/log/nginx/", f"{tmp_path}/"
            )
        )
        link = Traffic("blue", "r1").link_name()
        (tmp_path / f"{name}.states" / link).mkdir(parents=True)
        (tmp_path / f"{name}.current").symlink_to(f"{name}.states/{link}")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\naccess_log off;\n"
        + "\n".join(config)
        + "\n}\n"
    )
    nginx = ["nginx", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)]
    tested = subprocess.run([*nginx, "-t", "-q"], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stderr
    subprocess.run([*nginx, "-g", "daemon on; master_process off;"], check=True, timeout=10)
    try:
        yield public
    finally:
        subprocess.run([*nginx, "-s", "stop"], timeout=10)
        web.shutdown()
        echo.shutdown()


def _request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    address: str = PUBLIC,
    **headers: str,
):
    """One request to ``address`` (the public server, or 127.0.0.1: bluegreen's checks'):
    (status, headers, body)."""
    connection = http.client.HTTPConnection(address, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.headers, reply.read()
    finally:
        connection.close()


def test_a_real_nginx_carries_big_headers_and_uploads(nginx_proxy):
    port = nginx_proxy["web"]
    assert _request(port, "GET", "/cookie", Cookie="c" * BIG)[::2] == (200, str(BIG).encode())
    status, headers, _ = _request(port, "GET", "/set-cookie")
    assert (status, len(headers["Set-Cookie"])) == (200, BIG + 4)
    upload = b"u" * (6 * 1024 * 1024)
    assert _request(port, "POST", "/upload", upload)[::2] == (200, str(len(upload)).encode())
    too_big = str(256 * 1024 * 1024 + 1)  # refused from its length alone, nothing sent
    assert _request(port, "POST", "/upload", b"", **{"Content-Length": too_big})[0] == 413


def test_a_real_nginx_keeps_app_connections_alive_for_plain_requests(nginx_proxy):
    answers = {_request(nginx_proxy["web"], "GET", "/peer")[2] for _ in range(5)}
    assert len(answers) == 1 and answers.pop().endswith(b" -"), "one upstream connection"


def test_a_real_nginx_passes_a_close_delimited_stream_at_once(nginx_proxy):
    with socket.create_connection((PUBLIC, nginx_proxy["web"]), timeout=10) as client:
        client.sendall(b"GET /stream HTTP/1.1\r\nHost: shop\r\n\r\n")
        sent, received = time.monotonic(), b""
        while b"data: first" not in received:
            chunk = client.recv(65536)
            assert chunk, received
            received += chunk
        first = time.monotonic() - sent
    assert first < 0.1, f"first event after {first:.3f} s"


def test_a_real_nginx_passes_a_websocket_both_ways(nginx_proxy):
    client = pytest.importorskip("websockets.sync.client")
    with client.connect(f"ws://{PUBLIC}:{nginx_proxy['ws']}/", open_timeout=30) as ws:
        for text in ("hello", "x" * 100_000):
            ws.send(text)
            assert ws.recv(timeout=30) == text


def test_a_real_nginx_tells_the_release_only_to_the_host_itself(nginx_proxy):
    """By default the release headers go to 127.0.0.1 (bluegreen's checks over SSH) only, by
    name too (``wss``: its domain); ``release_headers: public`` sends them to every client."""
    release = ("x-bluegreen-color", "x-bluegreen-release")
    mine = _request(nginx_proxy["web"], "GET", "/peer", address="127.0.0.1")[1]
    assert [mine[name] for name in release] == ["blue", "r1"]
    other = _request(nginx_proxy["web"], "GET", "/peer")[1]
    assert [other[name] for name in release] == [None, None]
    public = _request(nginx_proxy["public"], "GET", "/peer")[1]
    assert [public[name] for name in release] == ["blue", "r1"]


def test_bluegreen_checks_see_the_release_over_https_by_name(nginx_proxy, tmp_path):
    """What verification asks over SSH: 127.0.0.1, the app's name (SNI and Host), its CA."""
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    request = f"GET / HTTP/1.1\r\nHost: {SHOP}\r\nConnection: close\r\n\r\n".encode()
    for address, expected in (("127.0.0.1", "r1"), (PUBLIC, None)):
        with (
            socket.create_connection((address, nginx_proxy["wss"]), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=SHOP) as client,
        ):
            client.sendall(request)
            reply = http.client.HTTPResponse(client)  # the echo server's refusal of a GET
            reply.begin()
            assert reply.getheader("X-Bluegreen-Release") == expected, address


def test_a_real_nginx_lets_a_request_take_as_long_as_the_timeout(nginx_proxy):
    """The same 1.5 s request: 504 after 1 s with ``timeout: 1``, 200 with ``timeout: 2``."""
    started = time.monotonic()
    assert _request(nginx_proxy["short"], "GET", "/slow")[0] == 504
    assert 0.9 < time.monotonic() - started < 1.4, "504 at the timeout, not a hang"
    assert _request(nginx_proxy["long"], "GET", "/slow")[::2] == (200, b"report")


def test_a_real_nginx_passes_a_websocket_over_https(nginx_proxy, tmp_path):
    client = pytest.importorskip("websockets.sync.client")
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    url = f"wss://{PUBLIC}:{nginx_proxy['wss']}/"
    with client.connect(url, ssl=context, server_hostname=SHOP, open_timeout=30) as ws:
        for text in ("hello", "x" * 100_000):
            ws.send(text)
            assert ws.recv(timeout=30) == text


def test_a_real_nginx_serves_stored_assets_and_asks_the_app_for_the_rest(nginx_proxy):
    port = nginx_proxy["shelf"]
    status, headers, body = _request(port, "GET", f"/static/{FINGERPRINTED}")
    assert (status, body) == (200, b"old")
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["X-Bluegreen-Release"] is None  # nginx answered, no color did
    status, headers, body = _request(
        port, "GET", "/static/app.fedcba987654.js", address="127.0.0.1"
    )
    assert (status, body) == (200, b"app /static/app.fedcba987654.js")  # the color answered
    assert (headers["X-Bluegreen-Release"], headers["Cache-Control"]) == ("r1", None)
    assert _request(port, "GET", "/other")[2] == b"app /other"
