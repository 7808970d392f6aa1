import socket
import threading
import time

import paramiko
import pytest

from bluegreen.config.inventory import Host
from bluegreen.transport.ssh import (
    AcceptNewPolicy,
    Ahead,
    Remote,
    _connect_error,
    _no_sudo,
    _transient,
    parse_http,
)


def test_parse_http_reads_status_headers_and_body():
    reply = parse_http(
        b"HTTP/1.1 200 OK\r\nX-Bluegreen-Color: green\r\nContent-Length: 2\r\n\r\nv2"
    )
    assert reply.status == 200
    assert reply.headers["x-bluegreen-color"] == "green"
    assert reply.body == "v2"


def test_parse_http_rejects_garbage():
    with pytest.raises(ConnectionError, match="not an HTTP response"):
        parse_http(b"SSH-2.0-OpenSSH\r\n")


def test_accept_new_records_unknown_keys(tmp_path):
    known = tmp_path / "ssh" / "known_hosts"
    key = paramiko.ECDSAKey.generate()
    client = paramiko.SSHClient()
    AcceptNewPolicy(known).missing_host_key(client, "10.0.0.5", key)
    assert known.read_text() == f"10.0.0.5 {key.get_name()} {key.get_base64()}\n"
    assert client.get_host_keys().lookup("10.0.0.5")[key.get_name()] == key


def test_connect_errors_are_one_clear_line():
    host = Host(name="web1", address="203.0.113.10", user="deploy", connect_timeout=3)
    old, new = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
    changed = _connect_error(host, paramiko.BadHostKeyException("203.0.113.10", new, old))
    assert "host key CHANGED for deploy@203.0.113.10:22" in changed
    assert old.fingerprint in changed and new.fingerprint in changed
    assert "timed out after 3 s" in _connect_error(host, TimeoutError())
    assert "refused" in _connect_error(
        host, paramiko.ssh_exception.NoValidConnectionsError({("203.0.113.10", 22): OSError()})
    )
    assert "cannot resolve" in _connect_error(host, socket.gaierror(-2, "Name unknown"))
    assert "authentication failed" in _connect_error(host, paramiko.AuthenticationException())
    strict = paramiko.SSHException("Server '203.0.113.10' not found in known_hosts")
    assert "unknown host key" in _connect_error(host, strict)


def test_strict_hosts_reject_unknown_keys(tmp_path):
    host = Host(name="a", address="127.0.0.1", host_keys="strict", known_hosts=tmp_path / "k")
    policy = Remote(host).connection.client._policy
    assert isinstance(policy, paramiko.RejectPolicy)


def test_only_handshake_resets_are_retried():
    assert _transient(paramiko.SSHException("Error reading SSH protocol banner"))
    assert _transient(ConnectionResetError())
    assert not _transient(paramiko.AuthenticationException())
    assert not _transient(TimeoutError())
    assert not _transient(
        paramiko.ssh_exception.NoValidConnectionsError({("10.0.0.1", 22): OSError()})
    )


def test_a_login_without_passwordless_sudo_is_named_with_the_fix():
    assert _no_sudo("sudo: a password is required\n") == "a password is required"
    assert _no_sudo("bob is not in the sudoers file.\nsudo: 1 incorrect password attempt") == ""
    assert _no_sudo("error: build failed\n") == ""


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
