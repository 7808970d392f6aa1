"""Faults on the hosts, each injected under load on three sandbox hosts (issue 5).

Every test starts from v1 live in blue on every host and counts failed requests: 0 for
the retrying client kinds, except where the fault itself is the outage (the new app
dying right after the switch), whose count is printed.
"""

import re
import subprocess
import threading
import time

import pytest

from bluegreen import sandbox as sb
from bluegreen.engine import checks
from bluegreen.render import BUNDLED
from bluegreen.testing.demo import fab

from .support import (
    HOSTS,
    RETRYING,
    SECRET,
    assert_no_failures,
    containers,
    failed,
    inventory,
    load,
    lock_held,
    served,
    start_fleet,
)

pytestmark = pytest.mark.e2e


def _nginx_files(host) -> str:
    """Every file nginx reads (the ``.prev`` backups are the switch's own scratch)."""
    return sb.run_in(
        host, "find /etc/nginx -type f ! -name '*.prev' -exec md5sum {} + | sort"
    ).stdout


def _workers(host) -> str:
    return sb.run_in(host, "pgrep -f '[n]ginx: worker' | sort").stdout


def _assert_v1_everywhere(hosts, releases):
    for host in hosts:
        assert served(host) == ("blue", releases["v1"]), host.name
        assert containers(host) == ["example-blue running"], host.name
        assert not lock_held(host), host.name


@pytest.mark.parametrize("mode", ["reload", "file"])
def test_a_user_template_that_fails_nginx_t_restores_the_files_and_does_not_reload(
    sandbox, repo, tmp_path, mode
):
    hosts = [h for h in sandbox if h.name in HOSTS]
    start_fleet(hosts, repo, tmp_path)
    if mode == "file":  # the fleet moves to file mode first (no change of release)
        assert fab(inventory(tmp_path, repo, "file.yml", defaults_extra="switch_mode: file"),
                   "deploy", "--ref", "v1").returncode == 0  # fmt: skip
    (tmp_path / "templates").mkdir()
    bundled = (BUNDLED / "site.conf.j2").read_text()
    broken = bundled.replace("server_name _;", "server_name _;\n    bogus_directive on;")
    assert broken != bundled
    (tmp_path / "templates" / "site.conf.j2").write_text(broken)
    user = inventory(tmp_path, repo, "user.yml", defaults_extra=f"switch_mode: {mode}")
    before = [(_nginx_files(h), _workers(h), served(h)) for h in hosts]
    with load(hosts) as traffic:
        result = fab(user, "deploy", "--ref", "v2")
    print(f"\n{traffic.report()}")
    assert result.returncode == 1, result.output
    for host in hosts:
        assert re.search(
            rf"^{host.name} +❌ switch: nginx -t failed, previous files restored, not reloaded:"
            r'.*unknown directive "bogus_directive" in /etc/nginx/conf.d/bluegreen-example.conf',
            result.stdout,
            re.M,
        ), result.stdout
    assert "revert" not in result.stdout  # nothing was switched, nothing to revert
    assert_no_failures(traffic, RETRYING if mode == "reload" else ("new", "keepalive-retry",
                                                                    "keepalive"))  # fmt: skip
    for host, (files, workers, serves) in zip(hosts, before, strict=True):
        now = _nginx_files(host)
        assert now == files, set(now.splitlines()) ^ set(files.splitlines())  # byte for byte
        assert _workers(host) == workers  # not reloaded
        assert served(host) == serves
    # reload: v1 in blue only; file: v1 live in green, and blue (v1, stopped) kept for
    # rollback, restored as it was after the failed deploy into it
    kept = ["example-blue running"] if mode == "reload" else [
        "example-blue exited", "example-green running"
    ]  # fmt: skip
    for host in hosts:
        assert containers(host) == kept
        assert not lock_held(host)
    colors = {
        c for kind in ("new", "keepalive-retry", "keepalive") for c in traffic.stats(kind).colors
    }
    assert colors == {served(hosts[0])[0]}  # the new color never answered, not even once


def test_a_failing_docker_build_shows_its_last_lines_and_changes_nothing(fleet):
    inventory_path, hosts, releases = fleet
    with load(hosts) as traffic:
        result = fab(inventory_path, "deploy", "--ref", "nobuild")
    assert result.returncode == 1, result.output
    for host in hosts:
        assert f"{host.name} ❌ build failed (exit 1)" in result.stdout
    assert "| error: assets missing" in result.stdout
    assert "returned a non-zero code: 1" in result.stdout
    assert_no_failures(traffic)
    _assert_v1_everywhere(hosts, releases)


def test_a_container_that_exits_at_once_fails_health_and_its_log_is_masked(fleet):
    """The crashing release prints its environment: the log tail is shown, the token is not."""
    inventory_path, hosts, releases = fleet
    with load(hosts) as traffic:
        result = fab(inventory_path, "deploy", "--ref", "crash")
    assert result.returncode == 1, result.output
    for host in hosts:
        assert f"{host.name} ❌ health: green port 4002 not healthy" in result.stdout
    assert "| token=***" in result.stdout
    assert SECRET not in result.output
    assert_no_failures(traffic)
    _assert_v1_everywhere(hosts, releases)


def test_the_new_app_dying_right_after_the_switch_is_caught_by_verification(fleet):
    """sandbox3's new container is killed the moment nginx points at it: verify, revert."""
    inventory_path, hosts, releases = fleet
    killer = (
        "for i in $(seq 600); do"
        "  pid=$(docker inspect -f '{{.State.Pid}}' example-green 2>/dev/null);"
        '  [ -n "$pid" ] && [ "$pid" != 0 ] &&'
        "  grep -qs 'live=green' /etc/nginx/bluegreen/example.live.conf && break;"
        "  sleep 0.01; done;"
        " docker update --restart=no example-green >/dev/null; kill -9 $pid; echo killed"
    )
    with load(hosts) as traffic:
        kill = threading.Thread(target=lambda: sb.run_in(hosts[2], killer, timeout=60))
        kill.start()
        time.sleep(0.2)  # the watcher runs before the deploy starts
        result = fab(inventory_path, "deploy", "--ref", "v2")
        kill.join(timeout=60)
    print(f"\n{traffic.report()}")
    assert result.returncode == 1, result.output
    assert "sandbox3 ❌ port 4000 does not serve green" in result.stdout
    for host in hosts:
        assert re.search(rf"^{host.name} +✅ revert: port 4000 serves blue", result.stdout, re.M)
        assert served(host) == ("blue", releases["v1"])
        assert not lock_held(host)
    down = failed(traffic)
    on_victim = sum(traffic.stats(k, (hosts[2].address, 4000)).failed for k in RETRYING)
    print(f"failed requests while sandbox3's new app was dead: {down} (all on sandbox3)")
    assert down == on_victim  # the two healthy hosts dropped nothing
    assert down > 0  # the fault is an outage until the revert; its length is printed
    assert "green answers only HTTP 502 for 1 s (its app is down)" in result.stdout
    assert "verify 1." in result.stdout  # the outage lasted ~1 s, not the 10 s deadline


def test_nginx_applying_nothing_because_the_port_is_taken_is_caught_by_verification(fleet, repo):
    """A new host whose public port another program holds: nginx -t passes, reload exits 0
    and logs a bind error; only verification through the port can tell."""
    inventory_path, hosts, releases = fleet
    new = hosts[2]
    sb.run_in(
        new,
        "docker rm -f example-blue example-green >/dev/null 2>&1;"
        " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example;"
        " nginx -s reload; mkdir -p /tmp/other && echo other > /tmp/other/version"
        " && for i in $(seq 50); do busybox httpd -p 4000 -h /tmp/other && break;"
        " sleep 0.1; done",
    )  # fmt: skip (nginx lets go of the port after its reload)
    before = _nginx_files(new)
    try:
        with load(hosts[:2]) as traffic:
            result = fab(inventory_path, "deploy", "--ref", "v2")
        errors = sb.run_in(new, "cat /var/log/nginx/error.log").stdout
    finally:
        sb.run_in(new, "pkill -f 'busybox httpd -p 4000'", check=False)
    assert result.returncode == 1, result.output
    assert "sandbox3 ✅ switch: nginx tested and reloaded, live = blue" in result.stdout
    assert "sandbox3 ❌ port 4000 does not serve blue" in result.stdout, result.stdout
    assert "last: HTTP 404 from color=None release=None" in result.stdout
    assert "bind() to 0.0.0.0:4000 failed" in errors
    assert "sandbox3 ✅ revert: site removed (nothing served before)" in result.stdout
    assert_no_failures(traffic)
    for host in hosts[:2]:
        assert served(host) == ("blue", releases["v1"])
    assert _nginx_files(new) == before
    assert containers(new) == [] and not lock_held(new)


UPLOADS = "/root/.bluegreen/uploads"  # where the login user's uploads land


def test_a_full_disk_during_the_upload_fails_the_stage_and_changes_nothing(fleet):
    inventory_path, hosts, releases = fleet
    victim = hosts[1]
    # A full filesystem where uploads land (the login user's ~/.bluegreen/uploads)
    sb.run_in(
        victim,
        f"mkdir -p {UPLOADS} && mount -t tmpfs -o size=64k tmpfs {UPLOADS}"
        f" && dd if=/dev/zero of={UPLOADS}/fill bs=4k >/dev/null 2>&1; df {UPLOADS} | tail -n 1",
    )
    try:
        with load(hosts) as traffic:
            result = fab(inventory_path, "deploy", "--ref", "v2")
    finally:
        sb.run_in(victim, f"umount {UPLOADS}")
    assert result.returncode == 1, result.output
    assert re.search(
        rf"^sandbox2 +❌ upload of \d+ bytes to {UPLOADS}/example-{releases['v2']}"
        r"-sandbox2-[0-9a-f]{12}\.tar\.gz"  # named for the host and the run
        r" failed: .*; 0 KiB free there \(disk full\?\)$",
        result.stdout,
        re.M | re.I,
    ), result.stdout
    assert_no_failures(traffic)
    _assert_v1_everywhere(hosts, releases)


def test_uploads_never_use_a_guessable_name_in_tmp(fleet):
    """A local user of a server plants a link where the upload would have gone in /tmp (the
    old name); root must neither follow it nor write anything into /tmp. The upload lands in
    the login user's private ~/.bluegreen/uploads and is removed after unpacking."""
    inventory_path, hosts, releases = fleet
    bait = f"/tmp/bluegreen-root-{releases['v2']}.tar.gz"
    for host in hosts:
        sb.run_in(host, f"echo precious > /etc/nginx/victim && ln -sf /etc/nginx/victim {bait}")
    with load(hosts) as traffic:
        result = fab(inventory_path, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_no_failures(traffic)
    for host in hosts:
        assert sb.run_in(host, "cat /etc/nginx/victim").stdout == "precious\n"
        assert sb.run_in(host, "ls /tmp | grep -c '^bluegreen' || true").stdout.strip() == "1"
        listing = sb.run_in(host, f"stat -c '%a %U' {UPLOADS}; ls -A {UPLOADS}").stdout
        assert listing == "700 root\n", listing  # private, and the archive is gone
        sb.run_in(host, f"rm -f /etc/nginx/victim {bait}")


def test_color_ports_do_not_answer_from_outside_with_host_networking(fleet, repo, tmp_path):
    """network: host shares the host's ports: bluegreen passes HOST=127.0.0.1, and an app
    that listens on every address anyway is named in a warning with the fix."""
    inventory_path, hosts, releases = fleet
    assert fab(inventory_path, "deploy", "--ref", "v2").returncode == 0
    for host in hosts:
        for port in (4001, 4002):
            assert not checks.exposed(host.address, port, timeout=1), (host.name, port)
    careless = inventory(tmp_path, repo, name="careless.yml", env="LISTEN: 0.0.0.0")
    with load(hosts) as traffic:
        result = fab(careless, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    assert_no_failures(traffic)
    for host in hosts:
        assert (
            f"{host.name} ⚠️  blue answers on {host.address}:4001 from outside: with network:"
            " host the app must listen on 127.0.0.1"
        ) in result.stdout


def test_bridge_networking_without_a_docker_bridge_is_refused_before_any_change(
    fleet, repo, tmp_path
):
    """The sandbox's dockerd runs with --bridge=none, where docker silently ignores -p."""
    inventory_path, hosts, releases = fleet
    bridge = {host.name: "network: bridge" for host in hosts}
    bridged = inventory(tmp_path, repo, name="bridge.yml", host_extra=bridge)
    with load(hosts) as traffic:
        result = fab(bridged, "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    assert_no_failures(traffic)
    assert "has no bridge network" in result.stdout and "network: host" in result.stdout
    assert "health" not in result.stdout
    _assert_v1_everywhere(hosts, releases)


def test_rollback_when_the_old_color_was_removed_by_hand_runs_its_image_again(fleet):
    inventory_path, hosts, releases = fleet
    assert fab(inventory_path, "deploy", "--ref", "v2").returncode == 0
    for host in hosts:
        sb.run_in(host, "docker rm -f example-blue >/dev/null")
    with load(hosts) as traffic:
        result = fab(inventory_path, "rollback")
    assert result.returncode == 0, result.output
    for host in hosts:
        assert (
            f"{host.name} ⚠️  rollback: example-blue is gone; running {releases['v1']}"
            " (the last verified release in this host's history) from its image again"
        ) in result.stdout
        assert served(host) == ("blue", releases["v1"])
    assert_no_failures(traffic)


def test_rollback_when_the_old_color_and_its_image_are_gone_explains_and_changes_nothing(
    fleet,
):
    inventory_path, hosts, releases = fleet
    assert fab(inventory_path, "deploy", "--ref", "v2").returncode == 0
    sb.run_in(
        hosts[1], f"docker rm -f example-blue >/dev/null; docker rmi example:{releases['v1']}"
    )
    before = [containers(h) for h in hosts]
    with load(hosts) as traffic:
        result = fab(inventory_path, "rollback")
    assert result.returncode == 1, result.output
    assert (
        f"sandbox2 ❌ cannot roll back: example-blue is gone and image example:{releases['v1']}"
        " (the last verified release) is not on this host either;"
        f" deploy it again: fab deploy --ref {releases['v1']}"
    ) in result.stdout
    assert "❌ nothing changed" in result.stdout
    assert_no_failures(traffic)
    assert [containers(h) for h in hosts] == before
    assert all(served(h) == ("green", releases["v2"]) for h in hosts)
    assert not any(lock_held(h) for h in hosts)


def test_secrets_never_reach_output_plans_or_process_arguments(fleet, repo, tmp_path):
    """API_TOKEN: not in fab's output, not in a dry-run plan, not in any `ps` on the hosts
    during the deploy; the env files are 0600 and owned by the login user."""
    inventory_path, hosts, releases = fleet
    sampler = (
        "end=$(($(date +%s) + 30)); : > /tmp/ps.log;"
        " while [ $(date +%s) -lt $end ] && [ ! -e /tmp/ps.stop ]; do"
        " ps -eo args >> /tmp/ps.log; done"
    )
    for host in hosts:
        sb.run_in(host, "rm -f /tmp/ps.stop /tmp/ps.log")
    samplers = [
        subprocess.Popen(["nsenter", "-t", str(h.init_pid), "-a", "sh", "-c", sampler])
        for h in hosts
    ]
    time.sleep(0.2)
    try:
        plan = fab(inventory_path, "deploy", "--ref", "v2", "--dry-run")
        result = fab(inventory_path, "deploy", "--ref", "v2")
        status = fab(inventory_path, "status", "--json")
    finally:
        for host in hosts:
            sb.run_in(host, "touch /tmp/ps.stop")
        for process in samplers:
            process.wait(timeout=10)
    assert plan.returncode == 0 and result.returncode == 0, plan.output + result.output
    assert "docker run -d --pull never" in plan.stdout and "on stdin (not shown)" in plan.stdout
    for output in (plan.output, result.output, status.output):
        assert SECRET not in output
    for host in hosts:
        samples = sb.run_in(host, "cat /tmp/ps.log").stdout
        assert samples.count("\nps -eo args\n") > 20  # it really sampled during the deploy
        assert "docker" in samples or "timeout" in samples  # and saw the deploy's commands
        assert SECRET not in samples, host.name
        for color in ("blue", "green"):
            mode = sb.run_in(host, f"stat -c '%a %U' /srv/example/{color}.env").stdout
            assert mode.strip() == "600 root", (host.name, color)
        env = sb.run_in(host, "cat /srv/example/green.env").stdout
        assert f"API_TOKEN={SECRET}" in env.splitlines()
    assert all(served(h) == ("green", releases["v2"]) for h in hosts)
