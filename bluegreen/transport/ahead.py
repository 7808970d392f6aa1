"""Channels opened before they are needed: an SSH channel's open costs a round trip, which
overlaps the round trip of the command or request running meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import paramiko


class Ahead:
    """Channels opened before they are needed, each in a thread of its own: opening an SSH
    channel costs a round trip, which overlaps the round trip of the command or request
    running meanwhile. Keys name what a channel is for (a session, a port)."""

    def __init__(self) -> None:
        self.pending: dict[object, Future[paramiko.Channel]] = {}
        self.lock = threading.Lock()

    def open(self, key: object, opener: Callable[[], paramiko.Channel]) -> None:
        """Start opening a channel for ``key`` (once: an open already pending stays)."""
        with self.lock:
            if key in self.pending:
                return
            future: Future[paramiko.Channel] = Future()
            self.pending[key] = future

        def fill() -> None:
            try:
                future.set_result(opener())
            except BaseException as error:  # given to whoever takes it (or dropped)
                future.set_exception(error)

        threading.Thread(target=fill, daemon=True).start()

    def take(self, key: object, wait: float) -> paramiko.Channel | None:
        """The channel opened for ``key``; None when none was asked for or its open failed
        (the caller opens one itself and meets the real error). Not open after ``wait``
        seconds: the timeout a fresh open would have had."""
        with self.lock:
            future = self.pending.pop(key, None)
        if future is None:
            return None
        try:
            return future.result(timeout=wait)
        except FutureTimeout as error:
            future.add_done_callback(_close_channel)
            raise paramiko.SSHException("Timeout opening channel.") from error
        except Exception:
            return None

    def close(self) -> None:
        """Close what nobody took (now, or when its open ends)."""
        with self.lock:
            left, self.pending = list(self.pending.values()), {}
        for future in left:
            future.add_done_callback(_close_channel)


def _close_channel(future: Future[paramiko.Channel]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()
