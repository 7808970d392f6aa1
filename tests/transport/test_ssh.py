import contextlib
import socket
import threading

import paramiko
import pytest

from bluegreen.config.inventory import Host
from bluegreen.errors import RemoteError
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


class _AnyKey(paramiko.ServerInterface):
    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        return paramiko.AUTH_SUCCESSFUL


@pytest.fixture
def sshd():
    """A real SSH server on loopback (paramiko's) that accepts any client key; returns its
    port and host key. One handshake per connection, as many connections as asked."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    server_key = paramiko.ECDSAKey.generate()
    transports: list[paramiko.Transport] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            transport = paramiko.Transport(conn)
            transport.add_server_key(server_key)
            transports.append(transport)
            with contextlib.suppress(paramiko.SSHException, EOFError):  # a refused client
                transport.start_server(server=_AnyKey())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], server_key
    stop.set()
    thread.join(5)
    listener.close()
    for transport in transports:
        transport.close()


def _host(tmp_path, port: int, host_keys: str) -> Host:
    key = tmp_path / "id_ecdsa"
    if not key.exists():
        paramiko.ECDSAKey.generate().write_private_key_file(str(key))
    known = tmp_path / "ssh" / "known_hosts"
    return Host(name="a", address="127.0.0.1", port=port, user="deploy", key=key,
                host_keys=host_keys, known_hosts=known, connect_timeout=5)  # fmt: skip


def test_strict_hosts_refuse_an_unknown_key_in_the_handshake(tmp_path, sshd):
    port, _ = sshd
    host = _host(tmp_path, port, "strict")
    with pytest.raises(RemoteError, match="unknown host key for deploy@127.0.0.1"):
        Remote(host).open()
    assert not host.known_hosts.exists()


def test_accept_new_records_an_unknown_key_then_refuses_a_changed_one(tmp_path, sshd):
    port, server_key = sshd
    host = _host(tmp_path, port, "accept-new")
    remote = Remote(host)
    remote.open()
    assert remote.connection.transport.is_authenticated()
    remote.close()
    line = f"[127.0.0.1]:{port} {server_key.get_name()} {server_key.get_base64()}\n"
    assert host.known_hosts.read_text() == line
    Remote(_host(tmp_path, port, "strict")).open()  # now known: strict lets it in too
    other = paramiko.ECDSAKey.generate().get_base64()
    host.known_hosts.write_text(line.replace(server_key.get_base64(), other))
    with pytest.raises(RemoteError, match="host key CHANGED"):
        Remote(_host(tmp_path, port, "accept-new")).open()


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


class _SlowTransport:
    """A live session whose channel opens time out (a loaded host, or fab stopped meanwhile)."""

    def __init__(self, active_after: bool) -> None:
        self.active_after = active_after
        self.opened = 0

    def is_active(self) -> bool:
        return self.opened == 0 or self.active_after

    def open_channel(self, *args, **kwargs):
        self.opened += 1
        raise paramiko.SSHException("Timeout opening channel.")


@pytest.mark.parametrize(("alive", "error"), [(True, TimeoutError), (False, RemoteError)])
def test_a_channel_that_opens_too_late_is_a_timeout_while_the_session_lives(
    tmp_path, monkeypatch, alive, error
):
    """A health probe whose channel did not open in time asks again (a timeout, as when
    the port is slow); only a session that ended is a lost connection."""
    host = Host(name="web1", address="192.0.2.1", known_hosts=tmp_path / "k")
    remote = Remote(host)
    transport = _SlowTransport(active_after=alive)
    monkeypatch.setattr(type(remote.connection), "transport", property(lambda self: transport))
    with pytest.raises(error):
        remote.http_get(4001, "/health", 2.0)
