"""The path every EC2 user takes: logging in as a user with passwordless sudo, not root.

The sandbox hosts have a `bgdeploy` login (NOPASSWD sudo) and a `bgplain` login (no sudo).
Everything runs under `sudo -n sh -c '...'` (Fabric's sudo has no wrapping shell), so the
quoting of what reaches the shell must hold through it.
"""

import json
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import KINDS

from .support import HOSTS, assert_no_failures, inventory, load, reset, served, snapshot

pytestmark = pytest.mark.e2e

TRICKY = """it's "quoted" $(touch /tmp/pwned); a  b"""  # must arrive as written, run nothing


def _as(user: str, tmp_path: Path, repo, name: str) -> Path:
    env = f"TRICKY: {json.dumps(TRICKY)}"
    return inventory(tmp_path, repo, name=name, defaults_extra=f"user: {user}", env=env)


@pytest.fixture
def hosts(sandbox, repo):
    hosts = [h for h in sandbox if h.name in HOSTS]
    reset(hosts, repo)
    yield hosts
    reset(hosts, repo)


def test_a_sudo_user_deploys_rolls_back_splits_and_reads(hosts, repo, tmp_path):
    inv = _as(sb.SUDO_USER, tmp_path, repo, "deploy.yml")
    first = fab(inv, "deploy", "--ref", "v1")
    assert first.returncode == 0, first.output
    with load(hosts) as traffic:
        steps = [("deploy", "--ref", "v2"), ("rollback",), ("split", "--green", "10"), ("abort",)]
        results = [fab(inv, *step) for step in steps]
    for step, result in zip(steps, results, strict=True):
        assert result.returncode == 0, (step, result.output)
    assert_no_failures(traffic, kinds=KINDS)  # file mode: not even non-retrying clients fail
    for host in hosts:
        assert served(host) == ("blue", repo.releases["v1"])
        env = sb.run_in(host, "cat /srv/example/blue.env; stat -c '%a %U' /srv/example/blue.env")
        assert f"TRICKY={TRICKY}\n" in env.stdout and env.stdout.endswith("600 root\n")
        assert sb.run_in(host, "test -e /tmp/pwned", check=False).returncode != 0
        owner = sb.run_in(host, f"stat -c '%a %U' /home/{sb.SUDO_USER}/.bluegreen/uploads")
        assert owner.stdout == f"700 {sb.SUDO_USER}\n"  # the upload folder is the login's own

    status = fab(inv, "status", "--json")
    assert status.returncode == 0, status.output
    records = json.loads(status.stdout)["hosts"]
    assert [(r["host"], r["live"], r["colors"]["blue"]["release"]) for r in records] == [
        (host.name, "blue", repo.releases["v1"]) for host in hosts
    ]
    logs = fab(inv, "logs", "-n", "5")
    assert logs.returncode == 0 and "listening on 127.0.0.1:4001" in logs.stdout, logs.output


def test_a_user_without_passwordless_sudo_gets_one_line_and_nothing_changes(hosts, repo, tmp_path):
    assert fab(_as("root", tmp_path, repo, "root.yml"), "deploy", "--ref", "v1").returncode == 0
    before = {host.name: snapshot(host) for host in hosts}
    result = fab(_as(sb.PLAIN_USER, tmp_path, repo, "plain.yml"), "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    for host in hosts:
        line = (
            f"{host.name} ❌ {sb.PLAIN_USER} may not run commands as root without a password"
            f" (sudo -n: a password is required); allow it, e.g. '{sb.PLAIN_USER} ALL=(ALL)"
            " NOPASSWD:ALL' in /etc/sudoers.d/, or log in as root"
        )
        assert line in result.stdout, result.stdout
        assert snapshot(host) == before[host.name]
    assert "❌ nothing changed" in result.stdout


@pytest.fixture
def bare_host(sandbox):
    host = sb.add_host(9, options=sb.HostOptions(bare=True))
    yield host
    sb.remove_host(host.name)


def test_bootstrap_as_a_sudo_user_then_deploy_under_load(bare_host, repo, tmp_path):
    login = {bare_host.name: f"user: {sb.SUDO_USER}"}
    inv = write_inventory(tmp_path / "bare.yml", repo.path, [bare_host.name], host_extra=login)
    result = fab(inv, "bootstrap")
    assert result.returncode == 0, result.output
    assert f"connect: user {sb.SUDO_USER} with sudo -n" in result.stdout
    # opt-in (--docker-group): deploys run docker with sudo -n. (The sandbox shares this
    # machine's /etc/group, where an earlier bootstrap may have added the user already.)
    assert "docker group: ok — not asked for (--docker-group)" in result.stdout
    sb.import_base_image(bare_host)  # sandbox hosts cannot pull the base image
    assert fab(inv, "deploy", "--ref", "v1").returncode == 0
    with load([bare_host]) as traffic:
        result = fab(inv, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_no_failures(traffic)
    assert served(bare_host) == ("green", repo.releases["v2"])
