"""Fixtures of the end-to-end tests: a real fleet of sandbox hosts (needs root)."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from bluegreen import sandbox as sandbox_module

FLEET_SIZE = 3
NEEDED_TOOLS = ("ip", "nsenter", "unshare", "tini", "sshd", "nginx", "dockerd", "docker")
FAB = Path(sys.executable).parent / "fab"
PROJECT = sandbox_module.PROJECT_ROOT


@pytest.fixture(scope="session")
def sandbox() -> list[sandbox_module.SandboxHost]:
    """Three fresh hosts (sandbox1..3, 10.210.0.11..13) for the whole session, down at the end.

    State is under the project's .sandbox: key .sandbox/id_ed25519, known hosts
    .sandbox/known_hosts, login user root. A test that rebuilds the fleet must
    update this list in place (fleet[:] = sandbox.up(...)).
    In CI a missing prerequisite fails the run instead of skipping the e2e tests.
    """
    problem = None
    if os.geteuid() != 0:
        problem = "the sandbox needs root"
    elif missing := [tool for tool in NEEDED_TOOLS if shutil.which(tool) is None]:
        problem = f"the sandbox needs: {', '.join(missing)}"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    fleet = sandbox_module.up(FLEET_SIZE)
    yield fleet
    sandbox_module.down()


@dataclass
class AppRepo:
    """A scratch git repository of the example app with one commit per release."""

    path: Path
    releases: dict[str, str]  # tag -> release id (12-hex commit)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def app_repo(tmp_path_factory) -> AppRepo:
    """v1 and v2 of the example app, and a broken release whose health never passes."""
    repo = tmp_path_factory.mktemp("app")
    shutil.copytree(PROJECT / "example", repo, dirs_exist_ok=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "e2e@example.invalid")
    _git(repo, "config", "user.name", "e2e")
    releases = {}
    dockerfile = (repo / "Dockerfile").read_text()
    for tag, version, extra in [
        ("v1", "1.0.0", ""),
        ("v2", "2.0.0", ""),
        ("broken", "3.0.0", "ENV HEALTH=fail\n"),
    ]:
        (repo / "VERSION").write_text(version)
        (repo / "Dockerfile").write_text(dockerfile + extra)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", version)
        _git(repo, "tag", tag)
        releases[tag] = _git(repo, "rev-parse", "--short=12", "HEAD")
    return AppRepo(repo, releases)


def write_inventory(path: Path, repo: Path, hosts: list[str], extra_app: str = "") -> Path:
    """An inventory for the sandbox hosts named, in a default group ``fleet``."""
    state = sandbox_module.DEFAULT_STATE
    host_lines = "".join(
        f"  {name}: {{address: {sandbox_module.host_address(sandbox_module.host_index(name))}}}\n"
        for name in hosts
    )
    path.write_text(
        textwrap.dedent(f"""\
            app:
              name: example
              repo: {repo}
              path: .
              env: {{GREETING: hello, API_TOKEN: s3cr3t-token-value}}
              health: {{attempts: 10, interval: 0.3, timeout: 2}}
              drain: 0.5
            {textwrap.indent(extra_app, "  ")}
            defaults:
              group: fleet
              key: {state / "id_ed25519"}
              known_hosts: {state / "known_hosts"}
              host_keys: strict
              network: host
            groups:
              fleet: [{", ".join(hosts)}]
            hosts:
            """)
        + host_lines
    )
    return path


@dataclass
class FabResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def fab(inventory: Path, *args: str, timeout: float = 300) -> FabResult:
    """Run the real ``fab`` CLI from the project, against ``inventory``."""
    env = {**os.environ, "FABRIC_BLUEGREEN_INVENTORY": str(inventory)}
    started = time.monotonic()
    done = subprocess.run(
        [str(FAB), *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return FabResult(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def served(address: str, port: int = 4000) -> tuple[str | None, str | None, str]:
    """(color, release, body) that the public port answers right now."""
    with urllib.request.urlopen(f"http://{address}:{port}/version", timeout=5) as response:
        return (
            response.headers.get("X-Bluegreen-Color"),
            response.headers.get("X-Bluegreen-Release"),
            response.read().decode(),
        )
