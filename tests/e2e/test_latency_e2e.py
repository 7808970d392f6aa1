"""A fleet 300 ms away: every SSH connection goes through a relay on this machine that
delays each direction by 300 ms (the kernel here has no netem; bluegreen/testing/relay.py),
host keys still checked strictly. A deploy and a rollback succeed, slower, and the load —
sent straight to the hosts, not through the relay — sees 0 failed requests for all three
client kinds (file mode).
"""

import re

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing import relay
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import KINDS, Load

from .support import RESET, served

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2", "sandbox3"]
DELAY = 0.3  # seconds each way


def _most_round_trips(output: str) -> int:
    """The most SSH round trips of any host, from fab's closing table."""
    return max(int(m) for m in re.findall(r"^sandbox\d+ +\S+ +.*? (\d+)$", output, re.M))


def _under_load(hosts, inventory, *args):
    with Load([(h.address, 4000) for h in hosts], max_seconds=150) as load:
        result = fab(inventory, *args, timeout=150)
    print(f"\nfab {' '.join(args)}: {result.seconds:.1f} s\n{load.report()}\n{result.stdout}")
    return result, load


def _assert_slower_by_every_round_trip(result) -> None:
    """Each SSH round trip costs at least one relayed round trip (2 × DELAY)."""
    rounds = _most_round_trips(result.stdout)
    assert rounds >= 3
    assert result.seconds >= rounds * 2 * DELAY, (rounds, result.seconds)


def _assert_no_failures(load) -> None:
    for kind in KINDS:
        stats = load.stats(kind)
        assert stats.sent > 10 and stats.failed == 0, load.report()


def test_a_deploy_and_a_rollback_300_ms_away_succeed_with_no_failed_request(
    sandbox, app_repo, tmp_path
):
    hosts = [h for h in sandbox if h.name in HOSTS]
    releases = app_repo.releases
    for host in hosts:
        sb.run_in(host, RESET)
    direct = write_inventory(
        tmp_path / "hosts.yml", app_repo.path, HOSTS, defaults_extra="switch_mode: file"
    )
    first = fab(direct, "deploy", "--ref", "v1")
    assert first.returncode == 0, first.output

    addresses = [h.address for h in hosts]
    with relay.relayed_fleet(addresses, DELAY) as relays:
        measured = relay.round_trip(relays[(addresses[0], 22)], samples=3)
        assert 2 * DELAY <= measured < 2 * DELAY + 0.5, measured  # the delay we think
        far = relay.relayed_inventory(
            direct, tmp_path / "far.yml", relays, sb.DEFAULT_STATE / "known_hosts"
        )

        deploy, load = _under_load(hosts, far, "deploy", "--ref", "v2")
        assert deploy.returncode == 0, deploy.output
        _assert_no_failures(load)
        _assert_slower_by_every_round_trip(deploy)
        for host in hosts:
            assert served(host) == ("green", releases["v2"]), host.name

        rollback, load = _under_load(hosts, far, "rollback")
        assert rollback.returncode == 0, rollback.output
        _assert_no_failures(load)
        _assert_slower_by_every_round_trip(rollback)
        for host in hosts:
            assert served(host) == ("blue", releases["v1"]), host.name
