"""Traffic split, promote, abort and canary deploys on two sandbox hosts under load.

Everything runs in every switch mode (reload, file, core); within a mode the tests build on
each other in file order: v1 then v2 deployed (green v2 live, blue v1 stopped), split,
sticky split, abort,
split + promote, canary deploy, canary deploy of a release that starts failing.
Shares are measured over at least 2000 requests per check; promote and abort must drop
nothing for the client kinds that cannot see nginx's reload race (all three in file and core
mode).
"""

import json
import re
import time

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import RELEASES, fab, make_app_repo, write_inventory
from bluegreen.testing.load import KINDS, Load

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
GUARDED = {"reload": ("new", "keepalive-retry"), "file": KINDS, "core": KINDS}  # 0 failed
TOLERANCE = 4  # percentage points around the weight
SAMPLE = 2400  # requests per share measurement
FAILING = ("failing", "4.0.0", "ENV FAIL_AFTER=4\n")  # healthy, then 500 on / and /version
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_app_repo(tmp_path_factory.mktemp("split-app") / "repo", (*RELEASES, FAILING))


@pytest.fixture(scope="module", params=["reload", "file", "core"])
def fleet(request, sandbox, repo, tmp_path_factory):
    """Green v2 live, blue v1 stopped, on both hosts; the watch judges from 10 requests on."""
    mode = request.param
    inventory = write_inventory(
        tmp_path_factory.mktemp(f"split-{mode}") / "hosts.yml",
        repo.path,
        HOSTS,
        app_extra="watch: {min_requests: 10}",
        defaults_extra=f"switch_mode: {mode}",
    )
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, RESET)
    for ref in ("v1", "v2"):
        result = fab(inventory, "deploy", "--ref", ref)
        assert result.returncode == 0, result.output
    return inventory, hosts, repo.releases, mode


def _load(hosts, **kw) -> Load:
    return Load([(h.address, 4000) for h in hosts], max_seconds=120, **kw)


def _under_load(hosts, inventory, *args):
    with _load(hosts) as load:
        result = fab(inventory, *args)
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    return result, load


def _assert_no_failures(load, mode):
    for kind in GUARDED[mode]:
        assert load.stats(kind).sent > 50, load.report()
        assert load.stats(kind).failed == 0, load.report()


def _shares(hosts, kinds=KINDS) -> dict[str, float]:
    """Percent of SAMPLE answers per color, over all hosts and the given client kinds."""
    load = _load(hosts, kinds=kinds, max_requests=SAMPLE)
    with load:
        while load.running():
            time.sleep(0.05)
    stats = load.stats()
    assert stats.failed == 0 and stats.sent >= SAMPLE - 10, load.report()
    shares = {color: 100 * n / stats.sent for color, n in stats.colors.items()}
    print(f"observed shares over {stats.sent} requests: {shares}")
    return shares


def _containers(host) -> dict[str, str]:
    out = sb.run_in(host, "docker ps -a --format '{{.Names}} {{.State}}'").stdout
    return dict(line.split() for line in out.splitlines())


def _release(host, color: str) -> str:
    label = '{{index .Config.Labels "bluegreen.release"}}'
    return sb.run_in(host, f"docker inspect -f '{label}' example-{color}").stdout.strip()


def test_split_gives_the_stopped_color_its_share_and_status_shows_it(fleet):
    inventory, hosts, releases, mode = fleet
    result, load = _under_load(hosts, inventory, "split", "--blue", "10")
    assert result.returncode == 0, result.output
    _assert_no_failures(load, mode)
    assert "start: example-blue" in result.stdout  # it was stopped: started and checked
    assert re.search(r"health: blue HTTP 200", result.stdout)
    shares = _shares(hosts)
    assert abs(shares.get("blue", 0) - 10) <= TOLERANCE, shares
    data = json.loads(fab(inventory, "status", "--json").stdout)
    for record in data["hosts"]:
        assert record["live"] == "green"
        assert record["split"] == {
            "color": "blue",
            "release": releases["v1"],
            "percent": 10,
            "sticky": False,
        }
    table = fab(inventory, "status").stdout
    print(f"\n$ fab status\n{table}")
    assert re.search(r"^sandbox1 +green +blue 10% +" + mode, table, re.M)
    again = fab(inventory, "split", "--blue", "10")
    assert again.returncode == 0 and "already serves green" in again.stdout


def test_a_bigger_share_and_a_deploy_is_refused_while_split(fleet):
    inventory, hosts, releases, mode = fleet
    result = fab(inventory, "split", "--blue", "50")
    assert result.returncode == 0, result.output
    shares = _shares(hosts)
    assert abs(shares.get("blue", 0) - 50) <= 2 * TOLERANCE, shares
    refused = fab(inventory, "deploy", "--ref", "v1")
    assert refused.returncode == 1
    assert "traffic is split (green" in refused.stdout and "`fab promote` or `fab abort`" in (
        refused.stdout
    )
    wrong = fab(inventory, "split", "--green", "10")
    assert wrong.returncode == 1 and "green is live here" in wrong.stdout


def test_a_sticky_split_keeps_one_client_on_one_color(fleet):
    inventory, hosts, releases, mode = fleet
    result = fab(inventory, "split", "--blue", "50", "--sticky")
    assert result.returncode == 0, result.output
    load = _load(hosts, max_requests=1200)
    with load:
        while load.running():
            time.sleep(0.05)
    for host in hosts:  # this machine is one client address: every answer has one color
        colors = load.stats(target=(host.address, 4000)).colors
        print(f"sticky, {host.name}: {dict(colors)}")
        assert len(colors) == 1 and sum(colors.values()) > 300, load.report()
    record = json.loads(fab(inventory, "status", "--json").stdout)["hosts"][0]
    assert record["split"]["sticky"] is True


def test_abort_returns_everything_to_the_live_color_and_stops_the_other(fleet):
    inventory, hosts, releases, mode = fleet
    result, load = _under_load(hosts, inventory, "abort")
    assert result.returncode == 0, result.output
    _assert_no_failures(load, mode)
    assert _shares(hosts) == {"green": 100.0}
    for host in hosts:
        assert _containers(host) == {"example-blue": "exited", "example-green": "running"}
    refused = fab(inventory, "promote")
    assert refused.returncode == 1 and "traffic is not split here" in refused.stdout


def test_promote_sends_everything_to_the_split_color_and_stops_the_old(fleet):
    inventory, hosts, releases, mode = fleet
    assert fab(inventory, "split", "--blue", "20").returncode == 0
    result, load = _under_load(hosts, inventory, "promote")
    assert result.returncode == 0, result.output
    _assert_no_failures(load, mode)
    assert _shares(hosts) == {"blue": 100.0}
    for host in hosts:
        assert _containers(host) == {"example-blue": "running", "example-green": "exited"}
    history = fab(inventory, "history", "-n", "3").stdout
    assert "promote" in history and "split" in history


def test_a_canary_deploy_steps_through_its_shares_and_promotes(fleet):
    inventory, hosts, releases, mode = fleet
    args = ("deploy", "--ref", "v2", "--canary", "10,50", "--hold", "1")
    result, load = _under_load(hosts, inventory, *args)
    assert result.returncode == 0, result.output
    _assert_no_failures(load, mode)
    for step in ("step 1/3: 10 %", "step 2/3: 50 %", "step 3/3: 100 %"):
        assert step in result.stdout
    assert len(re.findall(r"✅ watch: ", result.stdout)) == 2 * len(hosts)  # each hold
    assert _shares(hosts) == {"green": 100.0}
    for host in hosts:
        assert _containers(host) == {"example-blue": "exited", "example-green": "running"}


def test_a_canary_that_starts_failing_is_aborted_automatically(fleet):
    inventory, hosts, releases, mode = fleet
    args = ("deploy", "--ref", "failing", "--canary", "10,50", "--hold", "6")
    result, load = _under_load(hosts, inventory, *args)
    print(result.stdout)
    assert result.returncode == 1, result.output
    assert re.search(r"❌ watch: blue \d+ of \d+ answers were 5xx", result.stdout)
    assert "| by upstream: blue " in result.stdout
    assert "step 2/3" not in result.stdout  # aborted during the first hold
    for host in hosts:
        assert re.search(rf"^{host.name} +✅ revert: port 4000 serves green", result.stdout, re.M)
        # the canary is removed and the kept previous release is back in blue, stopped
        assert _containers(host) == {"example-blue": "exited", "example-green": "running"}
        assert _release(host, "blue") != releases["failing"]
    failed = load.stats().failed
    print(f"canary abort: {failed} of {load.stats().sent} requests failed (the canary's 500s)")
    assert 0 < failed < load.stats().sent * 0.1
    assert _shares(hosts) == {"green": 100.0}
