import io

import pytest

from bluegreen.transport.http import get, read_reply


def reply_to(data: bytes):
    return read_reply(io.BytesIO(data).read)


def test_parse_http_reads_status_headers_and_body():
    reply = reply_to(b"HTTP/1.1 200 OK\r\nX-Bluegreen-Color: green\r\nContent-Length: 2\r\n\r\nv2")
    assert reply.status == 200
    assert reply.headers["x-bluegreen-color"] == "green"
    assert reply.body == "v2"


def test_parse_http_rejects_garbage():
    with pytest.raises(ConnectionError, match="not an HTTP response"):
        reply_to(b"SSH-2.0-OpenSSH\r\n")


def test_no_answer_at_all_is_not_an_http_response():
    with pytest.raises(ConnectionError, match="not an HTTP response"):
        reply_to(b"")


def test_a_chunked_body_is_joined_without_its_chunk_sizes():
    reply = reply_to(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nok \r\n7\r\nhealthy\r\n0\r\n\r\n"
    )
    assert reply.body == "ok healthy"


def test_repeated_headers_keep_every_value():
    reply = reply_to(
        b"HTTP/1.1 503 Service Unavailable\r\nCache-Control: no-cache\r\n"
        b"Cache-Control: no-store\r\nContent-Length: 0\r\n\r\n"
    )
    assert reply.status == 503
    assert reply.headers["cache-control"] == "no-cache, no-store"


def test_a_body_without_a_length_ends_with_the_connection():
    reply = reply_to(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
    assert reply.body == "all of it"


def test_a_chunked_body_cut_short_is_a_broken_response():
    with pytest.raises(ConnectionError, match="broken HTTP response"):
        reply_to(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nonly")


class Channel(io.BytesIO):
    """An SSH channel to a port that answers ``reply``; what was sent is kept in ``sent``."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(reply)
        self.sent = b""

    def settimeout(self, timeout: float) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def recv(self, size: int) -> bytes:
        return self.read(size)


@pytest.mark.parametrize(
    ("name", "host"), [(None, "localhost"), ("shop.example.test", "shop.example.test")]
)
def test_a_plain_http_probe_asks_for_the_name_it_is_given_or_localhost(name, host):
    channel = Channel(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert get(channel, "/health", 2.0, None, name).status == 204
    assert (
        channel.sent
        == (
            f"GET /health HTTP/1.0\r\nHost: {host}\r\nUser-Agent: bluegreen\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
    )
