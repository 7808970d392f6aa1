"""known_hosts lines that paramiko does not understand: ``@cert-authority`` and ``@revoked``.

paramiko checks plain and hashed entries (``|1|salt|hash``, what ``HashKnownHosts yes`` and
``ssh-keygen -H`` write) but cannot read marker lines: its ``load_host_keys`` even raises
on an ``@cert-authority`` line, so ``load`` reads the file and skips them. A host trusted
only through a host CA would then be "unknown" (strict) or, worse, get its key recorded on
first use (accept-new) with the CA never checked, and a ``@revoked`` key would be accepted. So
such a file is refused before connecting, naming its file, line and the fix; a host with a
plain or hashed entry of its own is checked against that entry even when the file also
trusts a CA (its sshd may offer a certificate: paramiko takes the plain key).
"""

from __future__ import annotations

from pathlib import Path

import paramiko

from bluegreen.config.inventory import Host

MARKERS = ("@cert-authority", "@revoked")


def markers(path: Path) -> list[tuple[int, str]]:
    """(line number, marker) of each marker line in a known_hosts file."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    return [
        (number, line.split()[0])
        for number, line in enumerate(lines, 1)
        if line.strip() and line.split()[0] in MARKERS
    ]


def load(path: Path, keys: paramiko.HostKeys) -> None:
    """Add the file's plain and hashed entries to ``keys`` (marker and unreadable lines are
    skipped, as OpenSSH skips what it cannot parse)."""
    marked = {number for number, _ in markers(path)}
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#") or number in marked:
            continue
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
        except (paramiko.SSHException, paramiko.hostkeys.InvalidHostKey):
            continue
        for name in entry.hostnames if entry else ():
            keys.add(name, entry.key.get_name(), entry.key)


def lookup_name(address: str, port: int) -> str:
    """The name a known_hosts entry has for the host (OpenSSH's ``[address]:port`` form)."""
    return address if port == 22 else f"[{address}]:{port}"


def refusal(host: Host, known: paramiko.HostKeys) -> str | None:
    """Why the host's key cannot be checked as its known_hosts file asks (None: it can)."""
    path, address, port = host.known_hosts, host.address, host.port
    found = markers(path)
    revoked = [number for number, marker in found if marker == "@revoked"]
    if revoked:
        return (
            f"{path} line {revoked[0]}: @revoked is not supported (bluegreen's SSH, paramiko,"
            " would ignore it): delete the revoked key's own lines and this line"
        )
    authority = [number for number, marker in found if marker == "@cert-authority"]
    if authority and known.lookup(lookup_name(address, port)) is None:
        scan = f"ssh-keyscan -H{f' -p {port}' if port != 22 else ''} {address} >> {path}"
        return (
            f"{path} line {authority[0]}: @cert-authority (host certificates) is not supported"
            f" and {address} has no key of its own there: check its key, then add it: {scan}"
        )
    return None
