import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bluegreen.config.inventory import Webhook
from bluegreen.local import notify
from bluegreen.output.log import Log

EVENT = notify.Event(
    event="succeeded",
    operation="deploy",
    app="shop",
    release="0123456789ab",
    hosts=("web1", "web2"),
    operator="ana@laptop",
    seconds=3.25,
)


class Receiver:
    """A local webhook receiver that records posts, or answers 500, or hangs."""

    def __init__(self, status: int = 200, hang: float = 0.0) -> None:
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append(json.loads(body))
                time.sleep(hang)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/s3cr3t-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []
    yield lambda **kw: made.append(Receiver(**kw)) or made[-1]
    for receiver in made:
        receiver.close()


def _send(hooks, event=EVENT) -> tuple[float, str]:
    out = io.StringIO()
    notifier = notify.Notifier(tuple(hooks), Log(stream=out))
    started = time.monotonic()
    notifier.send(event)
    notifier.close()
    return time.monotonic() - started, out.getvalue()


def test_each_format_gets_its_payload(receivers):
    plain, slack, discord = receivers(), receivers(), receivers()
    elapsed, output = _send(
        [
            Webhook(plain.url),
            Webhook(slack.url, format="slack"),
            Webhook(discord.url, format="discord"),
        ]
    )
    text = "✅ ana@laptop: deploy shop 0123456789ab on web1, web2 succeeded after 3.2 s"
    assert plain.posts == [
        {
            "event": "succeeded",
            "operation": "deploy",
            "app": "shop",
            "release": "0123456789ab",
            "hosts": ["web1", "web2"],
            "operator": "ana@laptop",
            "seconds": 3.25,
            "text": text,
        }
    ]
    assert slack.posts == [{"text": text}]
    assert discord.posts == [{"content": text}]
    assert output == ""


def test_a_failing_receiver_is_one_warning_without_the_secret_path(receivers):
    broken = receivers(status=500)
    _, output = _send([Webhook(broken.url)])
    assert output.strip().endswith(
        f"webhook http://127.0.0.1:{broken.server.server_port} (succeeded): HTTP 500"
    )
    assert "s3cr3t" not in output


def test_a_hanging_receiver_delays_by_at_most_the_timeout(receivers):
    hanging, fine = receivers(hang=10), receivers()
    elapsed, output = _send([Webhook(hanging.url), Webhook(fine.url)])
    assert elapsed < notify.TIMEOUT + notify.MARGIN + 0.2
    assert "ReadTimeout" in output
    assert len(fine.posts) == 1


def test_an_unreachable_receiver_is_a_warning():
    _, output = _send([Webhook("http://127.0.0.1:9/nothing-listens")])
    assert "webhook http://127.0.0.1:9 (succeeded): ConnectionError" in output
