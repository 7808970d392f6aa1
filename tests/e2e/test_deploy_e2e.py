"""Deploy, rollback, switch and status on two sandbox hosts under continuous HTTP load.

Everything runs in each switch mode: ``reload``, ``file`` (njs) and ``core``. Within a
mode the tests run in file order and build on each other (v1, then v2, rollback, ...).
Failed requests are counted for three client kinds: a new connection per request and
keep-alive with one retry must see 0 failures in every mode; a keep-alive client that
never retries must see 0 in file and core mode, and hits nginx's reload race in reload mode
(printed, not asserted).
"""

import json
import re
import time
import urllib.request

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import Load, first_and_last

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
ALL_KINDS = ("new", "keepalive-retry", "keepalive")
GUARDED = {"reload": ("new", "keepalive-retry"), "file": ALL_KINDS, "core": ALL_KINDS}  # 0 failed
FRESH_HOST = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)


@pytest.fixture(scope="module", params=["reload", "file", "core"])
def fleet(request, sandbox, app_repo, tmp_path_factory):
    """The two hosts, emptied of the app, and an inventory that uses the mode."""
    mode = request.param
    inventory = write_inventory(
        tmp_path_factory.mktemp(mode) / "hosts.yml",
        app_repo.path,
        HOSTS,
        defaults_extra=f"switch_mode: {mode}",
    )
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    return inventory, hosts, app_repo.releases, mode


def served(address: str) -> tuple[str | None, str | None, str]:
    """(color, release, body) that the public port answers right now."""
    with urllib.request.urlopen(f"http://{address}:4000/version", timeout=5) as response:
        return (
            response.headers.get("X-Bluegreen-Color"),
            response.headers.get("X-Bluegreen-Release"),
            response.read().decode(),
        )


def _targets(hosts):
    return [(h.address, 4000) for h in hosts]


def _assert_serves(hosts, color, release, version):
    for host in hosts:
        assert served(host.address) == (color, release, version), host.name


def _under_load(hosts, *fab_args, inventory):
    """Run fab while every host is under load; return (result, load, time fab ended)."""
    with Load(_targets(hosts), max_seconds=120) as load:
        result = fab(inventory, *fab_args)
        ended = load.mark()
    print(f"\nfab {' '.join(fab_args)}: {result.seconds:.2f} s\n{load.report()}")
    print("\n".join(line for line in result.stdout.splitlines() if "switch:" in line))
    return result, load, ended


def _assert_no_failures(load, mode):
    for kind in GUARDED[mode]:
        stats = load.stats(kind)
        assert stats.sent > 50, load.report()
        assert stats.failed == 0, load.report()


def test_first_deploy_to_empty_hosts(fleet):
    inventory, hosts, releases, mode = fleet
    result = fab(inventory, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    _assert_serves(hosts, "blue", releases["v1"], "1.0.0")
    for host in hosts:
        assert re.search(
            rf"^{host.name} +switched +blue {releases['v1']} +\d+$", result.stdout, re.M
        )
    assert "s3cr3t-token-value" not in result.output


def test_deploy_v2_under_load_drops_nothing(fleet):
    inventory, hosts, releases, mode = fleet
    result, load, ended = _under_load(hosts, "deploy", "--ref", "v2", inventory=inventory)
    assert result.returncode == 0, result.output
    _assert_no_failures(load, mode)
    _assert_serves(hosts, "green", releases["v2"], "2.0.0")
    # verification waited out nginx's overlap: nothing old answered after fab returned
    first_blue_after, _ = first_and_last(load.samples(), "blue", after=ended)
    assert first_blue_after is None
    for host in hosts:  # the old color is stopped but kept, for instant rollback
        state = sb.run_in(host, "docker inspect -f '{{.State.Status}}' example-blue").stdout
        assert state.strip() == "exited"


def test_rollback_under_load_returns_to_v1(fleet):
    inventory, hosts, releases, mode = fleet
    result, load, _ = _under_load(hosts, "rollback", inventory=inventory)
    assert result.returncode == 0, result.output
    _assert_no_failures(load, mode)
    _assert_serves(hosts, "blue", releases["v1"], "1.0.0")


def test_switch_to_a_color_under_load(fleet):
    inventory, hosts, releases, mode = fleet
    result, load, _ = _under_load(hosts, "switch", "--to", "green", inventory=inventory)
    assert result.returncode == 0, result.output
    _assert_no_failures(load, mode)
    _assert_serves(hosts, "green", releases["v2"], "2.0.0")
    again = fab(inventory, "switch", "--to", "green")
    assert again.returncode == 0 and "green is already live" in again.stdout


def test_status_shows_live_color_both_releases_and_last_change(fleet):
    inventory, hosts, releases, mode = fleet
    result = fab(inventory, "status")
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    header = [
        "host",
        "live",
        "split",
        "switch",
        "blue",
        "green",
        "lock",
        "last",
        "change",
        "images",
    ]
    assert lines[0].split() == header
    for host in hosts:
        row = next(line for line in lines if line.startswith(host.name)).split()
        assert row[:11] == [
            host.name,
            "green",
            "-",
            mode,
            *(releases["v1"], "exited", "-"),
            *(releases["v2"], "running", "healthy"),
            "-",
        ]
        assert row[12:15] == ["switch", "already", "live"]  # the repeated switch, a no-op
        assert row[15].startswith("blue:") and row[16].startswith("green:")  # image ids
    data = json.loads(fab(inventory, "status", "--json").stdout)
    assert [h["host"] for h in data["hosts"]] == [h.name for h in hosts]
    first = data["hosts"][0]
    assert first["live"] == "green" and first["switch_mode"] == mode and first["lock"] is None
    assert first["split"] is None
    assert first["colors"]["green"] == {
        "release": releases["v2"],
        "state": "running",
        "health": "healthy",
        "image": first["colors"]["green"]["image"],
    }
    assert first["colors"]["green"]["image"].startswith("sha256:")
    assert first["last_change"]["operation"] == "switch"
    assert first["last_change"]["to"] == "green"


def test_broken_release_is_refused_and_the_old_one_keeps_serving(fleet):
    inventory, hosts, releases, mode = fleet
    result, load, _ = _under_load(hosts, "deploy", "--ref", "broken", inventory=inventory)
    assert result.returncode == 1, result.output
    assert "not healthy after 10 attempt(s); last: HTTP 404" in result.stdout
    assert "❌ failed: every host serves what the table says" in result.stdout
    for host in hosts:  # nothing switched: each row says the host still serves v2
        assert re.search(
            rf"^{host.name} +failed +green {releases['v2']} +\d+$", result.stdout, re.M
        )
    for kind in ALL_KINDS:  # nothing switched: no reload race
        assert load.stats(kind).failed == 0, load.report()
    _assert_serves(hosts, "green", releases["v2"], "2.0.0")
    for host in hosts:  # the broken container is gone; v1's, kept for rollback, is back
        fmt = "'{{index .Config.Labels \"bluegreen.release\"}} {{.State.Status}}'"
        found = sb.run_in(host, f"docker inspect -f {fmt} example-blue").stdout.split()
        assert found == [releases["v1"], "exited"], host.name


def test_unknown_ref_is_refused_before_touching_hosts(fleet):
    inventory, hosts, releases, mode = fleet
    result = fab(inventory, "deploy", "--ref", "no-such-ref")
    assert result.returncode == 2
    assert "ref 'no-such-ref' does not exist" in result.stderr
    _assert_serves(hosts, "green", releases["v2"], "2.0.0")


def test_negative_control_the_load_sees_real_downtime(fleet):
    """Stopping the serving container by hand must show up as failed requests."""
    inventory, hosts, releases, mode = fleet
    with Load(_targets(hosts[:1]), max_seconds=30) as load:
        sb.run_in(hosts[0], "docker stop -t 1 example-green >/dev/null")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            load.stats(kind).failed for kind in ALL_KINDS
        ):
            time.sleep(0.05)
    sb.run_in(hosts[0], "docker start example-green >/dev/null")
    for kind in ALL_KINDS:
        assert load.stats(kind).failed > 0, load.report()
    assert "HTTP 502" in load.stats("new").errors
