"""Webhooks told when a change starts and how it ended: Slack, Discord or plain JSON.

A webhook never fails a change and delays it by at most ``TIMEOUT``: posts run in
background threads, errors become one warning line, and webhook URLs (which carry
secrets for Slack and Discord) are never printed beyond their host.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from bluegreen.config.inventory import Webhook
from bluegreen.output.log import Log

TIMEOUT = 2.0  # per request; close() waits at most this plus MARGIN, so timeouts get reported
MARGIN = 0.5
MARKS = {"started": "🚀", "succeeded": "✅", "failed": "❌", "reverted": "↩️"}


@dataclass(frozen=True)
class Event:
    event: str  # started | succeeded | failed | reverted
    operation: str  # deploy | rollback | switch
    app: str
    release: str
    hosts: tuple[str, ...]
    operator: str
    seconds: float

    def text(self) -> str:
        return (
            f"{MARKS.get(self.event, '')} {self.operator}: {self.operation} {self.app}"
            f" {self.release} on {', '.join(self.hosts)} {self.event}"
            + (f" after {self.seconds:.1f} s" if self.event != "started" else "")
        )


def payload(hook: Webhook, event: Event) -> dict[str, object]:
    """What each kind of receiver expects."""
    if hook.format == "slack":
        return {"text": event.text()}
    if hook.format == "discord":
        return {"content": event.text()}
    return {**asdict(event), "hosts": list(event.hosts), "text": event.text()}


def where(url: str) -> str:
    """The part of a webhook URL that is safe to print."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Notifier:
    def __init__(self, hooks: tuple[Webhook, ...], log: Log) -> None:
        self.hooks = hooks
        self.log = log
        self._threads: list[threading.Thread] = []

    def send(self, event: Event) -> None:
        """Post to every webhook in the background; returns at once."""
        for hook in self.hooks:
            thread = threading.Thread(target=self._post, args=(hook, event), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _post(self, hook: Webhook, event: Event) -> None:
        import requests  # here: a change without webhooks does not pay for loading it

        try:
            reply = requests.post(hook.url, json=payload(hook, event), timeout=TIMEOUT)
            problem = f"HTTP {reply.status_code}" if reply.status_code >= 400 else None
        except requests.RequestException as error:
            problem = type(error).__name__
        if problem:
            self.log.warn("notify", f"webhook {where(hook.url)} ({event.event}): {problem}")

    def close(self) -> None:
        """Wait for posts still running, at most TIMEOUT + MARGIN in all."""
        deadline = time.monotonic() + TIMEOUT + MARGIN
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
