"""Operator output: one line per step, prefixed by host, safe to call from parallel threads."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TextIO

# ESC sequences (CSI, OSC, single-character escapes) and every other control character but
# tab: text from hosts (log tails, command output) must not move the cursor, retitle the
# terminal or hide what came before it
_CONTROLS = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """Text from a host as the operator's terminal may show it: control sequences removed,
    line breaks kept."""
    return _CONTROLS.sub("", text)


class Log:
    """Lines for the operator; secrets (``app.secrets``, env_file values) are masked wherever
    they show up; plain ``env`` settings are not."""

    def __init__(
        self, stream: TextIO | None = None, width: int = 10, secrets: Iterable[str] = ()
    ) -> None:
        self.stream = stream or sys.stdout
        self.width = width
        self.secrets = sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True)
        self._lock = threading.RLock()  # a signal handler may print while the main thread does

    def masked(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def line(self, text: str) -> None:
        text = self.masked(text)
        with self._lock:
            print(text, file=self.stream, flush=True)

    def summary(self, record: dict) -> None:
        """A change's closing record; the text log has said it all in its table already."""

    @property
    def colored(self) -> bool:
        """Terminal colors only for a terminal, and never with NO_COLOR set (no-color.org)."""
        return self.stream.isatty() and not os.environ.get("NO_COLOR")

    def table(
        self, rows: Sequence[Sequence[str]], paint: Callable[[int, str], str] | None = None
    ) -> None:
        """Columns aligned to their widest cell; the first row is the header.

        ``paint(column, padded cell)`` may decorate data cells (e.g. terminal colors)
        after alignment, so escape codes do not shift the columns.
        """
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for number, row in enumerate(rows):
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
            if paint and number:
                cells = [paint(i, cell) for i, cell in enumerate(cells)]
            self.line("  ".join(cells).rstrip())

    def host(self, host: str, mark: str, text: str) -> None:
        self.line(f"{host:<{self.width}} {mark} {printable(text)}")

    def ok(self, host: str, text: str) -> None:
        self.host(host, "✅", text)

    def fail(self, host: str, text: str) -> None:
        self.host(host, "❌", text)

    def step(self, host: str, text: str) -> None:
        self.host(host, "··", text)

    @contextlib.contextmanager
    def ticking(self, host: str, what: str, every: float = 10.0) -> Iterator[None]:
        """A long step (upload, build) says it is still running, with its elapsed time."""
        started = time.monotonic()
        done = threading.Event()

        def tick() -> None:
            while not done.wait(every):
                self.step(host, f"{what}: running for {time.monotonic() - started:.0f} s")

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()  # no tick after the step's own result line

    def warn(self, host: str, text: str) -> None:
        self.host(host, "⚠️ ", text)
