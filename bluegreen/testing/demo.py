"""The sandbox demo: deploy the example app, deploy a second version under load, roll back.

Also the pieces the end-to-end tests and the benchmark share: a scratch git repository of
the example app with one commit per release, an inventory for sandbox hosts, and a runner
for the real ``fab`` command line.

    python -m bluegreen.testing.demo [--hosts N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from bluegreen import sandbox
from bluegreen.sandbox.app import sandbox_hosts
from bluegreen.testing.load import Load

PROJECT = Path(__file__).resolve().parents[2]  # the checkout (example/ lives there)
FAB = Path(sys.executable).parent / "fab"
# tag, version, Dockerfile lines appended (a broken release's health never passes)
API_TOKEN = "s3cr3t-token-value"  # the example inventory's secret
RELEASES = (("v1", "1.0.0", ""), ("v2", "2.0.0", ""), ("broken", "3.0.0", "ENV HEALTH=fail\n"))


@dataclass
class AppRepo:
    """A scratch git repository of the example app with one tagged commit per release."""

    path: Path
    releases: dict[str, str]  # tag -> release id (12-hex commit)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def make_app_repo(path: Path, releases=RELEASES, source: Path = PROJECT / "example") -> AppRepo:
    """Copy ``source`` (example/) into a fresh repository at ``path`` and commit each release."""
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(source, path)
    _git(path, "init", "-q")
    _git(path, "config", "user.email", "demo@example.invalid")
    _git(path, "config", "user.name", "bluegreen demo")
    dockerfile = (path / "Dockerfile").read_text()
    ids = {}
    for tag, version, extra in releases:
        (path / "VERSION").write_text(version)
        (path / "Dockerfile").write_text(dockerfile + extra)
        _git(path, "add", "-A")
        _git(path, "commit", "-qm", version)
        _git(path, "tag", tag)
        ids[tag] = _git(path, "rev-parse", "--short=12", "HEAD")
    return AppRepo(path, ids)


def write_inventory(
    path: Path,
    repo: Path,
    hosts: list[str],
    app_extra: str = "",
    defaults_extra: str = "",
    host_extra: dict[str, str] | None = None,
    env: str = "",
    release_headers: str = "public",
) -> Path:
    """An inventory of the example app for the named sandbox hosts, in a default group ``fleet``;
    its secret API_TOKEN is read from a 0600 file beside it.

    ``host_extra`` adds YAML flow items to a host, e.g. {"sandbox3": "env: {HEALTH: fail}"};
    ``env`` adds flow items to the app's env, e.g. "START_DELAY: 2". The release headers are
    public by default: the load generators read which release answered from outside the hosts.
    """
    app = textwrap.dedent("""\
        app:
          name: example
          repo: {repo}
          path: .
          env: {{GREETING: hello{env}}}
          secrets: {{API_TOKEN: file:{secret}}}
          health: {{attempts: 10, interval: 0.3, timeout: 2}}
          drain: 0.5
          proxy: {{release_headers: {release_headers}}}
        {app_extra}
        """).format(
        repo=repo,
        env=f", {env}" if env else "",
        secret=_secret_file(path.parent / "api_token.secret", API_TOKEN),
        app_extra=textwrap.indent(app_extra, "  "),
        release_headers=release_headers,
    )
    path.write_text(app + sandbox_hosts("fleet", hosts, defaults_extra, host_extra))
    return path


def _secret_file(path: Path, value: str) -> Path:
    """A private file holding one secret (created 0600, never readable by others)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(value + "\n")
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


def fab(inventory: Path, *args: str, echo: bool = False, timeout: float = 600) -> FabResult:
    """Run the real ``fab`` command line of this project against ``inventory``."""
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
    result = FabResult(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    if "Traceback (most recent call last)" in result.stderr:  # a crash is never an answer
        raise RuntimeError(f"fab {' '.join(args)} crashed:\n{result.output}")
    if echo:
        print(f"$ fab {' '.join(args)}\n{result.output.rstrip()}\n({result.seconds:.2f} s)\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2, help="sandbox hosts (default 2)")
    args = parser.parse_args(argv)
    fleet = sandbox.up(args.hosts)
    work = sandbox.DEFAULT_STATE / "demo"
    repo = make_app_repo(work / "app")
    inventory = write_inventory(work / "hosts.yml", repo.path, [h.name for h in fleet])
    print(f"\nexample app releases: {repo.releases}\ninventory: {inventory}\n")
    if fab(inventory, "deploy", "--ref", "v1", echo=True).returncode:
        return 1
    targets = [(h.address, 4000) for h in fleet]
    with Load(targets, max_seconds=300) as load:  # all three client kinds
        steps = [("deploy", "--ref", "v2"), ("rollback",)]
        codes = [fab(inventory, *step, echo=True).returncode for step in steps]
    fab(inventory, "status", echo=True)
    failed = load.stats().failed
    print(f"load during deploy v2 + rollback:\n{load.report()}")
    print(f"\n{'✅' if failed == 0 and not any(codes) else '❌'} {failed} failed requests")
    return 1 if failed or any(codes) else 0


if __name__ == "__main__":
    sys.exit(main())
