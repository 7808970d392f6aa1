"""A TCP relay on the operator's machine that delays every byte by a fixed time each way.

This machine's kernel has no ``netem`` qdisc, so real-world latency between the operator
and the servers is made in user space: the benchmark's and the tests' SSH (and HTTP)
connections go to a relay on loopback, which forwards each chunk to the real host
``delay`` seconds after it arrived, in order, in both directions::

    with Relay(("10.210.0.11", 22), delay=0.05) as relay:
        ...connect to relay.address...

A round trip through it costs 2 × ``delay`` more than without. Bounded: at most
``MAX_CONNECTIONS`` at once (more are refused), each direction holds at most
``MAX_QUEUED`` chunks in flight (the reader waits), and leaving the ``with`` block closes
the listener and every connection. ``relayed_fleet`` puts a whole sandbox fleet behind
relays and writes the inventory and known_hosts that reach it through them, the host
keys still checked strictly (``[127.0.0.1]:PORT`` entries with each host's own key).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

MAX_CONNECTIONS = 200
MAX_QUEUED = 256  # chunks in flight per direction
CHUNK = 65536
LOOPBACK = "127.0.0.1"


class Relay:
    """Forwards connections on ``LOOPBACK:<port>`` to ``target``, each way ``delay`` s late."""

    def __init__(self, target: tuple[str, int], delay: float, bind: str = LOOPBACK) -> None:
        self.target = target
        self.delay = delay
        self._listener = socket.create_server((bind, 0))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Relay:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.address[1]

    def stop(self) -> None:
        """Close the listener and every relayed connection (their threads then end)."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                full = len(self._sockets) >= 2 * MAX_CONNECTIONS
            if full:
                _close(client)
                continue
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        """Connect to the target once the delay passed (the SYN travels too), then pump both
        ways. The client's own connect returns at once (the kernel accepts on loopback): a
        new connection costs half a round trip less than on a real path."""
        time.sleep(self.delay)
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            _close(client)
            return
        server.settimeout(None)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._stopped.is_set():
                _close(client)
                _close(server)
                return
            self._sockets |= {client, server}
        pair = _Pair(client, server, self._forget)
        for source, sink in ((client, server), (server, client)):
            _Direction(source, sink, self.delay, pair).start()

    def _forget(self, sockets: tuple[socket.socket, ...]) -> None:
        with self._lock:
            self._sockets.difference_update(sockets)


class _Pair:
    """Both sockets of one relayed connection: closed when both directions have ended."""

    def __init__(self, client: socket.socket, server: socket.socket, forget) -> None:
        self.sockets = (client, server)
        self.forget = forget
        self.open_directions = 2
        self.closed = False
        self.lock = threading.Lock()

    def ended(self) -> None:
        with self.lock:
            self.open_directions -= 1
            last = self.open_directions == 0
        if last:
            self.closed = True
            self.forget(self.sockets)
            for sock in self.sockets:
                _close(sock)


class _Direction:
    """One direction of a connection: a reader stamps each chunk, a writer sends it when due
    (FIFO, so the byte order holds)."""

    def __init__(
        self, source: socket.socket, sink: socket.socket, delay: float, pair: _Pair
    ) -> None:
        self.source, self.sink, self.delay, self.pair = source, sink, delay, pair
        self.chunks: queue.Queue[tuple[float, bytes]] = queue.Queue(MAX_QUEUED)

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._write, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.source.recv(CHUNK)
            except OSError:
                data = b""
            item = (time.monotonic() + self.delay, data)
            while not self.pair.closed:  # a writer that gave up takes nothing more
                with contextlib.suppress(queue.Full):
                    self.chunks.put(item, timeout=1)
                    break
            if not data or self.pair.closed:
                return

    def _write(self) -> None:
        while True:
            due, data = self.chunks.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if not data:  # the source ended: pass the end on, once it is due
                with contextlib.suppress(OSError):
                    self.sink.shutdown(socket.SHUT_WR)
                break
            try:
                self.sink.sendall(data)
            except OSError:
                with contextlib.suppress(OSError):
                    self.source.shutdown(socket.SHUT_RD)  # the reader then ends too
                break
        self.pair.ended()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def round_trip(relay: Relay, samples: int = 5) -> float:
    """Median seconds from connecting through ``relay`` to the target's first byte, for a
    target that speaks first (sshd's banner): the connect and the banner each cross the
    relay once, so this is 2 × delay plus the real path."""
    times = []
    for _ in range(samples):
        started = time.monotonic()
        with socket.create_connection(relay.address, timeout=10) as sock:
            sock.recv(1)
        times.append(time.monotonic() - started)
    return sorted(times)[len(times) // 2]


@contextlib.contextmanager
def relayed_fleet(
    addresses: Sequence[str],
    delay: float,
    ports: Sequence[int] = (22,),
) -> Iterator[dict[tuple[str, int], Relay]]:
    """A relay per host address and port: ``(address, port) -> Relay``; all stop at the end."""
    with contextlib.ExitStack() as stack:
        yield {
            (address, port): stack.enter_context(Relay((address, port), delay))
            for address in addresses
            for port in ports
        }


def relayed_inventory(
    inventory: Path, target: Path, relays: dict[tuple[str, int], Relay], known_hosts: Path
) -> Path:
    """Write ``inventory`` again at ``target`` with each host's SSH (port 22) going through
    its relay, and a known_hosts beside it holding each host's own key under the relay's
    ``[127.0.0.1]:PORT`` name: strict host-key checking still checks the real host."""
    data = yaml.safe_load(inventory.read_text())
    keys = {}
    for line in known_hosts.read_text().splitlines():
        name, _, key = line.partition(" ")
        keys[name] = key
    relayed_keys = target.with_name(f"{target.stem}.known_hosts")
    lines = []
    for host in data["hosts"].values():
        relay = relays[(host["address"], host.get("port", 22))]
        lines.append(f"[{relay.address[0]}]:{relay.port} {keys[host['address']]}\n")
        host["address"], host["port"] = relay.address[0], relay.port
    relayed_keys.write_text("".join(lines))
    data["defaults"]["known_hosts"] = str(relayed_keys)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target
