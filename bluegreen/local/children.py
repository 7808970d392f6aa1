"""The local programs a change starts (git, docker build and save, skopeo, hooks).

Each one runs in a session of its own, so the terminal's Ctrl-C (sent to its whole
foreground process group) reaches bluegreen only, which lets the current step end on
every host before putting things back; otherwise a ``docker save`` or a hook would die
under it at the first Ctrl-C. ``stop_all`` ends every one still running with its own
children (a second Ctrl-C), as does a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence

from bluegreen.config import child_env

_running: set[subprocess.Popen] = set()
_guard = threading.Lock()


@contextlib.contextmanager
def started(args: str | Sequence[str], **options: object) -> Iterator[subprocess.Popen]:
    """``subprocess.Popen`` in its own session with the children's environment (unless
    ``env`` is given), known to ``stop_all`` until it ends."""
    options.setdefault("env", child_env.for_children())
    process = subprocess.Popen(args, start_new_session=True, **options)  # type: ignore[call-overload]
    with _guard:
        _running.add(process)
    try:
        with process:
            yield process
    finally:
        with _guard:
            _running.discard(process)


def run(
    args: str | Sequence[str],
    *,
    input: str | bytes | None = None,  # noqa: A002 - subprocess.run's name
    timeout: float | None = None,
    check: bool = False,
    capture_output: bool = False,
    **options: object,
) -> subprocess.CompletedProcess:
    """``subprocess.run`` for a program of this change (see ``started``); a timeout ends its
    whole process group, not only the program itself."""
    if capture_output:
        options["stdout"] = options["stderr"] = subprocess.PIPE
    if input is not None:
        options["stdin"] = subprocess.PIPE
    with started(args, **options) as process:
        try:
            out, err = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(process)
            process.communicate()
            raise
    done = subprocess.CompletedProcess(args, process.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def stop(process: subprocess.Popen) -> None:
    """End ``process`` and everything it started (its session's process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)


def stop_all() -> int:
    """End every local program still running (and its children); how many there were."""
    with _guard:
        running = [process for process in _running if process.poll() is None]
    for process in running:
        stop(process)
    return len(running)
