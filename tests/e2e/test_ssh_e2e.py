"""SSH against the sandbox's real sshd: host keys, connections that fail, connections lost
mid-deploy, and a fab killed with SIGKILL (issue 5).

A connection that cannot be made is one clear line per host and changes nothing; a
connection lost mid-change leaves the rest of the fleet on one release and a summary; the
next status shows what was left, and the next deploy or rollback repairs it (taking over
the lock the lost run could not give back).
"""

import re
import signal
import subprocess
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bluegreen import sandbox as sb
from bluegreen.config import inventory as inventory_module
from bluegreen.testing.demo import fab
from bluegreen.transport.ssh import Remote

from .support import (
    SLOW_RELOAD,
    SLOW_TEST,
    Fab,
    assert_no_failures,
    containers,
    fake_nginx,
    inventory,
    load,
    lock_held,
    real_nginx,
    restart_sshd,
    served,
    snapshot,
    wait_until,
)

pytestmark = pytest.mark.e2e


def _host_key(host) -> tuple[str, str]:
    """(type, base64) of the host's real key."""
    pub = (sb.host_dir(sb.DEFAULT_STATE, host.name) / "ssh_host_ed25519_key.pub").read_text()
    kind, key = pub.split()[:2]
    return kind, key


def _fingerprint(path) -> str:
    return subprocess.run(
        ["ssh-keygen", "-lf", str(path)], check=True, capture_output=True, text=True
    ).stdout.split()[1]


def _with_keys(path, known_hosts, policy):
    """The inventory at ``path`` with another known_hosts file and host-key policy."""
    text = path.read_text()
    text = re.sub(r"known_hosts: .*", f"known_hosts: {known_hosts}", text)
    text = text.replace("host_keys: strict", f"host_keys: {policy}")
    out = path.with_name(f"{policy}-{path.name}")
    out.write_text(text)
    return out


def test_an_unknown_host_is_accepted_and_recorded_with_accept_new(fleet, tmp_path):
    base, hosts, _ = fleet
    known = tmp_path / "ssh" / "known_hosts"  # does not exist yet
    inv = _with_keys(base, known, "accept-new")
    before = [snapshot(h) for h in hosts]
    first = fab(inv, "status")
    assert first.returncode == 0, first.output
    recorded = known.read_text()
    assert sorted(recorded.splitlines()) == sorted(
        f"{h.address} {' '.join(_host_key(h))}" for h in hosts
    )
    again = fab(inv, "status")  # now known: connects, records nothing twice
    assert again.returncode == 0 and known.read_text() == recorded
    assert [snapshot(h) for h in hosts] == before


def test_an_unknown_host_is_refused_in_strict_mode(fleet, tmp_path):
    base, hosts, releases = fleet
    known = tmp_path / "known_hosts"
    known.write_text("")
    inv = _with_keys(base, known, "strict")
    before = [snapshot(h) for h in hosts]
    result = fab(inv, "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    for host in hosts:
        line = (
            f"{host.name} ❌ unknown host key for root@{host.address}:22"
            f" and host_keys is strict ({known})"
        )
        assert result.stdout.count(line) == 1, result.stdout
    assert "❌ nothing changed" in result.stdout
    assert known.read_text() == ""
    assert [snapshot(h) for h in hosts] == before


@pytest.mark.parametrize("policy", ["accept-new", "strict"])
def test_a_changed_host_key_is_always_refused_naming_both_fingerprints(fleet, tmp_path, policy):
    base, hosts, releases = fleet
    wrong = tmp_path / "wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    victim = hosts[1]
    real = sb.host_dir(sb.DEFAULT_STATE, victim.name) / "ssh_host_ed25519_key.pub"
    known = tmp_path / "known_hosts"
    lines = [f"{h.address} {' '.join(_host_key(h))}" for h in hosts if h is not victim]
    wrong_key = " ".join(wrong.with_suffix(".pub").read_text().split()[:2])
    known.write_text("\n".join([*lines, f"{victim.address} {wrong_key}"]) + "\n")
    recorded = known.read_text()
    inv = _with_keys(base, known, policy)
    before = [snapshot(h) for h in hosts]
    result = fab(inv, "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith(victim.name))
    assert line.startswith(f"{victim.name} ❌ host key CHANGED for root@{victim.address}:22")
    assert f"ssh-ed25519 {_fingerprint(wrong.with_suffix('.pub'))}" in line  # what we knew
    assert f"ssh-ed25519 {_fingerprint(real)}" in line  # what the server sent
    assert "refusing to connect" in line
    assert "❌ nothing changed" in result.stdout
    assert known.read_text() == recorded  # the wrong key is not "fixed" behind our back
    assert [snapshot(h) for h in hosts] == before
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)


def test_unreachable_hosts_get_one_clear_line_each_and_nothing_changes(fleet, tmp_path):
    """Timeout (an unused address), DNS failure, authentication failure (a wrong key), next
    to a healthy host: one line per cause, within the connect timeout, nothing changed."""
    base, hosts, releases = fleet
    wrong = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    state = sb.DEFAULT_STATE
    unused = sb.host_address(40)  # in the sandbox subnet, nobody answers
    inv = tmp_path / "unreachable.yml"
    inv.write_text(
        base.read_text().split("groups:")[0]
        + textwrap.dedent(f"""\
            groups:
              fleet: [sandbox1, gone, nowhere, stranger]
            hosts:
              sandbox1: {{address: {hosts[0].address}}}
              gone: {{address: {unused}, connect_timeout: 1}}
              nowhere: {{address: no-such-host.invalid}}
              stranger: {{address: {hosts[1].address}, key: {wrong}}}
            """)
    )
    assert f"known_hosts: {state}/known_hosts" in inv.read_text()
    before = [snapshot(h) for h in hosts]
    result = fab(inv, "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    expected = {
        "gone": f"gone     ❌ connection to root@{unused}:22 timed out after 1 s",
        "nowhere": "nowhere  ❌ cannot resolve 'no-such-host.invalid': ",
        "stranger": (
            f"stranger ❌ authentication failed for root@{hosts[1].address}:22 (key: {wrong})"
        ),
    }
    for name, start in expected.items():
        lines = [line for line in result.stdout.splitlines() if line.startswith(f"{name} ")]
        lines = [line for line in lines if "❌" in line]  # not the summary table's row
        assert len(lines) == 1 and lines[0].startswith(start), result.stdout
    assert "❌ nothing changed" in result.stdout
    assert result.seconds < 8, result.output  # bounded by connect_timeout, not TCP's minutes
    assert [snapshot(h) for h in hosts] == before
    assert not any(lock_held(h) for h in hosts)


def test_refusals_at_once_are_refusals_not_a_lost_connection(sandbox, repo, tmp_path):
    """Eight tunnels to closed ports opened at once over one real SSH connection (as the
    facts probe does with both colors' health and the public port): each is a refused
    connection, and the connection still serves a command afterwards."""
    host = inventory_module.load(inventory(tmp_path, repo)).hosts["sandbox1"]
    remote = Remote(host)
    remote.open()
    try:
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda port: _refusal(remote, port), range(4990, 4998)))
        assert outcomes == ["ConnectionRefusedError"] * 8
        assert remote.run("echo alive", timeout=10, what="echo").strip() == "alive"
    finally:
        remote.close()


def _refusal(remote: Remote, port: int) -> str:
    try:
        remote.http_get(port, "/", timeout=5)
    except Exception as error:  # the kind is what the test compares
        return type(error).__name__
    return "answered"


def test_connection_lost_during_stage_then_status_shows_it_and_deploy_repairs_it(fleet):
    """sandbox3's sshd (listener and sessions) dies while the fleet builds a slow release."""
    base, hosts, releases = fleet
    with load(hosts) as traffic:
        deploy = Fab(base, "deploy", "--ref", "slow")
        building = "pgrep -f '[d]ocker build' >/dev/null"
        wait_until(
            lambda: sb.run_in(hosts[2], building, check=False).returncode == 0,
            what="the build running on sandbox3",
        )
        sb.run_in(hosts[2], "pkill sshd")
        code = deploy.finish()
    out = deploy.output
    assert code == 1, out
    assert re.search(r"^sandbox3 +❌ build: connection lost \(no exit status\)$", out, re.M), out
    assert re.search(rf"^sandbox3 +failed +blue {releases['v1']} ", out, re.M), out
    for host in hosts[:2]:
        assert re.search(rf"^{host.name} +unchanged +blue {releases['v1']} ", out, re.M), out
    assert "❌ failed: every host serves what the table says" in out
    assert_no_failures(traffic)
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts)
    assert containers(hosts[0]) == containers(hosts[1]) == ["example-blue running"]
    assert lock_held(hosts[2]) and not lock_held(hosts[0])  # its lock could not be given back

    restart_sshd(hosts[2])
    status = fab(base, "status")
    row = next(line for line in status.stdout.splitlines() if line.startswith("sandbox3"))
    assert re.search(r"root@\S+ \(deploy\)", row), status.output  # the leftover lock
    with load(hosts) as traffic:
        repair = fab(base, "deploy", "--ref", "v2")
    assert repair.returncode == 0, repair.output
    assert "sandbox3 ⚠️  lock: took over the stale lock (its process no longer runs here)" in (
        repair.stdout
    )
    assert_no_failures(traffic)
    assert all(served(h) == ("green", releases["v2"]) for h in hosts)
    assert not any(lock_held(h) for h in hosts)


def test_connection_lost_during_switch_reverts_the_rest_and_rollback_repairs_it(fleet):
    """sandbox3's nginx -t is slow (2 s); its sshd dies in the middle of that switch. The
    command goes on without its session, so sandbox3 may end on the new release, or with the
    live include renamed while nginx never reloaded (its `nginx -s reload` dies writing to
    the lost session): the summary says "unknown", status shows what the public port
    serves, and a rollback (or a deploy of v1, which rewrites the files) repairs it."""
    base, hosts, releases = fleet
    fake_nginx(hosts[2], SLOW_TEST)
    with load(hosts) as traffic:
        deploy = Fab(base, "deploy", "--ref", "v2")
        deploy.wait_for(deploy.count("✅ health:"))
        time.sleep(0.5)  # sandbox1 and 2 have switched; sandbox3 is in its nginx -t
        sb.run_in(hosts[2], "pkill sshd")
        code = deploy.finish()
        time.sleep(2)  # sandbox3's orphaned switch command finishes by itself
        out = deploy.output
        assert code == 1, out
        assert re.search(r"^sandbox3 +❌ nginx switch: connection lost", out, re.M), out
        for host in hosts[:2]:
            assert re.search(rf"^{host.name} +✅ revert: port 4000 serves blue", out, re.M)
            assert re.search(rf"^{host.name} +reverted +blue {releases['v1']} ", out, re.M)
        # no undo there: nginx may serve the new color (issue 23 item 1); no reconnect
        row = r"^sandbox3 +needs attention +unknown, both colors kept running"
        assert re.search(row, out, re.M), out
        assert "sandbox3 ❌ connection to root@" in out  # the reconnect before the revert
        for host in hosts:  # every host serves one of the two releases
            assert served(host) in {("blue", releases["v1"]), ("green", releases["v2"])}
        real_nginx(hosts[2])
        restart_sshd(hosts[2])
        color = served(hosts[2])[0]
        include = "head -n 1 /etc/nginx/bluegreen/example.live.conf"
        files = sb.run_in(hosts[2], include).stdout
        status = fab(base, "status")
        row = next(line for line in status.stdout.splitlines() if line.startswith("sandbox3"))
        assert row.split()[1] == color, status.output  # what nginx serves, not its files
        assert re.search(r"root@\S+ \(deploy\)", row), status.output
        if color == "green":
            repair = fab(base, "-H", "sandbox3", "rollback")
        else:  # into green (the truly idle color), so the switch rewrites the files
            repair = fab(base, "-H", "sandbox3", "deploy", "--ref", "v1")
        assert repair.returncode == 0, repair.output
        assert "lock: took over the stale lock" in repair.stdout
        unfinished = f"live={color} " not in files  # renamed, never reloaded
        if unfinished:
            other = "blue" if color == "green" else "green"
            assert (
                f"sandbox3 ⚠️  nginx serves {color} {releases['v1' if color == 'blue' else 'v2']},"
                f" its files say {other} "
            ) in repair.stdout, repair.output
            assert "an earlier switch did not finish" in repair.stdout
    print(f"\nsandbox3 after the lost switch: {color}, files: {files.strip()}\n{traffic.report()}")
    assert_no_failures(traffic)
    assert all(served(h) == ("blue", releases["v1"]) for h in hosts[:2])
    now = served(hosts[2])
    assert now[1] == releases["v1"]
    assert sb.run_in(hosts[2], include).stdout.startswith(f"# bluegreen live={now[0]} ")
    assert not any(lock_held(h) for h in hosts)


@pytest.mark.parametrize("phase", ["health", "verify"])
def test_fab_killed_with_sigkill_is_detected_and_repaired_by_the_next_deploy(
    fleet, repo, tmp_path, phase
):
    base, hosts, releases = fleet
    if phase == "health":
        inv, marker = inventory(tmp_path, repo, "slow.yml", env="START_DELAY: 3"), "✅ start:"
    else:
        inv, marker = base, "✅ switch:"
        for host in hosts:
            fake_nginx(host, SLOW_RELOAD)
    with load(hosts) as traffic:
        deploy = Fab(inv, "deploy", "--ref", "v2")
        deploy.wait_for(deploy.count(marker))
        deploy.process.send_signal(signal.SIGKILL)
        deploy.process.wait(timeout=10)
        for host in hosts:
            real_nginx(host)
        time.sleep(2.5)  # a delayed reload lands now
        status = fab(base, "status")
        locks = fab(base, "lock.status")
        repair = fab(base, "deploy", "--ref", "v2")
    assert deploy.process.returncode == -signal.SIGKILL
    pid = deploy.process.pid
    assert locks.stdout.count(f"(pid {pid}, deploy since") == 3, locks.output
    for host in hosts:
        row = next(line for line in status.stdout.splitlines() if line.startswith(host.name))
        assert re.search(r"root@\S+ \(deploy\)", row), status.output  # the leftover lock
        assert releases["v2"] in row and "running" in row, row
    assert repair.returncode == 0, repair.output
    assert repair.stdout.count("lock: took over the stale lock") == 3, repair.output
    assert_no_failures(traffic)
    for host in hosts:
        color, release = served(host)
        assert release == releases["v2"]
        assert sorted(containers(host)) == sorted(
            [
                f"example-{color} running",
                f"example-{'blue' if color == 'green' else 'green'} exited",
            ]
        )
        assert not lock_held(host)
