"""SIGINT/SIGTERM during a change: never stop mid-step on some hosts and not others.

While a change runs, a signal only calls back (the change sets a flag); the current step
ends on every host, then the change puts everything back as after a failure.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred(on_signal: Callable[[str], None]) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM call ``on_signal(name)`` instead of interrupting."""
    if threading.current_thread() is not threading.main_thread():  # signals go to main only
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handler(signum: int, frame: object) -> None:
        on_signal(signal.Signals(signum).name)

    for sig in SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
