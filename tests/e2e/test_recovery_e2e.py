"""The safety path on real hosts under load (issue 23): a revert that fails (item 1), and
an SSH session that drops after the switch (item 7).

Three sandbox hosts serve v1 (blue, reload mode). A deploy of v2 is watched; once every
host verified green, sandbox3's nginx state directory turns read-only (a disk that cannot
be written any more) and 5xx lines appear in its access log, so its watch fails and the
batch goes back. The two other hosts revert and remove green; sandbox3's revert cannot
write nginx's include, so nginx keeps serving green there: it must keep running (an undo
that removed it would turn every request to sandbox3 into a 502). Then ``fab status``
says it needs attention, and the recovery of docs/guides/recovery.md puts it right.
"""

import json
import re
import time

import pytest

from bluegreen import sandbox as sb
from bluegreen.shell import nginx
from bluegreen.testing.demo import fab

from .support import (
    Fab,
    assert_no_failures,
    containers,
    fake_nginx,
    inventory,
    load,
    lock_held,
    real_nginx,
    served,
)

pytestmark = pytest.mark.e2e

STATE_DIR = nginx.live_path("example").rsplit("/", 1)[0]
READ_ONLY = f"mount --bind {STATE_DIR} {STATE_DIR} && mount -o remount,bind,ro {STATE_DIR}"
# what the watch counts: `$msec $status $request_time $upstream_addr`, green's upstream
FAILING = (
    f'for i in $(seq 40); do echo "$(date +%s.%N) 502 0.001 127.0.0.1:4002"'
    f" >> {nginx.access_log_path('example')}; done"
)


def test_a_host_whose_revert_fails_keeps_serving_and_needs_attention(fleet, repo, tmp_path):
    _, hosts, releases = fleet
    victim = hosts[2]
    watched = inventory(
        tmp_path,
        repo,
        "watched.yml",
        app_extra="watch: {seconds: 6, min_requests: 10, max_error_rate: 0.01}",
    )
    try:
        with load(hosts) as traffic:
            run = Fab(watched, "deploy", "--ref", "v2")
            run.wait_for(run.count("✅ verify:"), timeout=90)
            sb.run_in(victim, READ_ONLY)
            for _ in range(3):  # the watch polls once a second
                sb.run_in(victim, FAILING)
                time.sleep(0.5)
            code = run.finish()
            time.sleep(1)  # requests after the end of the change, to the color left serving
        print(f"\n{run.output}\n{traffic.report()}")
        assert code == 1, run.output
        failed_watch = r"^sandbox3 +❌ watch: green \d+ of \d+ answers were 5xx"
        assert re.search(failed_watch, run.output, re.M), run.output
        assert re.search(
            r"^sandbox3 +⚠️ +needs attention: its revert failed, so nothing is stopped or"
            rf" removed; port 4000 serves green {releases['v2']}, both colors kept running",
            run.output,
            re.M,
        ), run.output
        last = run.output.rstrip().splitlines()[-1]
        assert last.startswith("❌ failed: sandbox3 needs attention (its revert failed;"), last
        assert_no_failures(traffic)  # not one request failed, on any host
        for host in hosts[:2]:
            assert served(host) == ("blue", releases["v1"])
            assert containers(host) == ["example-blue running"]
        assert served(victim) == ("green", releases["v2"])
        assert containers(victim) == ["example-blue running", "example-green running"]
        assert not lock_held(victim)

        status = fab(watched, "status", "--json")
        assert status.returncode == 1, status.output
        said = {h["host"]: h["needs_attention"] for h in json.loads(status.stdout)["hosts"]}
        serves = f"green {releases['v2']}, both colors kept running"
        assert said == {"sandbox1": None, "sandbox2": None, "sandbox3": serves}
    finally:
        sb.run_in(victim, f"umount {STATE_DIR}", check=False)

    # the recovery (docs/guides/recovery.md): the disk is writable again; choose the color
    back = fab(watched, "-H", "sandbox3", "switch", "--to", "blue")
    assert back.returncode == 0, back.output
    assert served(victim) == ("blue", releases["v1"])
    status = fab(watched, "status", "--json")
    assert status.returncode == 0, status.output


# sandbox3's sessions die 0.2 s after the switch's reload, once (sshd itself keeps running)
DROP = (
    '[ -e /tmp/dropped ] || case "$*" in *"-s reload"*) touch /tmp/dropped;'
    ' (sleep 0.2; pkill -f "sshd: root") </dev/null >/dev/null 2>&1 & ;; esac'
)


def test_a_session_dropped_after_the_switch_is_opened_again_to_put_the_host_back(
    fleet, repo, tmp_path
):
    """Without the reconnect its revert, undo and finish would all fail on the lost session:
    the host would stay on the unverified release, locked."""
    _, hosts, releases = fleet
    victim = hosts[2]
    watched = inventory(
        tmp_path, repo, "watched.yml", app_extra="watch: {seconds: 3, min_requests: 10}"
    )
    fake_nginx(victim, DROP)
    try:
        with load(hosts) as traffic:
            result = fab(watched, "deploy", "--ref", "v2")
    finally:
        real_nginx(victim)
        sb.run_in(victim, "rm -f /tmp/dropped")
    print(f"\n{result.stdout}\n{traffic.report()}")
    assert result.returncode == 1, result.output
    out = result.stdout
    assert re.search(r"^sandbox3 +❌ .*(connection lost|SSH connection lost)", out, re.M), out
    assert "sandbox3 ⚠️  the SSH connection had dropped: connected again" in out
    assert re.search(r"^sandbox3 +✅ revert: port 4000 serves blue", out, re.M), out
    assert "sandbox3 ✅ clean up: removed the new example-green" in out
    assert_no_failures(traffic)
    for host in hosts:
        assert served(host) == ("blue", releases["v1"])
        assert containers(host) == ["example-blue running"]
        assert not lock_held(host)
