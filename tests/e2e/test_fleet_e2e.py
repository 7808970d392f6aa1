"""One deploy across three sandbox hosts: fleet-atomic switch, batches, lock, history, dry run.

Every scenario runs under continuous load on every host and counts failed requests. Each
test starts from the same state: v1 live in blue on all three hosts, nothing else.
"""

import re
import signal

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import first_and_last
from tests.e2e.support import (
    HOSTS,
    RESET,
    Fab,
    assert_no_failures,
    containers,
    fake_nginx,
    load,
    lock_held,
    real_nginx,
    restart_sshd,
    served,
    snapshot,
)

pytestmark = pytest.mark.e2e

SLOW_START = "START_DELAY: 2"  # stage takes a couple of seconds: time to interrupt or collide
IGNORE_RELOAD = 'case "$*" in *"-s reload"*) exit 0;; esac'  # reload "succeeds", applies nothing


@pytest.fixture
def fleet(sandbox, app_repo, tmp_path):
    """Three hosts serving v1 (blue, reload mode), and a way to write variant inventories."""
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, RESET)

    def inventory(name="hosts.yml", env="", host_extra=None, mode="reload"):
        return write_inventory(
            tmp_path / name,
            app_repo.path,
            HOSTS,
            env=env,
            defaults_extra=f"switch_mode: {mode}",
            host_extra=host_extra,
        )

    base = inventory()
    result = fab(base, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    return base, inventory, hosts, app_repo.releases


def test_v1_to_v2_on_three_hosts_switches_together_and_drops_nothing(fleet):
    inventory, _, hosts, releases = fleet
    with load(hosts) as running:
        started = running.mark()
        result = fab(inventory, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_no_failures(running)
    assert all(served(h) == ("green", releases["v2"]) for h in hosts)
    firsts = [
        first_and_last(running.samples((h.address, 4000)), "green", after=started)[0] for h in hosts
    ]
    spread = max(firsts) - min(firsts)
    print(f"\n3-host deploy {result.seconds:.2f} s, switch spread {spread * 1000:.0f} ms")
    assert spread < 1.0
    for host in hosts:
        assert re.search(
            rf"^{host.name} +switched +green {releases['v2']} +\d+$", result.stdout, re.M
        )
    history = fab(inventory, "history", "-n", "1")
    assert history.returncode == 0
    rows = [line.split() for line in history.stdout.splitlines()[1:]]
    assert [(r[0], r[3], r[4], r[5], r[6], r[7]) for r in rows] == [
        (h.name, "deploy", releases["v2"], "blue", "green", "switched") for h in hosts
    ]


def test_one_unhealthy_host_keeps_the_whole_fleet_on_v1(fleet):
    _, inventory, hosts, releases = fleet
    broken = inventory("broken3.yml", host_extra={"sandbox3": "env: {HEALTH: fail}"})
    with load(hosts) as running:
        result = fab(broken, "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    assert "sandbox3 ❌ health: green port 4002 not healthy" in result.stdout
    assert_no_failures(running)
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    for host in hosts:  # no new container left anywhere
        assert containers(host) == ["example-blue running"]
        assert not lock_held(host)


def test_a_host_failing_verification_returns_every_host_to_v1(fleet):
    """sandbox3's nginx 'reloads' without applying (exit 0): only verification can tell."""
    inventory, _, hosts, releases = fleet
    fake_nginx(hosts[2], IGNORE_RELOAD)
    try:
        with load(hosts) as running:
            result = fab(inventory, "deploy", "--ref", "v2")
    finally:
        real_nginx(hosts[2])
    assert result.returncode == 1, result.output
    assert "sandbox3 ❌ port 4000 does not serve green" in result.stdout
    assert_no_failures(running)
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    for host in hosts:
        assert re.search(
            rf"^{host.name} +(reverted|failed) +blue {releases['v1']}", result.stdout, re.M
        )
        assert not lock_held(host)


def test_an_unreachable_host_stops_everything_before_any_change(fleet):
    inventory, _, hosts, releases = fleet
    before = [containers(h) for h in hosts]
    sb.run_in(hosts[2], "kill $(cat /run/sshd.pid)")
    try:
        result = fab(inventory, "deploy", "--ref", "v2")
    finally:
        restart_sshd(hosts[2])
    assert result.returncode == 1, result.output
    assert f"sandbox3 ❌ connection to root@{hosts[2].address}:22 refused" in result.stdout
    assert "❌ nothing changed" in result.stdout
    assert [containers(h) for h in hosts] == before
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    assert not any(lock_held(h) for h in hosts)


def test_a_second_deploy_is_refused_while_the_first_holds_the_lock(fleet):
    _, inventory, hosts, releases = fleet
    slow = inventory("slow.yml", env=SLOW_START)
    first = Fab(slow, "deploy", "--ref", "v2")
    first.wait_for(first.count("start: example-green"))
    first.process.send_signal(signal.SIGSTOP)  # holds the lock for as long as the test needs
    try:
        second = fab(slow, "deploy", "--ref", "v2")
    finally:
        first.process.send_signal(signal.SIGCONT)
    assert first.finish() == 0, first.output
    assert second.returncode == 1, second.output
    assert re.search(r"sandbox1 ❌ locked by \S+@\S+ \(pid \d+, deploy since ", second.stdout)
    status = fab(slow, "lock.status")
    assert status.returncode == 0 and status.stdout.count("free") == 3, status.output
    assert all(served(h) == ("green", releases["v2"]) for h in hosts)


def test_sigint_while_the_new_color_starts_puts_everything_back(fleet):
    _, inventory, hosts, releases = fleet
    slow = inventory("slow.yml", env=SLOW_START)
    with load(hosts) as running:
        deploy = Fab(slow, "deploy", "--ref", "v2")
        deploy.wait_for(deploy.count("start: example-green"))
        deploy.process.send_signal(signal.SIGINT)
        assert deploy.finish() == 1, deploy.output
    assert "SIGINT: finishing the current step on every host" in deploy.output
    assert "❌ interrupted" in deploy.output
    assert_no_failures(running)
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    for host in hosts:
        assert containers(host) == ["example-blue running"]
        assert not lock_held(host)


def test_batches_switch_in_turn_and_a_failed_batch_stops_the_rest(fleet):
    _, inventory, hosts, releases = fleet
    broken = inventory("broken2.yml", host_extra={"sandbox2": "env: {HEALTH: fail}"})
    with load(hosts) as running:
        result = fab(broken, "deploy", "--ref", "v2", "--batch", "1")
    assert result.returncode == 1, result.output
    assert_no_failures(running)
    assert "batch 1/3: sandbox1" in result.stdout and "batch 2/3: sandbox2" in result.stdout
    assert "batch 3/3" not in result.stdout
    assert served(hosts[0]) == ("green", releases["v2"])  # the first batch stays on v2
    assert served(hosts[1]) == ("blue", releases["v1"])
    assert served(hosts[2]) == ("blue", releases["v1"])
    assert re.search(r"^sandbox1 +switched +green", result.stdout, re.M)
    assert re.search(r"^sandbox3 +unchanged +blue", result.stdout, re.M)


def test_warm_standby_keeps_the_old_color_running_for_an_instant_rollback(
    fleet, app_repo, tmp_path
):
    _, _, hosts, releases = fleet
    warm = write_inventory(
        tmp_path / "warm.yml", app_repo.path, HOSTS, app_extra="warm_standby: true"
    )
    with load(hosts) as running:
        deployed = fab(warm, "deploy", "--ref", "v2")
        rolled_back = fab(warm, "rollback")
    assert deployed.returncode == 0 and rolled_back.returncode == 0, rolled_back.output
    assert "blue kept running (warm standby)" in deployed.stdout
    assert "start:" not in rolled_back.stdout  # nothing to start: the old color ran all along
    assert_no_failures(running)
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    for host in hosts:
        assert containers(host) == ["example-blue running", "example-green running"]


def test_dry_run_prints_the_plan_and_changes_nothing(fleet):
    inventory, _, hosts, _ = fleet
    before = [snapshot(h) for h in hosts]
    result = fab(inventory, "deploy", "--ref", "v2", "--dry-run")
    assert result.returncode == 0, result.output
    assert [snapshot(h) for h in hosts] == before
    assert "sandbox1: plan (reload mode)" in result.stdout
    assert "docker run -d --pull never --name example-green" in result.stdout
    assert "nginx -s reload" in result.stdout
    assert "s3cr3t" not in result.output
    assert "dry run: nothing was changed" in result.stdout
