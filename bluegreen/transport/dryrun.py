"""``--dry-run``: the exact per-host plan of changes, made on no host."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from bluegreen.config.inventory import Host
from bluegreen.transport.ssh import Remote


class DryRemote(Remote):
    """A dry run's session: it connects and reads facts, and records every change instead."""

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.plan: list[str] = []

    def run(self, command: str, *, stdin: str | None = None, readonly: bool = False, **kw) -> str:
        if readonly:
            return super().run(command, stdin=stdin, readonly=True, **kw)
        self.plan.append(command)
        if stdin is not None:
            self.plan.append(f"# with {len(stdin.splitlines())} line(s) on stdin (not shown)")
        return ""

    def put(self, data: bytes, remote_path: str) -> str:
        self.plan.append(f"# upload {len(data)} bytes over SFTP to ~/{remote_path}")
        return f"~/{remote_path}"

    def send(self, command: str, source: BinaryIO, progress: Callable[[int], None], **kw) -> str:
        self.plan.append(f"# stream the image on stdin into: {command}")
        return ""
