import os
import subprocess

import pytest

from bluegreen.engine.locking import stale
from bluegreen.shell.lock import LockInfo


def _lock(holder: str, pid: int) -> LockInfo:
    return LockInfo(holder, pid, "deploy", "2026-01-01T00:00:00+00:00", 2**40, "t")


@pytest.mark.parametrize(
    ("holder", "running", "expected"),
    [
        ("me@here", False, True),  # our machine, the process is gone: nobody will release it
        ("me@here", True, False),  # still running here: a real concurrent run
        ("me@there", False, False),  # another machine: we cannot know, wait for the expiry
        ("you@here", False, False),  # another user on this machine: same
    ],
)
def test_a_lock_is_stale_only_when_its_process_on_this_machine_is_gone(holder, running, expected):
    assert stale(_lock(holder, 4242), "me@here", lambda pid: running) is expected


def test_a_dead_pid_is_found_dead_and_a_live_one_alive():
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: no such process any more
    assert stale(_lock("me@here", child.pid), "me@here")
    assert not stale(_lock("me@here", os.getppid()), "me@here")
