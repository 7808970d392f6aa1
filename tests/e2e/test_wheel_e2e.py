"""The wheel in a user's own app repository: pip install it into a fresh virtualenv outside
this checkout, ``bluegreen init``, ``bluegreen sandbox.up``, deploy v1, deploy v2 and roll
back under load (0 failed requests), ``bluegreen status --json``.

Every command is the installed ``bluegreen`` console script, run in the app repository
with no PYTHONPATH: nothing comes from this checkout but the load generator of the test.
The fleet is sandbox instance ``$BLUEGREEN_WHEEL_SANDBOX`` (default 5), apart from the
session fleet of the other e2e tests, and is taken down at the end.
"""

import re
import subprocess
from pathlib import Path

import pytest

from bluegreen.config import inventory
from bluegreen.testing import demo
from tests.e2e import wheel

pytestmark = pytest.mark.e2e

INSTANCE = wheel.INSTANCE


@pytest.fixture(scope="module")
def installed(wheel_venv, tmp_path_factory) -> tuple[wheel.Installed, dict[str, str]]:
    """The installed wheel and an app repository with releases v1 and v2: (bluegreen,
    releases)."""
    app = demo.make_app_repo(tmp_path_factory.mktemp("wheel") / "shop", releases=demo.RELEASES[:2])
    return wheel.Installed(wheel_venv, app.path), app.releases


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
    wheel.opt_in_release_headers(bluegreen.app / "hosts.yml")
    try:
        up = bluegreen.ok("sandbox.up", "--hosts", "2")
        (shown,) = re.findall(r"next: bluegreen --inventory (\S+) deploy", up)
        path = bluegreen.app / shown
        assert path == bluegreen.app / ".bluegreen" / f"sandbox{INSTANCE}" / "hosts.yml"
        hosts = inventory.load(path).select(None)
        yield bluegreen, shown, releases, [(h.address, 4000) for h in hosts]
    finally:
        bluegreen.run("sandbox.down")


def test_the_installed_wheel_deploys_switches_and_rolls_back_with_no_failed_request(fleet):
    wheel.deploy_deploy_rollback(*fleet)
