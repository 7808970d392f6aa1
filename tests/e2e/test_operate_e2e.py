"""Operating an app on two sandbox hosts (file mode): the maintenance page under load, the
operator's hooks, and the resources preflight. The tests run in file order on one fleet."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from bluegreen.testing import sandbox as sb
from bluegreen.testing.demo import FabResult, fab, write_inventory
from bluegreen.testing.load import KINDS, Load

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
FRESH_HOST = (
    "docker rm -f $(docker ps -aq --filter label=bluegreen.app=example) >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)
# nginx's master and its workers: a reload would replace every worker
NGINX_PIDS = "cat /run/nginx.pid; pgrep -f '[n]ginx: worker' | sort"
MESSAGE = 'Upgrading the <database> & "search"'
CONTAINERS = "docker ps --format '{{.Names}} {{.ID}} {{.State}}' | sort"


@pytest.fixture(scope="module")
def fleet(sandbox, app_repo, tmp_path_factory):
    """The two hosts serving v1 in file mode."""
    folder = tmp_path_factory.mktemp("operate")
    inventory = write_inventory(
        folder / "hosts.yml", app_repo.path, HOSTS, defaults_extra="switch_mode: file"
    )
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    deployed = fab(inventory, "deploy", "--ref", "v1")
    assert deployed.returncode == 0, deployed.output
    yield inventory, hosts, app_repo
    for host in hosts:
        sb.run_in(host, FRESH_HOST)


def under_load(hosts, inventory, *args: str, after: float = 0.0) -> tuple[FabResult, Load]:
    """``fab *args`` under load (3 client kinds); the load goes on ``after`` s more. The
    load does not wait for a first 200 (in maintenance there is none)."""
    load = Load([(h.address, 4000) for h in hosts], max_seconds=120)
    load.start()
    try:
        result = fab(inventory, *args)
        time.sleep(after)
    finally:
        load.stop()
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    return result, load


def one_change(load: Load, good_first: bool) -> tuple[int, int]:
    """Per target the answers change once, from ok to failed (or back): none of the old kind
    starts later than 0.1 s after the first of the new kind (requests racing the rename).
    Returns (ok, failed) over all targets."""
    ok = failed = 0
    for target in load.targets:
        samples = sorted(load.samples(target))
        flips = [t for t, _kind, _color, good in samples if good != good_first]
        assert flips, f"{target}: the answers never changed"
        late = [t for t, _kind, _color, good in samples if good == good_first and t > flips[0]]
        assert not late or max(late) - flips[0] < 0.1, (target, max(late) - flips[0])
        ok += sum(good for *_rest, good in samples)
        failed += sum(not good for *_rest, good in samples)
    return ok, failed


def page(host) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(f"http://{host.address}:4000/version", timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_maintenance_answers_503_with_the_page_without_a_reload(fleet):
    inventory, hosts, _ = fleet
    pids = {h.name: sb.run_in(h, NGINX_PIDS).stdout.split() for h in hosts}
    containers = {h.name: sb.run_in(h, CONTAINERS).stdout for h in hosts}

    too_long = fab(inventory, "maintenance", "--on", "--message", "x" * 201)
    assert too_long.returncode == 2
    assert "❌ --message is 201 characters long; at most 200 are allowed" in too_long.output
    assert all(page(h)[0] == 200 for h in hosts)  # nothing changed

    result, load = under_load(
        hosts, inventory, "maintenance", "--on", "--message", MESSAGE, after=2
    )
    assert result.returncode == 0, result.output
    ok, failed = one_change(load, good_first=True)
    stats = load.stats()
    assert stats.errors == {"HTTP 503": failed} and failed > 50, load.report()
    print(f"maintenance on: {ok} ok before the rename, {failed} answered 503 with the page")
    for host in hosts:
        status, headers, body = page(host)
        assert status == 503 and headers["Retry-After"] == "60"
        assert "Upgrading the &lt;database&gt; &amp; &#34;search&#34;" in body
        assert sb.run_in(host, CONTAINERS).stdout == containers[host.name]  # still running

    report = json.loads(fab(inventory, "status", "--json").stdout)
    assert [h["maintenance"] for h in report["hosts"]] == [True, True]
    assert "blue MAINTENANCE" in fab(inventory, "status").stdout

    refused = fab(inventory, "deploy", "--ref", "v2")
    assert refused.returncode == 1
    assert (
        "❌ host sandbox1 is in maintenance: fab maintenance --off first, or --force to deploy"
        " anyway (its switch takes the maintenance page down)"
    ) in refused.output
    assert all(page(h)[0] == 503 for h in hosts)

    result, load = under_load(hosts, inventory, "maintenance", "--off", after=2)
    assert result.returncode == 0, result.output
    ok, failed = one_change(load, good_first=False)
    assert set(load.stats().errors) <= {"HTTP 503"} and ok > 50, load.report()
    for kind in KINDS:
        print(f"maintenance off, {kind}: sent {load.stats(kind).sent}")
    print(f"maintenance off: {failed} answered 503 before the rename, {ok} ok after it")
    for host in hosts:
        assert sb.run_in(host, NGINX_PIDS).stdout.split() == pids[host.name], host.name
    history = fab(inventory, "history").stdout
    assert history.count("maintenance") >= 4, history
