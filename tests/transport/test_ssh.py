import socket

import paramiko

from bluegreen.config.inventory import Host
from bluegreen.transport.ssh import (
    AcceptNewPolicy,
    Remote,
    _connect_error,
    _no_sudo,
    _transient,
)


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


def test_a_connect_timeout_below_one_second_is_kept(tmp_path):
    """Fabric turns its own connect_timeout into int(): 0.5 would become 0, no timeout at
    all. The timeout goes to paramiko as given."""
    host = Host(name="web1", address="192.0.2.1", connect_timeout=0.5, known_hosts=tmp_path / "k")
    connection = Remote(host).connection
    assert connection.connect_timeout is None
    assert connection.connect_kwargs["timeout"] == 0.5
