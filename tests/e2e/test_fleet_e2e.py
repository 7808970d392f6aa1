"""One deploy across three sandbox hosts: fleet-atomic switch, batches, lock, history, dry run.

Every scenario runs under continuous load on every host and counts failed requests. Each
test starts from the same state: v1 live in blue on all three hosts, nothing else.
"""

import re
import shlex
import signal
import subprocess
import time
import urllib.request

import pytest

from bluegreen import sandbox as sb
from bluegreen.demo import FAB, PROJECT, fab, write_inventory
from bluegreen.load import Load, first_and_last

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2", "sandbox3"]
KINDS = ("new", "keepalive-retry")  # both modes must drop nothing for these
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)
SLOW_START = "START_DELAY: 2"  # stage takes a couple of seconds: time to interrupt or collide


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


def served(host) -> tuple[str, str]:
    with urllib.request.urlopen(f"http://{host.address}:4000/version", timeout=5) as response:
        return response.headers["X-Bluegreen-Color"], response.headers["X-Bluegreen-Release"]


def containers(host) -> list[str]:
    out = sb.run_in(host, "docker ps -a --format '{{.Names}} {{.State}}' | sort").stdout
    return out.splitlines()


def lock_held(host) -> bool:
    return sb.run_in(host, "test -d /srv/example/.lock", check=False).returncode == 0


def _load(hosts) -> Load:
    return Load([(h.address, 4000) for h in hosts], kinds=KINDS, max_seconds=120)


def _assert_no_failures(load):
    for kind in KINDS:
        assert load.stats(kind).sent > 20 and load.stats(kind).failed == 0, load.report()


def test_v1_to_v2_on_three_hosts_switches_together_and_drops_nothing(fleet):
    inventory, _, hosts, releases = fleet
    with _load(hosts) as load:
        started = load.mark()
        result = fab(inventory, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    _assert_no_failures(load)
    assert all(served(h) == ("green", releases["v2"]) for h in hosts)
    firsts = [
        first_and_last(load.samples((h.address, 4000)), "green", after=started)[0] for h in hosts
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
    with _load(hosts) as load:
        result = fab(broken, "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    assert "sandbox3 ❌ health: blue" not in result.stdout  # the new color is green
    assert "sandbox3 ❌ health: green port 4002 not healthy" in result.stdout
    _assert_no_failures(load)
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    for host in hosts:  # no new container left anywhere
        assert containers(host) == ["example-blue running"]
        assert not lock_held(host)


def test_a_host_failing_verification_returns_every_host_to_v1(fleet):
    """sandbox3's nginx 'reloads' without applying (exit 0): only verification can tell."""
    inventory, _, hosts, releases = fleet
    fake = '#!/bin/sh\ncase "$*" in *"-s reload"*) exit 0;; esac\nexec /tmp/nginx.real "$@"\n'
    sb.run_in(
        hosts[2],
        f"cp /usr/sbin/nginx /tmp/nginx.real && printf '%s' {shlex.quote(fake)} > /tmp/nginx.fake"
        " && chmod +x /tmp/nginx.fake && mount --bind /tmp/nginx.fake /usr/sbin/nginx",
    )
    try:
        with _load(hosts) as load:
            result = fab(inventory, "deploy", "--ref", "v2")
    finally:
        sb.run_in(hosts[2], "umount /usr/sbin/nginx")
    assert result.returncode == 1, result.output
    assert "sandbox3 ❌ port 4000 does not serve green" in result.stdout
    _assert_no_failures(load)
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
        sshd_config = sb.host_dir(sb.DEFAULT_STATE, hosts[2].name) / "sshd_config"
        sb.run_in(hosts[2], f"/usr/sbin/sshd -f {sshd_config}")
    assert result.returncode == 1, result.output
    assert f"sandbox3 ❌ connection to root@{hosts[2].address}:22 refused" in result.stdout
    assert "❌ nothing changed" in result.stdout
    assert [containers(h) for h in hosts] == before
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    assert not any(lock_held(h) for h in hosts)


def test_a_second_deploy_is_refused_while_the_first_holds_the_lock(fleet):
    _, inventory, hosts, releases = fleet
    slow = inventory("slow.yml", env=SLOW_START)
    first = subprocess.Popen(
        [str(FAB), "deploy", "--ref", "v2"],
        cwd=PROJECT,
        env={"FABRIC_BLUEGREEN_INVENTORY": str(slow), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not all(lock_held(h) for h in hosts) and time.monotonic() < deadline:
        time.sleep(0.1)
    second = fab(slow, "deploy", "--ref", "v2")
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and "Traceback" not in output, output
    assert second.returncode == 1, second.output
    assert re.search(r"sandbox1 ❌ locked by \S+@\S+ \(pid \d+, deploy since ", second.stdout)
    status = fab(slow, "lock.status")
    assert status.returncode == 0 and status.stdout.count("free") == 3, status.output
    assert all(served(h) == ("green", releases["v2"]) for h in hosts)


def test_sigint_during_stage_puts_everything_back(fleet):
    _, inventory, hosts, releases = fleet
    slow = inventory("slow.yml", env=SLOW_START)
    with _load(hosts) as load:
        deploy = subprocess.Popen(
            [str(FAB), "deploy", "--ref", "v2"],
            cwd=PROJECT,
            env={"FABRIC_BLUEGREEN_INVENTORY": str(slow), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
            "example-green running" in containers(h) for h in hosts
        ):
            time.sleep(0.1)
        deploy.send_signal(signal.SIGINT)
        output, _ = deploy.communicate(timeout=60)
    assert deploy.returncode == 1 and "Traceback" not in output, output
    assert "SIGINT: finishing the current step on every host" in output
    assert "❌ interrupted" in output
    _assert_no_failures(load)
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    for host in hosts:
        assert containers(host) == ["example-blue running"]
        assert not lock_held(host)


def test_batches_switch_in_turn_and_a_failed_batch_stops_the_rest(fleet):
    _, inventory, hosts, releases = fleet
    broken = inventory("broken2.yml", host_extra={"sandbox2": "env: {HEALTH: fail}"})
    with _load(hosts) as load:
        result = fab(broken, "deploy", "--ref", "v2", "--batch", "1")
    assert result.returncode == 1, result.output
    _assert_no_failures(load)
    assert "batch 1/3: sandbox1" in result.stdout and "batch 2/3: sandbox2" in result.stdout
    assert "batch 3/3" not in result.stdout
    assert served(hosts[0]) == ("green", releases["v2"])  # the first batch stays on v2
    assert served(hosts[1]) == ("blue", releases["v1"])
    assert served(hosts[2]) == ("blue", releases["v1"])
    assert re.search(r"^sandbox1 +switched +green", result.stdout, re.M)
    assert re.search(r"^sandbox3 +unchanged +blue", result.stdout, re.M)


def test_dry_run_prints_the_plan_and_changes_nothing(fleet):
    inventory, _, hosts, _ = fleet
    snapshot = (
        "find /etc/nginx /srv -type f -exec md5sum {} + | sort;"
        " docker ps -a --format '{{.ID}} {{.Names}} {{.State}}' | sort; docker images -q | sort"
    )
    before = [sb.run_in(h, snapshot).stdout for h in hosts]
    result = fab(inventory, "deploy", "--ref", "v2", "--dry-run")
    assert result.returncode == 0, result.output
    assert [sb.run_in(h, snapshot).stdout for h in hosts] == before
    assert "sandbox1: plan (reload mode)" in result.stdout
    assert "docker run -d --pull never --name example-green" in result.stdout
    assert "nginx -s reload" in result.stdout
    assert "s3cr3t" not in result.output
    assert "dry run: nothing was changed" in result.stdout
