"""The operator's hooks (``hooks:`` in hosts.yml): shell commands run on THIS machine, in the
app's repository, around a deploy, rollback or switch — e.g. a chat message, a CDN purge,
a smoke test. Told what happens through ``BLUEGREEN_*`` variables; they get the operator's
environment less the variables secrets are read from, like every program bluegreen starts.

``before`` may stop the change (before any host is touched), ``before_batch`` its batch
(before its switch); the others only warn.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bluegreen.config import child_env
from bluegreen.config.inventory import Inventory
from bluegreen.local import children
from bluegreen.output.log import Log

TIMEOUT = 600.0  # seconds a hook may run


def environment(
    app: str, release: str, hosts: list[str], operation: str, result: str | None = None
) -> dict[str, str]:
    """The variables a hook gets (``BLUEGREEN_RESULT`` only after the change)."""
    env = {
        "BLUEGREEN_APP": app,
        "BLUEGREEN_RELEASE": release,
        "BLUEGREEN_HOSTS": ",".join(hosts),
        "BLUEGREEN_OPERATION": operation,
    }
    if result is not None:
        env["BLUEGREEN_RESULT"] = result
    return env


def directory(inventory: Inventory) -> Path:
    """Where hooks run: the app's checkout (``source: upload``), else beside hosts.yml."""
    repo = Path(inventory.app.repo)
    return repo if inventory.app.source == "upload" and repo.is_dir() else inventory.path.parent


def run(inventory: Inventory, name: str, variables: dict[str, str], log: Log) -> bool:
    """Run hook ``name`` (if set) with ``variables``, its output prefixed ``[hook NAME]``;
    False when it failed (exit code, or not finished within ``TIMEOUT``)."""
    command = getattr(inventory.hooks, name)
    if command is None:
        return True
    tag = f"[hook {name}]"
    failed = "❌" if name.startswith("before") else "⚠️ "  # only these can stop a change
    try:
        done = children.run(
            command,
            shell=True,
            cwd=directory(inventory),
            env={**child_env.for_children(), **variables},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        log.line(f"{tag} {failed} {command}: not done after {TIMEOUT:g} s, stopped")
        return False
    for line in done.stdout.splitlines():
        log.line(f"{tag} {line}")
    if done.returncode:
        log.line(f"{tag} {failed} {command}: exit {done.returncode}")
        return False
    log.line(f"{tag} ✅ {command}")
    return True
