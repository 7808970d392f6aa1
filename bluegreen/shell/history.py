"""The audit history on a host: append-only JSON lines in ``<app_dir>/history.jsonl``."""

from __future__ import annotations

from shlex import quote


def path(app_dir: str) -> str:
    return f"{app_dir}/history.jsonl"


def append(app_dir: str, record_json: str) -> str:
    record = quote(record_json)
    return f"mkdir -p {quote(app_dir)} && printf '%s\\n' {record} >> {quote(path(app_dir))}"


def tail(app_dir: str, lines: int) -> str:
    return f"tail -n {int(lines)} {quote(path(app_dir))} 2>/dev/null || true"
