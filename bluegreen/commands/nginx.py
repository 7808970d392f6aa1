"""nginx commands: install rendered files atomically, test, reload, restore on failure."""

from __future__ import annotations

from collections.abc import Sequence
from shlex import quote

CONF_DIR = "/etc/nginx"
# The bracket keeps the pattern from matching the shell that runs pgrep itself.
SHUTTING_DOWN = "[n]ginx: worker process is shutting down"


def site_path(app: str) -> str:
    """Our server block; conf.d/*.conf is included inside http {} on apt and dnf systems."""
    return f"{CONF_DIR}/conf.d/bluegreen-{app}.conf"


def live_path(app: str) -> str:
    """The include naming the live color; outside conf.d so nginx only reads it via the site."""
    return f"{CONF_DIR}/bluegreen/{app}.live.conf"


def install(files: Sequence[tuple[str, str]]) -> str:
    """Write ``files`` (path, content), ``nginx -t``, reload; on a failed test put every file back.

    Each file is written next to its target and moved into place with ``mv -f`` (atomic);
    the previous version is kept as ``<path>.prev`` for restore and for manual inspection.
    """
    steps = ["set -e"]
    for path, content in files:
        p = quote(path)
        steps += [
            f"mkdir -p {quote(path.rsplit('/', 1)[0])}",
            f"printf '%s' {quote(content)} > {p}.new",
            f"if [ -f {p} ]; then cp -p {p} {p}.prev; else rm -f {p}.prev; fi",
        ]
    steps += [f"mv -f {quote(path)}.new {quote(path)}" for path, _ in files]
    restore = "; ".join(
        f"if [ -f {p}.prev ]; then mv -f {p}.prev {p}; else rm -f {p}; fi"
        for p in (quote(path) for path, _ in files)
    )
    steps.append(
        f'if ! out=$(nginx -t 2>&1); then {restore}; printf "%s\\n" "$out" >&2; exit 3; fi'
    )
    steps.append("nginx -s reload")
    return "\n".join(steps)


def wait_old_workers(limit: float) -> str:
    """Wait (bounded) until workers of the previous configuration finished in-flight requests."""
    tenths = int(limit * 10)
    return (
        f"i=0; while pgrep -f {quote(SHUTTING_DOWN)} >/dev/null && [ $i -lt {tenths} ];"
        " do sleep 0.1; i=$((i+1)); done"
    )
