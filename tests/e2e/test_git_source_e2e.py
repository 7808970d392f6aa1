"""``source: git``: every host fetches the repository and builds REF itself, under load."""

import shutil
import subprocess
import urllib.request

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import Load

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)


def test_hosts_fetch_build_and_switch_from_git(sandbox, app_repo, tmp_path):
    # A bare repository the hosts can read (the project directory is visible inside them).
    remote = sb.DEFAULT_STATE / "git" / "example.git"
    shutil.rmtree(remote, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(app_repo.path), str(remote)], check=True)
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, RESET)
    inventory = write_inventory(tmp_path / "hosts.yml", remote, HOSTS, app_extra="source: git")
    first = fab(inventory, "deploy", "--ref", "v1")
    assert first.returncode == 0, first.output
    assert "resolved on each host" in first.stdout
    with Load([(h.address, 4000) for h in hosts], kinds=("new", "keepalive-retry")) as load:
        second = fab(inventory, "deploy", "--ref", "v2")
    assert second.returncode == 0, second.output
    assert load.stats().failed == 0 and load.stats().sent > 50, load.report()
    for host in hosts:
        with urllib.request.urlopen(f"http://{host.address}:4000/version", timeout=5) as reply:
            assert reply.headers["X-Bluegreen-Release"] == app_repo.releases["v2"]
            assert reply.read().decode() == "2.0.0"
        assert sb.run_in(host, "test -d /srv/example/repo.git").returncode == 0
    missing = fab(inventory, "deploy", "--ref", "no-such-tag")
    assert missing.returncode == 1
    assert f"ref 'no-such-tag' does not exist in {remote}" in missing.stdout
    shutil.rmtree(remote)
