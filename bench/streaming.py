"""What the proxy's buffering default costs and buys (docs/guides/proxy.md), measured.

    .venv/bin/python bench/streaming.py [--clients 100] [--megabytes 10] [--rate 2]
    .venv/bin/python bench/bench.py --only streaming

One private nginx on loopback (its own prefix in a temp dir) serves two core-mode sites
rendered from our real templates in front of one stdlib app: ``unbuffered`` (the default,
``app.proxy.buffering: false``) and ``buffered`` (``true``). Two rows per site:

- the first event of a Server-Sent Events stream, chunked and close-delimited (no length, no
  chunking), from the request to its first ``data:`` line, median and max of 10;
- slow clients: ``--clients`` downloads of ``--megabytes`` MB at once, each client reading
  about ``--rate`` MB/s; how long the app was busy writing each response (median, max) and
  how many app connections were busy at once at the peak.

Prints a Markdown table; writes bench/results/streaming.json.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import report  # noqa: E402  (bench/report.py)
import sites  # noqa: E402  (bench/sites.py)

from bluegreen import render  # noqa: E402
from bluegreen.config.inventory import App, Inventory, Ports, Proxy  # noqa: E402
from bluegreen.facts.traffic import Traffic  # noqa: E402

EVENTS, GAP = 3, 0.2  # a stream: three events 0.2 s apart
SAMPLES = 10
CHUNK = 64 * 1024


class Busy:
    """How long the app spent writing each download, and how many at once at the peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.seconds: list[float] = []

    @contextlib.contextmanager
    def writing(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        started = time.monotonic()
        try:
            yield
        finally:
            with self.lock:
                self.now -= 1
                self.seconds.append(time.monotonic() - started)


class StreamingApp(BaseHTTPRequestHandler):
    """/chunked and /close: a stream in either framing; /big?N: N bytes, timed by ``busy``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as app servers do: an event leaves at once
    busy = Busy()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        chunked = self.path == "/chunked"
        if self.path in ("/chunked", "/close"):
            framing = b"Transfer-Encoding: chunked\r\n" if chunked else b""
            version = b"HTTP/1.1" if chunked else b"HTTP/1.0"
            self.wfile.write(version + b" 200 OK\r\nContent-Type: text/event-stream\r\n")
            self.wfile.write(framing + b"\r\n")
            for n in range(EVENTS):
                event = f"data: {n}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
                self.wfile.flush()
                time.sleep(GAP)
            self.wfile.write(b"0\r\n\r\n" if chunked else b"")
            self.close_connection = not chunked
        elif self.path.startswith("/big?"):
            size = int(self.path[5:])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = b"b" * CHUNK
            with self.busy.writing():
                for _ in range(size // CHUNK):
                    self.wfile.write(block)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def proxy(root: Path, backend: int):
    """A private nginx with the ``unbuffered`` and ``buffered`` sites; yields name -> port."""
    texts, ports = [], {}
    for name, buffering in (("unbuffered", False), ("buffered", True)):
        ports[name] = free_port()
        app = App(name=name, proxy=Proxy(buffering=buffering))
        where = Ports(public=ports[name], blue=backend, green=free_port())
        inv = Inventory(path=root / "x.yml", app=app, ports=where, hosts={}, groups={})
        texts.append(sites.relocated(render.site(render.environment(inv), inv, "core"), root))
        link = Traffic("blue", "bench").link_name()
        (root / "bluegreen" / f"{name}.states" / link).mkdir(parents=True)
        (root / "bluegreen" / f"{name}.current").symlink_to(f"{name}.states/{link}")
    conf = root / "nginx.conf"
    conf.write_text(
        f"pid {root}/nginx.pid;\nerror_log {root}/error.log;\n"
        "events { worker_connections 1024; }\nhttp {\naccess_log off;\n"
        + "\n".join(texts)
        + "\n}\n"
    )
    nginx = ["nginx", "-p", str(root), "-c", str(conf)]
    subprocess.run([*nginx, "-g", "daemon on; master_process off;"], check=True, timeout=10)
    try:
        yield ports
    finally:
        subprocess.run([*nginx, "-s", "stop"], timeout=10)


def first_event(port: int, path: str) -> float:
    """Seconds from sending the request to the first ``data:`` line arriving."""
    with socket.create_connection((sites.PUBLIC, port), timeout=10) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        sent, received = time.monotonic(), b""
        while b"data:" not in received:
            chunk = client.recv(65536)
            if not chunk:
                raise RuntimeError(f"port {port}{path}: no event in {received!r}")
            received += chunk
        first = time.monotonic() - sent
        while client.recv(65536):
            pass
    return first


def slow_download(port: int, size: int, rate: float, failures: list[str]) -> None:
    """Read ``size`` bytes at about ``rate`` bytes/s, as a client on a slow link."""
    with socket.create_connection((sites.PUBLIC, port), timeout=60) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
        client.sendall(
            f"GET /big?{size} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
        )
        started, got = time.monotonic(), 0
        while chunk := client.recv(CHUNK):
            got += len(chunk)
            ahead = got / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    if got < size:
        failures.append(f"got {got} of {size} bytes")


def slow_clients(port: int, clients: int, size: int, rate: float) -> dict[str, float]:
    """``clients`` slow downloads at once: the app's busy seconds per download and peak."""
    StreamingApp.busy = Busy()
    failures: list[str] = []
    threads = [
        threading.Thread(target=slow_download, args=(port, size, rate, failures))
        for _ in range(clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    busy = StreamingApp.busy
    if failures or len(busy.seconds) != clients:
        raise RuntimeError(f"downloads failed: {failures[:3]}, {len(busy.seconds)} answered")
    return {
        "download_seconds": time.monotonic() - started,
        "app_busy_median_seconds": statistics.median(busy.seconds),
        "app_busy_max_seconds": max(busy.seconds),
        "app_connections_busy_peak": busy.peak,
    }


def first_events(port: int) -> dict[str, float]:
    """Median and max ms to the first event of each framing, ``SAMPLES`` each."""
    row = {}
    for framing in ("chunked", "close"):
        times = [1000 * first_event(port, f"/{framing}") for _ in range(SAMPLES)]
        row[f"first_{framing}_median_ms"] = statistics.median(times)
        row[f"first_{framing}_max_ms"] = max(times)
    return row


def measure(clients: int, megabytes: int, rate: float) -> dict[str, object]:
    app = ThreadingHTTPServer(("127.0.0.1", 0), StreamingApp)
    app.daemon_threads = True
    threading.Thread(target=app.serve_forever, daemon=True).start()
    rows: dict[str, dict[str, float]] = {}
    temp = tempfile.TemporaryDirectory(prefix="bgs", dir="/tmp")
    try:
        with temp as root, proxy(Path(root), app.server_address[1]) as ports:
            for name, port in ports.items():
                rows[name] = first_events(port)
                rows[name].update(slow_clients(port, clients, megabytes << 20, rate * (1 << 20)))
                print(f"{name}: {rows[name]}", flush=True)
    finally:
        app.shutdown()
    return {"clients": clients, "megabytes": megabytes, "rate_mb_s": rate, "rows": rows}


def table(results: dict) -> str:
    """The rows as the guide's Markdown table."""
    download = (
        f"app busy per {results['megabytes']} MB download ({results['clients']} clients"
        f" at {results['rate_mb_s']:g} MB/s)"
    )
    lines = [
        f"| site | SSE first event, chunked | close-delimited | {download} | app connections"
        " busy at once |",
        "|---|---|---|---|---|",
    ]
    for name, r in results["rows"].items():
        lines.append(
            f"| {name} | {r['first_chunked_median_ms']:.1f} ms (max"
            f" {r['first_chunked_max_ms']:.1f}) | {r['first_close_median_ms']:.1f} ms (max"
            f" {r['first_close_max_ms']:.1f}) | {r['app_busy_median_seconds']:.2f} s median,"
            f" {r['app_busy_max_seconds']:.2f} s max | {r['app_connections_busy_peak']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100, help="slow clients at once")
    parser.add_argument("--megabytes", type=int, default=10, help="size of each download")
    parser.add_argument("--rate", type=float, default=2.0, help="MB/s each client reads")
    args = parser.parse_args(argv)
    results = measure(args.clients, args.megabytes, args.rate)
    report.publish(results, "streaming.json", table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
