"""The app of the traffic e2e test (runtime: process, stdlib only: the sandbox host's python3
has no packages): what real web apps serve, on $HOST:$PORT.

  GET /health, /version       200 (the version from VERSION)
  GET /ws                     a WebSocket (RFC 6455): "release <version>" first, then an echo
  GET /events                 Server-Sent Events, close-delimited (no length, no chunking),
                              "data: <version> <n> <time sent>" every 0.2 s (the time: the
                              host's clock, time.time(), just before the write)
  GET /events?chunked         the same stream, chunked (HTTP/1.1)
  GET /headers?set=N          answers the size of the Cookie header it got; with set=N, a
                              Set-Cookie header of N bytes
  GET /slow?seconds=N         answers after N seconds
  POST /upload                reads the body, answers its size

On SIGTERM it closes every WebSocket with 1001 ("going away") and every stream, then exits:
what an app does when bluegreen stops its old color after the drain.
"""

import asyncio
import base64
import hashlib
import os
import signal
import struct
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

VERSION = (Path(__file__).resolve().parent / "VERSION").read_text().strip()
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPEN: dict[asyncio.StreamWriter, bool] = {}  # open WebSockets (True) and streams: closed on SIGTERM


def frame(opcode: int, payload: bytes) -> bytes:
    """A server frame (unmasked, FIN set)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(size)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def websocket(headers: dict[str, str], reader, writer) -> None:
    accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    writer.write(frame(1, f"release {VERSION}".encode()))
    OPEN[writer] = True
    try:
        while True:
            opcode, data = await read_frame(reader)
            if opcode == 8:  # close: answer it
                writer.write(frame(8, data[:2]))
                break
            if opcode == 9:  # ping
                writer.write(frame(10, data))
            elif opcode in (1, 2):
                writer.write(frame(opcode, data))
            await writer.drain()
    finally:
        OPEN.pop(writer, None)


async def events(writer, chunked: bool) -> None:
    if chunked:
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    else:
        head = b"HTTP/1.0 200 OK\r\n"
    writer.write(head + b"Content-Type: text/event-stream\r\n\r\n")
    OPEN[writer] = False
    try:
        for n in range(10_000):
            event = f"data: {VERSION} {n} {time.time():.6f}\n\n".encode()
            writer.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
            await writer.drain()
            await asyncio.sleep(0.2)
    finally:
        OPEN.pop(writer, None)


def answer(writer, status: str, body: bytes, extra: str = "") -> None:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    writer.write(head.encode() + body)


async def serve(reader, writer) -> None:
    try:
        while True:  # keep-alive: one request after the other
            line = await reader.readline()
            if not line:
                return
            method, target, _ = line.decode().split(" ", 2)
            path, query = urlsplit(target).path, parse_qs(urlsplit(target).query, True)
            headers = {}
            while (header := await reader.readline()) not in (b"\r\n", b""):
                name, value = header.decode().split(":", 1)
                headers[name.strip().lower()] = value.strip()
            if path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                return await websocket(headers, reader, writer)
            if path == "/events":
                return await events(writer, "chunked" in query)
            if method == "POST":
                left = int(headers.get("content-length", "0"))
                size = left
                while left:
                    left -= len(await reader.read(min(left, 1 << 20)))
                answer(writer, "200 OK", str(size).encode())
            elif path == "/headers":
                size = int(query.get("set", ["0"])[0])
                extra = f"Set-Cookie: big={'c' * (size - 4)}\r\n" if size else ""
                answer(writer, "200 OK", str(len(headers.get("cookie", ""))).encode(), extra)
            elif path == "/slow":
                await asyncio.sleep(float(query["seconds"][0]))
                answer(writer, "200 OK", b"slept")
            elif path in ("/health", "/version", "/"):
                answer(writer, "200 OK", VERSION.encode())
            else:
                answer(writer, "404 Not Found", b"")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(
        serve, os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8080"))
    )
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    print(f"listening, version {VERSION}", flush=True)
    await stopping.wait()
    server.close()
    for writer, is_websocket in list(OPEN.items()):  # a WebSocket gets 1001 "going away"
        if is_websocket and not writer.is_closing():
            writer.write(frame(8, struct.pack("!H", 1001)))
        writer.close()
    await asyncio.sleep(0.2)


asyncio.run(main())
