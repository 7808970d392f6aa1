"""The seed's own stack on ``runtime: process``: example-node/ (Hono and a worker) on a
sandbox host booting a real systemd, under continuous load.

The host reaches no npm registry: ``build: local`` runs the real ``npm ci`` on this machine
(from the npm registry; npm's own cache may serve what it fetched before) and ships the
built tree. The tests run in file order and build on each other: bootstrap with
``language: node``, v1, v2, rollback, a release whose health check fails. Each change asserts
0 failed requests and that the worker unit runs the release that serves.
"""

import json
import shutil
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.sandbox import app as sandbox_app
from bluegreen.testing import demo
from tests.e2e import support
from tests.e2e import test_process_e2e as process_e2e

pytestmark = pytest.mark.e2e

INDEX = 7  # apart from the session's hosts and the other systemd tests' (5, 6)
WORKER = "bluegreen-nodeapp-worker.service"
LOCKED = ("hono", "@hono/node-server")
# tag, version, control file of the release
RELEASES = (("v1", "1.0.0", None), ("v2", "2.0.0", None), ("broken", "3.0.0", "UNHEALTHY"))


def make_repo(path: Path) -> dict[str, str]:
    """example-node/ (without node_modules) in a fresh repository, one commit per release."""
    shutil.copytree(demo.PROJECT / "example-node", path, ignore=shutil.ignore_patterns("node_*"))
    (path / "hosts.yml").unlink()
    process_e2e._git(path, "init", "-q")
    process_e2e._git(path, "config", "user.email", "demo@example.invalid")
    process_e2e._git(path, "config", "user.name", "bluegreen demo")
    ids = {}
    for tag, version, control in RELEASES:
        (path / "VERSION").write_text(version + "\n")
        if control:
            (path / control).write_text("")
        process_e2e._git(path, "add", "-A")
        process_e2e._git(path, "commit", "-qm", version)
        process_e2e._git(path, "tag", tag)
        ids[tag] = process_e2e._git(path, "rev-parse", "--short=12", "HEAD")
    return ids


def write_inventory(path: Path, repo: Path) -> Path:
    """example-node/hosts.yml with the test's repository and the systemd host."""
    text = (demo.PROJECT / "example-node" / "hosts.yml").read_text()
    app = text.split("hosts:")[0].replace("repo: ..\n", f"repo: {repo}\n")
    app = app.replace("  path: example-node\n", "")
    app += "  proxy: {release_headers: public}  # the load reads the release from outside\n"
    path.write_text(app + sandbox_app.sandbox_hosts("fleet", [sb.host_name(INDEX)]))
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """(inventory, host, releases): one systemd host, bootstrapped, removed at the end."""
    folder = tmp_path_factory.mktemp("node")
    releases = make_repo(folder / "repo")
    inventory = write_inventory(folder / "hosts.yml", folder / "repo")
    with support.systemd_host(INDEX) as host:
        yield inventory, host, releases


def served(host) -> tuple[str | None, str]:
    """(release, body) that the public port answers right now."""
    return process_e2e.served(host)[1:]


def worker_release(host) -> str:
    """The release directory the worker unit's process runs in (its working directory)."""
    pid = sb.run_in(host, f"systemctl show -p MainPID --value {WORKER}").stdout.strip()
    assert pid not in ("", "0"), f"{WORKER} is not running"
    return sb.run_in(host, f"readlink /proc/{pid}/cwd").stdout.strip().rsplit("/", 1)[-1]


def under_load(host, inventory: Path, *args: str) -> demo.FabResult:
    """``fab ARGS`` under load; no request failed."""
    result, load = process_e2e.under_load(host, inventory, *args)
    process_e2e.assert_no_failures(load)
    return result


def test_bootstrap_checks_node_from_the_distribution(fleet):
    inventory, host, releases = fleet
    plan = demo.fab(inventory, "bootstrap", "--dry-run")
    assert "for p in nginx libnginx-mod-http-js nodejs; do" in plan.stdout, plan.output
    result = demo.fab(inventory, "bootstrap")
    assert result.returncode == 0, result.output
    version = sb.run_in(host, "node --version").stdout.strip()
    assert version.startswith("v18."), version  # Debian 12's nodejs, not this machine's


def test_first_deploy_ships_the_tree_npm_ci_built_here(fleet):
    inventory, host, releases = fleet
    result = demo.fab(inventory, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    assert "build: 'npm ci --omit=dev --no-audit --no-fund' here in" in result.stdout
    print(next(line for line in result.stdout.splitlines() if "npm ci" in line))
    assert served(host) == (releases["v1"], "1.0.0")
    tree = f"/srv/nodeapp/releases/{releases['v1']}"
    shipped = {
        name: json.loads(sb.run_in(host, f"cat {tree}/node_modules/{name}/package.json").stdout)
        for name in LOCKED
    }
    lock = json.loads((demo.PROJECT / "example-node" / "package-lock.json").read_text())
    for name, package in shipped.items():  # what npm ci installed is what the lock file says
        assert package["version"] == lock["packages"][f"node_modules/{name}"]["version"]
    found = sb.run_in(host, f"du -sk {tree}; command -v npm || echo no npm").stdout.split()
    assert found[-2:] == ["no", "npm"], found  # the host has node, and npm never ran there
    print(f"shipped tree on the host: {found[0]} kB")
    assert worker_release(host) == releases["v1"]


def test_deploy_v2_moves_web_and_worker(fleet):
    inventory, host, releases = fleet
    result = under_load(host, inventory, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert served(host) == (releases["v2"], "2.0.0")
    assert worker_release(host) == releases["v2"]
    journal = sb.run_in(host, f"journalctl -u {WORKER} -o cat --no-pager").stdout
    assert "worker 1.0.0 stopped after" in journal and "worker 2.0.0 started" in journal


def test_rollback_moves_the_worker_back_without_a_build(fleet):
    inventory, host, releases = fleet
    result = under_load(host, inventory, "rollback")
    assert result.returncode == 0, result.output
    assert "npm ci" not in result.stdout
    assert served(host) == (releases["v1"], "1.0.0")
    assert worker_release(host) == releases["v1"]


def test_a_broken_release_is_refused_and_the_worker_stays_on_the_live_one(fleet):
    inventory, host, releases = fleet
    result = under_load(host, inventory, "deploy", "--ref", "broken")
    assert result.returncode != 0
    assert "health: green" in result.output, result.output
    assert served(host) == (releases["v1"], "1.0.0")
    assert worker_release(host) == releases["v1"]
