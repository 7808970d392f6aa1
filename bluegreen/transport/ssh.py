"""SSH connections: Fabric with verified host keys and clear errors; commands (under sudo
when not root), uploads, streams, and the channels HTTP probes go through."""

from __future__ import annotations

import io
import logging
import posixpath
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import paramiko
from fabric import Connection

from bluegreen.config import certificates
from bluegreen.config.inventory import Host
from bluegreen.errors import RemoteError
from bluegreen.shell import wrap
from bluegreen.transport import http, known_hosts
from bluegreen.transport.ahead import Ahead
from bluegreen.transport.http import HttpReply

CONNECT_ATTEMPTS = 3
SEND_CHUNK = 256 * 1024
# A host that stops answering (a partition: packets vanish, no reset) must not hold a change
# for TCP's own ~15 minutes: SSH keepalives every KEEPALIVE s keep data in flight, and the
# kernel drops the connection when data stays unacknowledged for DEAD_AFTER s.
KEEPALIVE = 5
DEAD_AFTER = 15
# We report every SSH problem ourselves, in one line; paramiko's own log would print
# tracebacks from its transport thread on stderr.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class _Result:
    exited: int  # -1: the session ended without an exit status
    stdout: str
    stderr: str


def fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """OpenSSH's accept-new: record an unknown key in known_hosts; a changed one is refused."""

    _lock = threading.Lock()

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey):
        with self._lock:
            self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with self.known_hosts.open("a") as f:
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)


def _transient(error: BaseException) -> bool:
    """A connection dropped while the SSH banner was exchanged: worth another try."""
    if isinstance(error, (paramiko.BadHostKeyException, paramiko.AuthenticationException)):
        return False
    return isinstance(error, (ConnectionResetError, EOFError)) or (
        isinstance(error, paramiko.SSHException) and "banner" in str(error)
    )


def _connect_error(host: Host, error: BaseException) -> str:
    """One line naming the cause, so an operator knows what to fix."""
    where = f"{host.user}@{host.address}:{host.port}"
    if isinstance(error, paramiko.BadHostKeyException):
        return (
            f"host key CHANGED for {where}: known_hosts ({host.known_hosts}) has "
            f"{fingerprint(error.expected_key)}, the server sent {fingerprint(error.key)}; "
            "refusing to connect (if the server was rebuilt, remove its old line)"
        )
    if isinstance(error, paramiko.AuthenticationException):
        return f"authentication failed for {where} (key: {host.key or 'ssh agent/default keys'})"
    if isinstance(error, paramiko.SSHException) and "not found in known_hosts" in str(error):
        return f"unknown host key for {where} and host_keys is strict ({host.known_hosts})"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve {host.address!r}: {error.strerror}"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"connection to {where} timed out after {host.connect_timeout:g} s"
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        return f"connection to {where} refused"
    return f"cannot connect to {where}: {type(error).__name__}: {error}"


class Remote:
    """One host's SSH session: commands (under sudo when not root), files, HTTP probes."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.round_trips = 0
        self.ahead = Ahead()
        # paramiko's own timeout: Fabric's connect_timeout goes through int() (0.5 -> none)
        connect_kwargs: dict[str, object] = {"timeout": host.connect_timeout}
        if host.key:
            connect_kwargs["key_filename"] = str(host.key)
        self.connection = Connection(
            host.address, user=host.user, port=host.port, connect_kwargs=connect_kwargs
        )
        client = self.connection.client
        known_hosts.load(host.known_hosts, client.get_host_keys())
        policy = (
            paramiko.RejectPolicy()
            if host.host_keys == "strict"
            else AcceptNewPolicy(host.known_hosts)
        )
        client.set_missing_host_key_policy(policy)

    def open(self) -> None:
        """Connect; a reset during the SSH handshake (sshd's MaxStartups shedding load) is
        retried twice, anything else (refused, timeout, keys, auth) is reported at once."""
        refused = known_hosts.refusal(self.host, self.connection.client.get_host_keys())
        if refused:
            raise RemoteError(self.host.name, refused)
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                self.connection.open()
                _detect_silence(self.connection.transport)
                return
            except Exception as error:  # every cause becomes one clear line
                if attempt + 1 < CONNECT_ATTEMPTS and _transient(error):
                    self.connection.close()
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise RemoteError(self.host.name, _connect_error(self.host, error)) from error

    def close(self) -> None:
        self.ahead.close()
        self.connection.close()

    def reconnect(self) -> bool:
        """Connect again (one ``open``, bounded by the connect timeout) when the session has
        dropped; True when it had. Before the phases that put a host back."""
        transport = self.connection.transport
        if transport is not None and transport.is_active():
            return False
        self.close()
        self.open()
        return True

    def run(
        self,
        command: str,
        *,
        timeout: float = 120,
        stdin: str | None = None,
        check: bool = True,
        what: str = "command",
        readonly: bool = False,
    ) -> str:
        """Run ``command``; return stdout. Raise RemoteError (with stderr) when it fails.

        ``readonly`` marks probes that change nothing (a dry run still runs those).
        """
        self.round_trips += 1
        try:
            result = self._exec(wrap.as_root(command, self.host.user, timeout), stdin, timeout + 5)
        except TimeoutError as error:
            raise RemoteError(self.host.name, f"{what} timed out after {timeout:g} s") from error
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise RemoteError(self.host.name, f"{what}: connection lost ({error})") from error
        if result.exited == -1:  # no exit status: the session ended under the command
            raise RemoteError(self.host.name, f"{what}: connection lost (no exit status)")
        if result.exited != 0 and self.host.user != "root" and _no_sudo(result.stderr):
            raise RemoteError(
                self.host.name,
                f"{self.host.user} may not run commands as root without a password (sudo -n:"
                f" {_no_sudo(result.stderr)}); allow it, e.g. '{self.host.user} ALL=(ALL)"
                " NOPASSWD:ALL' in /etc/sudoers.d/, or log in as root",
                exited=result.exited,
            )
        if check and result.exited != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
            message = f"{what} failed (exit {result.exited})"
            if detail:
                message += f": {detail[-1]}"
            raise RemoteError(
                self.host.name, message, output="\n".join(detail), exited=result.exited
            )
        return result.stdout

    def interactive(self, command: str) -> int:
        """Run ``command`` on a terminal (pty) wired to this process's own stdin and stdout
        (``exec -i``); its exit code."""
        self.round_trips += 1
        result = self.connection.run(
            wrap.as_root(command, self.host.user, None), pty=True, warn=True
        )
        return result.exited

    def _exec(self, command: str, stdin: str | None, limit: float) -> _Result:
        """One command on a channel of its own, read as its output comes (no polling: Invoke's
        runner behind ``Connection.run`` wakes 100 times a second while a command runs, which
        cost 4.9 ms CPU per 0.5 s command against 1.2 ms here). TimeoutError after ``limit``.
        The next command's channel is opened meanwhile, so it costs one round trip, not two."""
        transport = self.connection.transport
        if transport is None or not transport.is_active():
            raise EOFError("SSH connection lost")
        deadline = time.monotonic() + limit
        out, err = bytearray(), bytearray()
        wait = self.host.connect_timeout
        channel = self.ahead.take("session", wait) or transport.open_session(timeout=wait)
        self.ahead.open("session", lambda: transport.open_session(timeout=wait))  # the next one
        with channel:
            channel.exec_command(command)
            if stdin is not None:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([channel], [], [], left)[0]:
                    raise TimeoutError(f"no end after {limit:g} s")
                while channel.recv_ready():
                    out += channel.recv(65536)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                ended = channel.closed or channel.eof_received
                if ended and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
            exited = channel.recv_exit_status()
        return _Result(exited, out.decode(errors="replace"), err.decode(errors="replace"))

    def stream(self, command: str, on_line: Callable[[str], None]) -> None:
        """Run a long command (``docker logs -f``), handing over each output line as it comes."""
        self.round_trips += 1
        writer = _LineWriter(on_line)
        self.connection.run(
            wrap.as_root(command, self.host.user, None),
            out_stream=writer,
            err_stream=writer,
            warn=True,
            in_stream=False,
        )
        writer.flush()

    def send(
        self,
        command: str,
        source: BinaryIO,
        progress: Callable[[int], None],
        *,
        timeout: float = 1800,
        what: str = "command",
        sent: Callable[[], None] = lambda: None,
    ) -> str:
        """Run ``command`` with ``source``'s bytes streamed on its stdin (an image); return its
        stdout. ``progress`` gets the bytes sent so far after each chunk; ``sent`` is called
        once the stream is through (the command may still be working on it)."""
        self.round_trips += 1
        transport = self.connection.transport
        if transport is None or not transport.is_active():
            raise RemoteError(self.host.name, f"{what}: SSH connection lost")
        try:
            with transport.open_session(timeout=self.host.connect_timeout) as channel:
                channel.settimeout(timeout)
                channel.exec_command(wrap.as_root(command, self.host.user, timeout))
                count = 0
                while chunk := source.read(SEND_CHUNK):
                    if channel.exit_status_ready():
                        break  # the command ended early (failed): the rest is not wanted
                    try:
                        channel.sendall(chunk)
                    except OSError:
                        break  # closed by the command's end: its exit status says why
                    count += len(chunk)
                    progress(count)
                channel.shutdown_write()
                sent()
                out, err = channel.makefile("rb").read(), channel.makefile_stderr("rb").read()
                exited = channel.recv_exit_status()
        except (OSError, paramiko.SSHException) as error:
            raise RemoteError(self.host.name, f"{what}: connection lost ({error})") from error
        if exited != 0:
            detail = err.decode(errors="replace").strip().splitlines()
            last = f": {detail[-1]}" if detail else ""
            raise RemoteError(self.host.name, f"{what} failed (exit {exited}){last}", exited=exited)
        return out.decode(errors="replace")

    def put(self, data: bytes, remote_path: str) -> str:
        """Upload bytes over SFTP; return the file's absolute path.

        A relative path lands under the login user's home (private, unlike /tmp, where any
        local user could plant a file or a link at a name we would use); missing folders
        are made 0700.
        """
        self.round_trips += 1
        path = remote_path
        try:
            sftp = self.connection.sftp()
            path = posixpath.join(sftp.normalize("."), remote_path)
            _make_folders(sftp, posixpath.dirname(path))
            self.connection.put(io.BytesIO(data), path)
        except (OSError, paramiko.SSHException) as error:
            # SFTP reports a full disk as a bare "Failure" or a size mismatch: say how much room
            # there was, and remove the partial file
            try:
                free = self.run(wrap.free_space(path), timeout=30, what="free space").strip()
            except RemoteError:
                free = ""
            room = f"; {free} KiB free there (disk full?)" if free.isdigit() else ""
            raise RemoteError(
                self.host.name,
                f"upload of {len(data)} bytes to {path} failed: {error}{room}",
            ) from error
        return path

    def connect_ahead(self, port: int, timeout: float) -> None:
        """Open the channel of the next ``http_get`` to ``port`` now, while something else
        runs (its TCP connection is made on the host now; the request is sent later)."""
        transport = self.connection.transport
        if transport is not None and transport.is_active():
            self.ahead.open(port, lambda: _tunnel(transport, port, timeout))

    def http_get(
        self,
        port: int,
        path: str,
        timeout: float,
        tls: certificates.Client | None = None,
        name: str | None = None,
    ) -> HttpReply:
        """GET http://127.0.0.1:PORT/PATH on the host through an SSH channel (no exec, no curl)
        for ``name`` (Host; None: localhost); HTTPS with ``tls``, for its name (a wrong
        certificate is an ``ssl.SSLError``)."""
        transport = self.connection.transport
        if transport is None or not transport.is_active():
            raise RemoteError(self.host.name, "SSH connection lost")
        try:
            channel = self.ahead.take(port, timeout) or _tunnel(transport, port, timeout)
        except paramiko.ChannelException as error:
            raise ConnectionRefusedError(f"127.0.0.1:{port}: {error.text}") from error
        except (paramiko.SSHException, EOFError) as error:
            if transport.is_active() and str(error) == "Timeout opening channel.":
                # the session lives: the host (or this process, stopped or suspended) was
                # slow, as when a port does not answer in time; the caller asks again
                raise TimeoutError(f"127.0.0.1:{port}: no channel after {timeout:g} s") from error
            raise RemoteError(self.host.name, f"SSH connection lost ({error})") from error
        return http.get(channel, path, timeout, tls, name)


def _tunnel(transport: paramiko.Transport, port: int, timeout: float) -> paramiko.Channel:
    """A channel to 127.0.0.1:``port`` on the host (ChannelException: nothing listens).

    paramiko keeps one refusal per transport, handed to the first open that asks: of two
    refusals at once (blue's and green's ports both closed), the second sees only "Unable
    to open channel." on a live transport. That is a refusal too, not a lost connection."""
    try:
        return transport.open_channel(
            "direct-tcpip", ("127.0.0.1", port), ("127.0.0.1", 0), timeout=timeout
        )
    except paramiko.ChannelException:
        raise
    except paramiko.SSHException as error:
        if transport.is_active() and str(error) == "Unable to open channel.":
            raise paramiko.ChannelException(2, "Connect failed") from error
        raise


def _detect_silence(transport: paramiko.Transport) -> None:
    """Keepalives plus TCP_USER_TIMEOUT: a silent peer ends the session within
    KEEPALIVE + DEAD_AFTER seconds, even in the middle of a long command."""
    transport.set_keepalive(KEEPALIVE)
    sock = transport.sock
    if hasattr(socket, "TCP_USER_TIMEOUT") and isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_AFTER * 1000)


def _no_sudo(stderr: str) -> str:
    """sudo's own line when ``sudo -n`` refused to run the command at all, else ''."""
    for line in stderr.splitlines():
        if line.startswith("sudo: ") and ("password is required" in line or "sudoers" in line):
            return line.removeprefix("sudo: ")
    return ""


def _make_folders(sftp: paramiko.SFTPClient, folder: str) -> None:
    """``mkdir -p`` over SFTP, each new folder 0700 (owned by the login user)."""
    try:
        sftp.stat(folder)
    except FileNotFoundError:
        _make_folders(sftp, posixpath.dirname(folder))
        sftp.mkdir(folder, 0o700)


class _LineWriter(io.TextIOBase):
    """A stream that calls back once per complete line."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self.on_line = on_line
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.on_line(line)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.on_line(self.pending)
            self.pending = ""
