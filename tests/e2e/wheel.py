"""The installed wheel, run as a user would in their own app repository (not a test module).

The wheel is built from this checkout and installed into a fresh virtualenv outside it;
every command is its ``bluegreen`` console script, run in the app repository with no
PYTHONPATH. Its sandbox is instance ``$BLUEGREEN_WHEEL_SANDBOX`` (default 5), apart from
the session fleet of the other e2e tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bluegreen import sandbox as sb
from bluegreen.testing.load import KINDS, RELEASE_HEADER, Load
from tests.e2e import support

PROJECT = Path(__file__).resolve().parents[2]
INSTANCE = os.environ.get("BLUEGREEN_WHEEL_SANDBOX", "5")
# the release headers are private by default: the test reads them from outside the hosts
OPT_IN_RELEASE_HEADERS = "app:\n  proxy: {release_headers: public}\n"


def _untracked() -> set[str]:
    listed = subprocess.run(
        ["git", "-C", str(PROJECT), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line for line in listed.splitlines() if line.startswith("??")}


def install(tmp: Path) -> Path:
    """Build the wheel (leaving nothing in the checkout) and install it into a fresh venv
    under ``tmp``; returns the venv."""
    support.require_sandbox_tools()
    assert INSTANCE not in ("0", str(sb.INSTANCE)), "the wheel test needs a sandbox of its own"
    before = _untracked()
    pip = Path(sys.executable).parent / "pip"
    subprocess.run(
        [str(pip), "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(PROJECT)], check=True
    )
    assert _untracked() == before, "building the wheel left files in the checkout"
    (wheel,) = (tmp / "dist").glob("bluegreen-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True)
    return venv


class Installed:
    """The installed package, run as a user would in their app repository."""

    def __init__(self, venv: Path, app: Path) -> None:
        self.venv = venv
        self.app = app
        removed = ("PYTHONPATH", "BLUEGREEN_STATE_DIR", "VIRTUAL_ENV", "FABRIC_BLUEGREEN_INVENTORY")
        self.env = {k: v for k, v in os.environ.items() if k not in removed}
        self.env["BLUEGREEN_SANDBOX"] = INSTANCE

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        started = time.monotonic()
        done = subprocess.run(
            [str(self.venv / "bin" / "bluegreen"), *args],
            cwd=self.app,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        print(f"$ bluegreen {' '.join(args)} ({time.monotonic() - started:.1f} s)\n{done.stdout}")
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


def opt_in_release_headers(inventory: Path) -> None:
    """Make the release headers public in the inventory init wrote."""
    inventory.write_text(inventory.read_text().replace("app:\n", OPT_IN_RELEASE_HEADERS, 1))


def served_release(address: str) -> str | None:
    with urllib.request.urlopen(f"http://{address}:4000/version", timeout=5) as response:
        return response.headers.get(RELEASE_HEADER)


def under_load(bluegreen: Installed, targets, *args: str) -> Load:
    """``bluegreen ARGS`` under the three client kinds' load: none may fail a request."""
    with Load(targets, max_seconds=90) as load:
        bluegreen.ok(*args)
    print(load.report())
    for kind in KINDS:
        assert load.stats(kind).sent > 0, kind
        assert load.stats(kind).failed == 0, load.report()
    return load


def deploy_deploy_rollback(bluegreen: Installed, shown: str, releases: dict, targets) -> None:
    """On the sandbox inventory ``shown``: deploy v1, deploy v2 and roll back under load (no
    failed request), then ``status --json``: v1 live, v2 kept in the other color."""
    on_sandbox = ("--inventory", shown)
    bluegreen.ok(*on_sandbox, "deploy", "--ref", "v1")
    assert {served_release(address) for address, _ in targets} == {releases["v1"]}

    load = under_load(bluegreen, targets, *on_sandbox, "deploy", "--ref", "v2")
    assert releases["v2"] in load.stats().releases
    assert {served_release(address) for address, _ in targets} == {releases["v2"]}

    under_load(bluegreen, targets, *on_sandbox, "rollback")
    assert {served_release(address) for address, _ in targets} == {releases["v1"]}

    records = json.loads(bluegreen.ok(*on_sandbox, "status", "--json"))["hosts"]
    assert [r["host"] for r in records] == [f"sandbox{i}" for i in range(1, len(targets) + 1)]
    for record in records:
        live = record["live"]
        assert record["reachable"] and live in ("blue", "green"), record
        assert record["colors"][live]["release"] == releases["v1"], record
        other = "green" if live == "blue" else "blue"
        assert record["colors"][other]["release"] == releases["v2"], record
