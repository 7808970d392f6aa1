"""The delaying relay, on loopback: the delay it adds, byte order, the end of a stream."""

import socket
import threading
import time

from bluegreen.testing.relay import Relay, round_trip

DELAY = 0.05


def _server(handle) -> tuple[socket.socket, tuple[str, int]]:
    """A loopback server running ``handle(conn)`` for each connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()


def _echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _banner(conn: socket.socket) -> None:
    with conn:
        conn.sendall(b"SSH-2.0-test\r\n")
        conn.recv(1)


def test_a_round_trip_costs_twice_the_delay():
    listener, address = _server(_echo)
    with listener, Relay(address, DELAY) as relay, socket.create_connection(relay.address) as c:
        c.sendall(b"x")
        assert c.recv(1) == b"x"  # connected through
        times = []
        for _ in range(5):
            started = time.monotonic()
            c.sendall(b"y")
            assert c.recv(1) == b"y"
            times.append(time.monotonic() - started)
    assert 2 * DELAY <= sorted(times)[2] < 2 * DELAY + 0.15  # shared CPU: generous above


def test_round_trip_measures_connect_to_first_byte():
    listener, address = _server(_banner)
    with listener, Relay(address, DELAY) as relay:
        measured = round_trip(relay, samples=3)
    assert 2 * DELAY <= measured < 2 * DELAY + 0.15  # shared CPU: generous above


def test_bytes_arrive_in_order_and_the_end_of_the_stream_passes_on():
    listener, address = _server(_echo)
    sent = bytes(range(256)) * 4096  # 1 MiB in many chunks
    got = bytearray()
    with listener, Relay(address, 0.01) as relay, socket.create_connection(relay.address) as c:
        reader = threading.Thread(target=lambda: got.extend(_read_all(c)))
        reader.start()
        for i in range(0, len(sent), 1000):
            c.sendall(sent[i : i + 1000])
        c.shutdown(socket.SHUT_WR)
        reader.join(timeout=10)
    assert bytes(got) == sent


def _read_all(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def test_stop_closes_the_listener_and_open_connections():
    listener, address = _server(_echo)
    with listener:
        relay = Relay(address, 0.01).__enter__()
        client = socket.create_connection(relay.address)
        client.sendall(b"x")
        assert client.recv(1) == b"x"
        relay.stop()
        client.settimeout(5)
        assert client.recv(1) == b""  # closed by the relay
        client.close()
        try:
            socket.create_connection(relay.address, timeout=1).close()
            refused = False
        except OSError:
            refused = True
    assert refused
