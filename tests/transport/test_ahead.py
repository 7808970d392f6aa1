import threading
import time

import paramiko
import pytest

from bluegreen.transport.ahead import Ahead


class _Channel:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_channel_opened_ahead_is_taken_once():
    ahead, channel = Ahead(), _Channel()
    ahead.open("session", lambda: channel)
    ahead.open("session", lambda: pytest.fail("a pending open is not started again"))
    assert ahead.take("session", wait=5) is channel
    assert ahead.take("session", wait=5) is None  # taken: the caller opens its own


def test_a_failed_open_ahead_leaves_the_caller_to_open_its_own():
    def refused() -> _Channel:
        raise paramiko.ChannelException(2, "Connect failed")

    ahead = Ahead()
    ahead.open(4001, refused)
    assert ahead.take(4001, wait=5) is None


def test_an_open_that_does_not_end_times_out_as_a_fresh_one_would_and_is_closed_later():
    ahead, channel, release = Ahead(), _Channel(), threading.Event()

    def slow() -> _Channel:
        release.wait(5)
        return channel

    ahead.open("session", slow)
    with pytest.raises(paramiko.SSHException, match="Timeout opening channel"):
        ahead.take("session", wait=0.05)
    release.set()
    deadline = time.monotonic() + 5
    while not channel.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert channel.closed


def test_close_closes_what_nobody_took():
    ahead, channel = Ahead(), _Channel()
    ahead.open(4000, lambda: channel)
    ahead.close()
    deadline = time.monotonic() + 5
    while not channel.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert channel.closed and ahead.take(4000, wait=1) is None
