"""Assets across the switch (``app.assets``, issue 21 item 6) on two sandbox hosts, in core
and in reload mode, under load: the page of one release names its fingerprinted asset
(/static/app.<hash>.js); the old page's asset and the new page's asset both answer 200
before, during and after a deploy, during a split and after a rollback, and a release's files
are pruned once ``keep_releases`` (0 here: the live and the previous release only) leaves
them behind. The docker tests build on each other in file order, in each mode. The last test
does a deploy and a rollback with ``runtime: process`` on a host with a real systemd (the
assets come from the release directory; that app answers every path, so the asset's body is
what is checked).
"""

import hashlib
import re
import shutil
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.request

import pytest

from bluegreen import sandbox as sb
from bluegreen.sandbox import app as sandbox_app
from bluegreen.testing.demo import PROJECT, fab, make_app_repo, write_inventory
from bluegreen.testing.load import KINDS, Load
from tests.e2e import support

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
RELEASES = (("v1", "1.0.0", ""), ("v2", "2.0.0", ""), ("v3", "3.0.0", ""))
IMMUTABLE = "public, max-age=31536000, immutable"
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)


def _get(host, path: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(f"http://{host.address}:4000{path}", timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), ""


def _asset(host) -> str:
    """The asset the page of the live release names."""
    status, _, page = _get(host, "/")
    assert status == 200, page
    return re.search(r'src="(/static/app\.[0-9a-f]{12}\.js)"', page).group(1)


def _script(version: str) -> str:
    """The example app's asset of ``version`` (example/Dockerfile)."""
    return f'window.release = "{version}";\n'


class Poller:
    """Requests the given assets (path -> expected body) from every host in a loop while a
    change runs; counts answers other than 200 with that body."""

    def __init__(self, hosts, paths: dict[str, str]) -> None:
        self.hosts, self.paths = hosts, paths
        self.sent, self.bad = 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            for host in self.hosts:
                for path, expected in self.paths.items():
                    status, _, body = _get(host, path)
                    self.sent += 1
                    if (status, body) != (200, expected):
                        self.bad.append((host.name, path, status, body[:40]))
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _change(fleet, paths: dict[str, str], *args: str):
    """``fab ARGS`` under load and the asset poller: both see no failure."""
    inventory, hosts = fleet["inventory"], fleet["hosts"]
    load = Load([(h.address, 4000) for h in hosts], max_seconds=120)
    with load, Poller(hosts, paths) as poller:
        result = fab(inventory, *args)
    print(f"\nfab {' '.join(args)}: {result.seconds:.1f} s, {poller.sent} asset requests")
    print(load.report())
    assert result.returncode == 0, result.output
    for kind in KINDS:
        stats, guarded = load.stats(kind), kind in fleet["guarded"]
        assert stats.sent > 20 and (stats.failed == 0 or not guarded), load.report()
    assert poller.sent > 20 and poller.bad == [], poller.bad[:5]
    return result


@pytest.fixture(scope="module", params=["core", "reload"])
def fleet(request, sandbox, tmp_path_factory):
    """v1 live on both hosts, in each switch mode, assets stored; the old page's asset found."""
    mode = request.param
    folder = tmp_path_factory.mktemp(f"assets-{mode}")
    repo = make_app_repo(folder / "repo", RELEASES)
    inventory = write_inventory(
        folder / "hosts.yml",
        repo.path,
        HOSTS,
        app_extra="assets: /app/static\nkeep_releases: 0",
        defaults_extra=f"switch_mode: {mode}",
    )
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, RESET)
    result = fab(inventory, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    # a reload resets idle keep-alive client connections: a client that never retries may see
    # one failure per reload (docs: switch modes)
    guarded = KINDS if mode == "core" else support.RETRYING
    assets = {"v1": _asset(hosts[0])}
    yield {"inventory": inventory, "hosts": hosts, "assets": assets, "guarded": guarded}
    for host in hosts:
        sb.run_in(host, RESET)


def test_the_old_release_asset_is_served_from_the_store_with_long_cache_headers(fleet):
    old = fleet["assets"]["v1"]
    for host in fleet["hosts"]:
        status, headers, body = _get(host, old)
        assert (status, headers.get("Cache-Control")) == (200, IMMUTABLE)
        assert body == 'window.release = "1.0.0";\n'
        assert "X-Bluegreen-Release" not in headers  # nginx answered from the store


def test_both_pages_assets_load_during_and_after_a_deploy(fleet):
    old = fleet["assets"]["v1"]
    _change(fleet, {old: _script("1.0.0")}, "deploy", "--ref", "v2")
    new = fleet["assets"]["v2"] = _asset(fleet["hosts"][0])
    assert new != old
    for host in fleet["hosts"]:
        assert _asset(host) == new
        assert [_get(host, path)[0] for path in (old, new)] == [200, 200]


def test_both_assets_load_during_a_split(fleet):
    paths = {fleet["assets"]["v1"]: _script("1.0.0"), fleet["assets"]["v2"]: _script("2.0.0")}
    _change(fleet, paths, "split", "--blue", "50")
    pages = {_asset(fleet["hosts"][0]) for _ in range(40)}
    assert pages == set(paths)  # both releases answer pages; each page's asset loads
    _change(fleet, paths, "abort")


def test_both_assets_load_after_a_rollback(fleet):
    paths = {fleet["assets"]["v1"]: _script("1.0.0"), fleet["assets"]["v2"]: _script("2.0.0")}
    _change(fleet, paths, "rollback")
    for host in fleet["hosts"]:
        assert _asset(host) == fleet["assets"]["v1"]
        assert [_get(host, path)[0] for path in paths] == [200, 200]


@pytest.mark.parametrize("fleet", ["core"], indirect=True)  # pruning does not depend on it
def test_a_release_left_behind_by_keep_releases_is_pruned(fleet):
    old, rolled_back = fleet["assets"]["v1"], fleet["assets"]["v2"]
    _change(fleet, {old: _script("1.0.0")}, "deploy", "--ref", "v3")
    new = _asset(fleet["hosts"][0])
    for host in fleet["hosts"]:
        # kept: the live release (v3) and the one it replaced (v1); v2 is gone from the store
        # and the live release has no such file: the app answers 404
        assert [_get(host, path)[0] for path in (old, new, rolled_back)] == [200, 200, 404]
        stored = sb.run_in(host, "ls /srv/example/assets/releases").stdout.split()
        assert len(stored) == 2


PROCESS_INDEX = 6  # a host with a real systemd, apart from the session's hosts (1-3)


def _git(repo, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _fingerprinted(version: str) -> str:
    """Where the process example's release ``version`` has its asset (the build below)."""
    digest = hashlib.md5((version + "\n").encode()).hexdigest()[:12]
    return f"/static/app.{digest}.js"


@pytest.fixture(scope="module")
def process_fleet(tmp_path_factory):
    """example-process/ v1 and v2 (their build writes the asset), one systemd host."""
    folder = tmp_path_factory.mktemp("assets-process")
    repo = folder / "repo"
    shutil.copytree(PROJECT / "example-process", repo)
    (repo / "hosts.yml").unlink()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "demo@example.invalid")
    _git(repo, "config", "user.name", "bluegreen demo")
    for tag, version in (("v1", "1.0.0"), ("v2", "2.0.0")):
        (repo / "VERSION").write_text(version + "\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", version)
        _git(repo, "tag", tag)
    app = textwrap.dedent(f"""\
        app:
          name: pyassets
          runtime: process
          repo: {repo}
          build_command: mkdir -p static && cp VERSION static/app.$(md5sum <VERSION | cut -c-12).js
          command: exec python3 app.py
          health: {{attempts: 20, interval: 0.5, timeout: 2}}
          drain: 0.5
          assets: /static
        """)
    inventory = folder / "hosts.yml"
    name = sb.host_name(PROCESS_INDEX)
    inventory.write_text(app + sandbox_app.sandbox_hosts("fleet", [name]))
    with support.systemd_host(PROCESS_INDEX) as host:
        yield {"inventory": inventory, "hosts": [host], "guarded": KINDS}


def test_a_process_release_assets_load_across_a_deploy_and_a_rollback(process_fleet):
    inventory, host = process_fleet["inventory"], process_fleet["hosts"][0]
    result = fab(inventory, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    old, new = _fingerprinted("1.0.0"), _fingerprinted("2.0.0")
    assert _get(host, old)[::2] == (200, "1.0.0\n")
    _change(process_fleet, {old: "1.0.0\n"}, "deploy", "--ref", "v2")
    both = {old: "1.0.0\n", new: "2.0.0\n"}
    _change(process_fleet, both, "rollback")
    assert {path: _get(host, path)[2] for path in both} == both
