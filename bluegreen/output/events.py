"""``--json``: the operator's log as event lines for CI and scripts, one JSON object per
line: each step (host, status, text), other lines, and a final summary of the change."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from bluegreen.output.log import Log

STATUS = {"✅": "ok", "❌": "failed", "⚠️ ": "warning", "··": "info"}


class JsonLog(Log):
    """The same calls as ``Log``; every line is a JSON object, secrets masked first."""

    def emit(self, **event: object) -> None:
        with self._lock:
            print(json.dumps(event), file=self.stream, flush=True)

    def line(self, text: str) -> None:
        self.emit(event="line", text=self.masked(text))

    def host(self, host: str, mark: str, text: str) -> None:
        status = STATUS.get(mark, mark.strip())
        self.emit(event="step", host=host, status=status, text=self.masked(text))

    def table(
        self, rows: Sequence[Sequence[str]], paint: Callable[[int, str], str] | None = None
    ) -> None:
        """Rows as objects keyed by the header row."""
        header, *data = rows
        for row in data:
            cells = {name: self.masked(cell) for name, cell in zip(header, row, strict=True)}
            self.emit(event="row", **cells)

    def summary(self, record: dict) -> None:
        self.emit(event="summary", **record)

    @property
    def colored(self) -> bool:
        return False
