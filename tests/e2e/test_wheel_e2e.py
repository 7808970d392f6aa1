"""The wheel in a user's own app repository: pip install it into a fresh virtualenv outside
this checkout, ``bluegreen init``, ``bluegreen sandbox.up``, deploy v1, deploy v2 and roll
back under load (0 failed requests), ``bluegreen status --json``.

Every command is the installed ``bluegreen`` console script, run in the app repository
with no PYTHONPATH: nothing comes from this checkout but the load generator of the test.
The fleet is sandbox instance ``$BLUEGREEN_WHEEL_SANDBOX`` (default 5), apart from the
session fleet of the other e2e tests, and is taken down at the end.
"""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.config import inventory
from bluegreen.testing import demo
from bluegreen.testing.load import KINDS, RELEASE_HEADER, Load
from tests.e2e import support

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[2]
INSTANCE = os.environ.get("BLUEGREEN_WHEEL_SANDBOX", "5")


def _untracked() -> set[str]:
    listed = subprocess.run(
        ["git", "-C", str(PROJECT), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line for line in listed.splitlines() if line.startswith("??")}


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


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Installed, dict[str, str]]:
    """The wheel built from this checkout, installed in a fresh venv, and an app repository
    with releases v1 and v2: (bluegreen, releases)."""
    support.require_sandbox_tools()
    assert INSTANCE not in ("0", str(sb.INSTANCE)), "the wheel test needs a sandbox of its own"
    tmp = tmp_path_factory.mktemp("wheel")
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
    app = demo.make_app_repo(tmp / "shop", releases=demo.RELEASES[:2])
    return Installed(venv, app.path), app.releases


@pytest.fixture(scope="module")
def fleet(installed):
    """``bluegreen init`` and ``bluegreen sandbox.up --hosts 2`` in the app repository;
    (bluegreen, inventory, releases, hosts); ``bluegreen sandbox.down`` at the end."""
    bluegreen, releases = installed
    where = subprocess.run(
        [
            str(bluegreen.venv / "bin" / "python"),
            "-c",
            "import bluegreen; print(bluegreen.__file__)",
        ],
        cwd=bluegreen.app,
        env=bluegreen.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(bluegreen.venv), where
    assert "✅ wrote hosts.yml: app shop" in bluegreen.ok("init", "--health", "/health")
    first = (bluegreen.app / "hosts.yml").read_text().splitlines()[0]
    shipped = Path(first.removeprefix("# yaml-language-server: $schema="))
    assert shipped.is_relative_to(bluegreen.venv) and shipped.is_file(), first  # in the wheel
    written = bluegreen.app / "hosts.yml"  # the release headers: read from outside the hosts
    written.write_text(written.read_text().replace("app:\n", OPT_IN_RELEASE_HEADERS, 1))
    try:
        up = bluegreen.ok("sandbox.up", "--hosts", "2")
        (shown,) = re.findall(r"next: bluegreen --inventory (\S+) deploy", up)
        path = bluegreen.app / shown
        assert path == bluegreen.app / ".bluegreen" / f"sandbox{INSTANCE}" / "hosts.yml"
        hosts = inventory.load(path).select(None)
        yield bluegreen, shown, releases, [(h.address, 4000) for h in hosts]
    finally:
        bluegreen.run("sandbox.down")


OPT_IN_RELEASE_HEADERS = "app:\n  proxy: {release_headers: public}\n"


def served_release(address: str) -> str | None:
    with urllib.request.urlopen(f"http://{address}:4000/version", timeout=5) as response:
        return response.headers.get(RELEASE_HEADER)


def _under_load(bluegreen: Installed, targets, *args: str) -> Load:
    with Load(targets, max_seconds=90) as load:
        bluegreen.ok(*args)
    print(load.report())
    for kind in KINDS:
        assert load.stats(kind).sent > 0, kind
        assert load.stats(kind).failed == 0, load.report()
    return load


def test_the_installed_wheel_deploys_switches_and_rolls_back_with_no_failed_request(fleet):
    bluegreen, shown, releases, targets = fleet
    inventory_flag = ("--inventory", shown)
    bluegreen.ok(*inventory_flag, "deploy", "--ref", "v1")
    assert {served_release(address) for address, _ in targets} == {releases["v1"]}

    load = _under_load(bluegreen, targets, *inventory_flag, "deploy", "--ref", "v2")
    assert releases["v2"] in load.stats().releases
    assert {served_release(address) for address, _ in targets} == {releases["v2"]}

    _under_load(bluegreen, targets, *inventory_flag, "rollback")
    assert {served_release(address) for address, _ in targets} == {releases["v1"]}

    records = json.loads(bluegreen.ok(*inventory_flag, "status", "--json"))["hosts"]
    assert [r["host"] for r in records] == ["sandbox1", "sandbox2"]
    for record in records:
        live = record["live"]
        assert record["reachable"] and live in ("blue", "green"), record
        assert record["colors"][live]["release"] == releases["v1"], record
        other = "green" if live == "blue" else "blue"
        assert record["colors"][other]["release"] == releases["v2"], record
