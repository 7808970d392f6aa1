"""HTTP(S) over an SSH channel: a GET to a port on the host with no exec and no curl.

``http.client`` reads the answer (chunked or not, repeated headers), fed from the channel, or
from OpenSSL through memory buffers for HTTPS: a channel is not a socket ``ssl`` can wrap."""

from __future__ import annotations

import dataclasses
import io
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from http import client

import paramiko

from bluegreen.config import certificates

LIMIT = 65536  # bytes of body read: a health page or an error page, never a download


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header's values joined by ", "
    body: str
    certificate: bytes | None = None  # HTTPS: the leaf the host served (DER)


def get(
    channel: paramiko.Channel,
    path: str,
    timeout: float,
    tls: certificates.Client | None,
    name: str | None = None,
) -> HttpReply:
    """GET ``path`` on an open ``channel`` (closed after), asking for ``name`` (the Host:
    nginx picks the server by it; None: localhost); with ``tls``: HTTPS with its name (SNI
    and Host), the certificate verified against that name and ``tls``'s trust."""
    request = request_text(path, tls.server_name if tls else name or "localhost")
    with channel:
        channel.settimeout(timeout)
        if tls is not None:
            return _https(channel, request, tls)
        channel.sendall(request)
        return read_reply(channel.recv)


def request_text(path: str, name: str) -> bytes:
    """The request a probe sends: one GET for ``name``, closed after the answer."""
    return (
        f"GET {path} HTTP/1.0\r\nHost: {name}\r\nUser-Agent: bluegreen\r\nConnection: close\r\n\r\n"
    ).encode()


def read_reply(recv: Callable[[int], bytes]) -> HttpReply:
    """The response ``recv`` yields until it returns b''; ConnectionError when it is not one."""
    response = client.HTTPResponse(_Stream(recv))
    try:
        response.begin()
        body = response.read(LIMIT)
    except client.BadStatusLine as error:
        raise ConnectionError(f"not an HTTP response: {error.line.strip()[:60]!r}") from error
    except client.HTTPException as error:
        raise ConnectionError(f"broken HTTP response: {error!r}") from error
    headers: dict[str, list[str]] = {}
    for name, value in response.getheaders():
        headers.setdefault(name.lower(), []).append(value)
    joined = {name: ", ".join(values) for name, values in headers.items()}
    return HttpReply(response.status, joined, body.decode("utf-8", "replace"))


class _Stream(io.RawIOBase):
    """``recv`` as the socket ``http.client`` reads from (it only asks for a file)."""

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self.recv = recv

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        data = self.recv(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self)


def _https(channel: paramiko.Channel, request: bytes, tls: certificates.Client) -> HttpReply:
    """TLS over an SSH channel (not a socket): OpenSSL through memory buffers."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = tls.context.wrap_bio(incoming, outgoing, server_hostname=tls.server_name)

    def step(action: Callable[[], object]) -> object:
        while True:
            try:
                result = action()
            except ssl.SSLWantReadError:
                channel.sendall(outgoing.read())
                chunk = channel.recv(65536)
                if not chunk:
                    incoming.write_eof()
                else:
                    incoming.write(chunk)
                continue
            except ssl.SSLZeroReturnError:
                return b""
            channel.sendall(outgoing.read())
            return result

    step(conn.do_handshake)
    der = conn.getpeercert(binary_form=True)
    served = der and certificates.fingerprint(der)
    if tls.fingerprint and served != tls.fingerprint:
        raise ssl.SSLError(f"served certificate {served}, expected {tls.fingerprint}")
    step(lambda: conn.write(request))

    def recv(size: int) -> bytes:
        try:
            return step(lambda: conn.read(size))  # type: ignore[return-value]
        except ssl.SSLEOFError:  # a peer closing without close_notify ends the answer too
            return b""

    return dataclasses.replace(read_reply(recv), certificate=der)
