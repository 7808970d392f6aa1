"""Shell idioms every command builder shares: run as root, bounded; keep quiet unless failing."""

from __future__ import annotations

from shlex import quote


def as_root(command: str, user: str, timeout: float | None) -> str:
    """Bound ``command`` on the server too (a Fabric timeout does not kill it), and run all of
    it under ``sudo -n`` when the login user is not root (``sudo`` alone would not cover
    ``&&`` or ``cd``). ``timeout=None``: a stream that ends when the operator stops it."""
    prefix = "" if user == "root" else "sudo -n "
    bound = "" if timeout is None else f"timeout {int(timeout)} "
    return f"{prefix}{bound}sh -c {quote(command)}"


def quiet(command: str, lines: int = 30) -> str:
    """Run ``command`` with its output kept; on failure show its last ``lines`` and fail."""
    return (
        f'out=$({{ {command}; }} 2>&1) || {{ printf "%s\\n" "$out" | tail -n {int(lines)} >&2;'
        " exit 1; }"
    )


def free_space(path: str) -> str:
    """Remove a partial upload and print the KiB free in its folder (a full disk?)."""
    folder = quote(path.rsplit("/", 1)[0] or "/")
    return f"rm -f {quote(path)}; df -Pk {folder} | awk 'NR==2 {{print $4}}'"
