"""The example app for ``runtime: process``: a stdlib HTTP server on $HOST:$PORT.

Its controls are files of the release (so each test release is one commit): UNHEALTHY
(the health path answers 500), CRASH_AFTER (seconds after start the process exits 1).
"""

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = (HERE / "VERSION").read_text().strip()
HEALTHY = not (HERE / "UNHEALTHY").exists()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream connections use

    def do_GET(self) -> None:
        if self.path == "/health":
            status, body = (200, b"ok") if HEALTHY else (500, b"unhealthy")
        elif self.path == "/version":
            status, body = 200, VERSION.encode()
        else:
            status, body = 200, f"bluegreen example app, version {VERSION}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet: one line per request is noise
        pass


def crash_later(seconds: float) -> None:
    time.sleep(seconds)
    print(f"crashing as asked (CRASH_AFTER={seconds:g})", flush=True)
    os._exit(1)


if (HERE / "CRASH_AFTER").exists():
    delay = float((HERE / "CRASH_AFTER").read_text())
    threading.Thread(target=crash_later, args=(delay,), daemon=True).start()
address = (os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8080")))
server = ThreadingHTTPServer(address, Handler)
print(f"listening on {address[0]}:{address[1]}, version {VERSION}", flush=True)
server.serve_forever()
