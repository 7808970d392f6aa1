"""``app.runtime: process`` on a sandbox host with a real systemd, under continuous load.

The host boots a Debian rootfs with systemd-nspawn (``HostOptions(init="systemd")``), so
the colors are real systemd units and the reboot is a real boot. The app is
example-process/ (a stdlib Python server with a venv build step); each test release is one
commit. The tests run in file order and build on each other: v1, v2, rollback, a broken
release, a failing build, a crash after the switch, a reboot, logs / exec / status,
a redeploy that prunes, a split and its promote.
"""

import re
import shutil
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.sandbox import app as sandbox_app
from bluegreen.sandbox import systemd_host
from bluegreen.testing import demo
from bluegreen.testing.load import Load
from tests.e2e import support

pytestmark = pytest.mark.e2e

INDEX = 5  # sandbox5: apart from the session's tini hosts (1-3)
ALL_KINDS = ("new", "keepalive-retry", "keepalive")
UNIT = "bluegreen-pyexample@{}.service"
# tag, version, control file of the release (name, content)
RELEASES = (
    ("v1", "1.0.0", None),
    ("v2", "2.0.0", None),
    ("broken", "3.0.0", ("UNHEALTHY", "")),
    ("buildfail", "4.0.0", ("BUILD_FAILS", "")),
    ("crash", "5.0.0", ("CRASH_AFTER", "2")),
)


def _git(repo: Path, *args: str) -> str:
    run = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return run.stdout.decode().strip()


def make_repo(path: Path) -> dict[str, str]:
    """example-process/ in a fresh repository, one commit per release; tag -> release id."""
    shutil.copytree(demo.PROJECT / "example-process", path)
    (path / "hosts.yml").unlink()
    _git(path, "init", "-q")
    _git(path, "config", "user.email", "demo@example.invalid")
    _git(path, "config", "user.name", "bluegreen demo")
    ids = {}
    for tag, version, control in RELEASES:
        for leftover in ("UNHEALTHY", "BUILD_FAILS", "CRASH_AFTER"):
            (path / leftover).unlink(missing_ok=True)
        (path / "VERSION").write_text(version + "\n")
        if control:
            (path / control[0]).write_text(control[1])
        _git(path, "add", "-A")
        _git(path, "commit", "-qm", version)
        _git(path, "tag", tag)
        ids[tag] = _git(path, "rev-parse", "--short=12", "HEAD")
    return ids


def write_inventory(
    path: Path, repo: Path, extra: str = "", index: int = INDEX, env: str = ""
) -> Path:
    """The example's inventory for the systemd host ``index``; ``extra`` adds app keys,
    ``env`` flow items to the app's env."""
    app = textwrap.dedent(f"""\
        app:
          name: pyexample
          runtime: process
          repo: {repo}
          build_command: python3 -m venv --without-pip .venv && .venv/bin/python check.py
          command: exec .venv/bin/python app.py
          env: {{{env}GREETING: "it's $HOME \\"quoted\\""}}
          options: {{memory: 128m, cpus: 0.5}}
          health: {{attempts: 20, interval: 0.5, timeout: 2}}
          drain: 0.5
          keep_releases: 1
          proxy: {{release_headers: public}}  # the load reads the release from outside
        """)
    body = app + textwrap.indent(extra, "  ")
    path.write_text(body + sandbox_app.sandbox_hosts("fleet", [sb.host_name(index)]))
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """(inventory, host holder, releases): one systemd host, removed at the end."""
    folder = tmp_path_factory.mktemp("process")
    releases = make_repo(folder / "repo")
    inventory = write_inventory(folder / "hosts.yml", folder / "repo")
    with support.systemd_host(INDEX) as host:
        yield inventory, [host], releases


def served(host) -> tuple[str | None, str | None, str]:
    """(color, release, body) that the public port answers right now."""
    with urllib.request.urlopen(f"http://{host.address}:4000/version", timeout=5) as response:
        return (
            response.headers.get("X-Bluegreen-Color"),
            response.headers.get("X-Bluegreen-Release"),
            response.read().decode(),
        )


def answers(host) -> bool:
    """The public port serves the app again (nginx may be up before the app: a 502)."""
    try:
        return served(host)[0] is not None
    except OSError:
        return False


def units(host) -> dict[str, str]:
    """color -> 'active|inactive enabled|disabled'."""
    out = {}
    for color in ("blue", "green"):
        unit = UNIT.format(color)
        state = sb.run_in(host, f"systemctl is-active {unit}; systemctl is-enabled {unit}",
                          check=False).stdout.split()  # fmt: skip
        out[color] = " ".join(state)
    return out


def app_identity(host, color: str) -> tuple[str, str]:
    """(user name, real uid) of the color's main process, as the host's kernel sees it."""
    pid = f"$(systemctl show -p MainPID --value {UNIT.format(color)})"
    out = sb.run_in(host, f"ps -o user= -p {pid}; awk '/^Uid:/ {{print $2}}' /proc/{pid}/status")
    user, uid = out.stdout.split()
    return user, uid


def under_load(host, inventory: Path, *args: str):
    with Load([(host.address, 4000)], max_seconds=120) as load:
        result = demo.fab(inventory, *args)
        deadline = time.monotonic() + 10  # a short change: still enough requests to count
        while time.monotonic() < deadline and min(load.stats(k).sent for k in ALL_KINDS) <= 20:
            time.sleep(0.05)
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    return result, load


def assert_no_failures(load: Load) -> None:
    for kind in ALL_KINDS:
        stats = load.stats(kind)
        assert stats.sent > 20 and stats.failed == 0, load.report()


def test_bootstrap_prepares_the_systemd_host_without_docker(fleet):
    inventory, (host,), releases = fleet
    result = demo.fab(inventory, "bootstrap")
    assert result.returncode == 0, result.output
    assert "systemd: ok" in result.stdout and "docker" not in result.stdout
    assert re.search(r"checks: ok — systemd 252 .*nginx -t ok, nginx running", result.stdout)


def test_first_deploy_builds_the_venv_and_runs_blue_under_systemd(fleet):
    inventory, (host,), releases = fleet
    result = demo.fab(inventory, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    assert served(host) == ("blue", releases["v1"], "1.0.0")
    assert units(host) == {"blue": "active enabled", "green": "inactive disabled"}
    props = sb.run_in(
        host, f"systemctl show -p MemoryMax -p CPUQuotaPerSecUSec -p WorkingDirectory"
        f" -p Restart {UNIT.format('blue')}; readlink /srv/pyexample/blue.release;"
        " stat -c %a /srv/pyexample/blue.env; ls /srv/pyexample/releases/*/.venv/bin/python",
    ).stdout  # fmt: skip
    assert "MemoryMax=134217728" in props and "CPUQuotaPerSecUSec=500ms" in props
    assert "Restart=on-failure" in props
    assert f"/srv/pyexample/releases/{releases['v1']}\n600\n" in props
    # the env file as systemd read it: quotes, $ and spaces arrive as written
    env = sb.run_in(host, f"tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value"
                          f" {UNIT.format('blue')})/environ").stdout  # fmt: skip
    assert 'GREETING=it\'s $HOME "quoted"\n' in env and "PORT=4001\n" in env


def test_deploy_v2_under_load_drops_nothing_and_keeps_blue_stopped(fleet):
    inventory, (host,), releases = fleet
    result, load = under_load(host, inventory, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert served(host) == ("green", releases["v2"], "2.0.0")
    assert units(host) == {"blue": "inactive disabled", "green": "active enabled"}
    user, uid = app_identity(host, "green")
    assert user == "bg-pyexample" and uid != "0", (user, uid)
    # the build ran as that user too: the venv it made is the user's
    venv = f"/srv/pyexample/releases/{releases['v2']}/.venv"
    assert sb.run_in(host, f"stat -c %U {venv}").stdout.strip() == "bg-pyexample"


def test_rollback_restarts_the_previous_release_without_a_build(fleet):
    inventory, (host,), releases = fleet
    result, load = under_load(host, inventory, "rollback")
    assert result.returncode == 0, result.output
    assert "build" not in result.stdout
    assert_no_failures(load)
    assert served(host) == ("blue", releases["v1"], "1.0.0")
    assert units(host) == {"blue": "active enabled", "green": "inactive disabled"}


def failed_deploy_keeps_v1(host, inventory: Path, releases: dict, ref: str, shown: str) -> None:
    """A deploy of ``ref`` fails, says ``shown``, drops no request; v1 still serves."""
    result, load = under_load(host, inventory, "deploy", "--ref", ref)
    assert result.returncode != 0
    assert shown in result.output
    assert_no_failures(load)
    assert served(host) == ("blue", releases["v1"], "1.0.0")


def test_a_release_failing_its_health_check_leaves_the_old_one_serving(fleet):
    inventory, (host,), releases = fleet
    failed_deploy_keeps_v1(host, inventory, releases, "broken", "health: green")
    # green has its kept release (v2) back, stopped, for the next rollback
    link = sb.run_in(host, "readlink /srv/pyexample/green.release").stdout.strip()
    assert link.endswith(releases["v2"])
    assert units(host) == {"blue": "active enabled", "green": "inactive disabled"}


def test_a_failing_build_shows_its_output_and_changes_nothing(fleet):
    inventory, (host,), releases = fleet
    shown = "build failed as asked (BUILD_FAILS)"
    failed_deploy_keeps_v1(host, inventory, releases, "buildfail", shown)


def test_a_process_crashing_after_the_switch_is_reverted_by_the_watch(fleet, tmp_path):
    inventory, (host,), releases = fleet
    extra = "watch: {seconds: 8, min_requests: 5}\n"
    watched = write_inventory(tmp_path / "hosts.yml", inventory.parent / "repo", extra)
    result, load = under_load(host, watched, "deploy", "--ref", "crash")
    assert result.returncode != 0, result.output
    assert re.search(r"❌ watch: green .*5xx", result.output), result.output
    assert served(host) == ("blue", releases["v1"], "1.0.0")
    failed = {kind: load.stats(kind).failed for kind in ALL_KINDS}
    print(f"failed during the crash window: {failed}")
    assert units(host)["green"] == "inactive disabled"


def test_after_a_reboot_the_live_color_comes_back_by_itself(fleet):
    inventory, hosts, releases = fleet
    started = time.monotonic()
    hosts[0] = host = systemd_host.reboot(hosts[0])
    deadline = time.monotonic() + 60
    while not answers(host) and time.monotonic() < deadline:
        time.sleep(0.2)
    print(f"\nreboot: serving again after {time.monotonic() - started:.1f} s")
    assert served(host) == ("blue", releases["v1"], "1.0.0")
    assert units(host) == {"blue": "active enabled", "green": "inactive disabled"}


def test_logs_exec_and_status_read_the_units(fleet):
    inventory, (host,), releases = fleet
    logs = demo.fab(inventory, "logs", "-n", "50")
    assert logs.returncode == 0 and "listening on 127.0.0.1:4001, version 1.0.0" in logs.stdout
    script = 'pwd; echo "$PORT $GREETING"; id -un; touch x || echo ro; touch "$STATE_DIRECTORY/s"'
    run = demo.fab(inventory, "exec", "--", "sh", "-c", script)
    assert run.returncode == 0, run.output
    # as the unit: its user, its release read-only (ProtectSystem=strict), its state writable
    assert "| bg-pyexample\n" in run.stdout and "Read-only file system" in run.stdout
    assert sb.run_in(host, "stat -c %U /var/lib/bluegreen-pyexample/s").stdout == "bg-pyexample\n"
    assert f"/srv/pyexample/releases/{releases['v1']}" in run.stdout
    assert '4001 it\'s $HOME "quoted"' in run.stdout
    status = demo.fab(inventory, "status")
    assert status.returncode == 0 and releases["v1"] in status.stdout, status.output


def test_a_redeploy_reuses_the_built_release_and_prunes_old_ones(fleet):
    inventory, (host,), releases = fleet
    result, load = under_load(host, inventory, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert "present, skipped" in result.stdout
    assert_no_failures(load)
    assert served(host) == ("green", releases["v2"], "2.0.0")
    # kept: the live and the previous release, and keep_releases (1) newest other
    kept = sb.run_in(host, "ls /srv/pyexample/releases").stdout.split()
    assert releases["v1"] in kept and releases["v2"] in kept and len(kept) == 3, kept
    assert "prune: removed 2 old" in result.stdout


def test_a_split_serves_both_units_and_promote_moves_everything(fleet):
    inventory, (host,), releases = fleet
    result, load = under_load(host, inventory, "split", "--blue", "50")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert units(host) == {"blue": "active enabled", "green": "active enabled"}
    seen = {served(host)[0] for _ in range(40)}
    assert seen == {"blue", "green"}
    result, load = under_load(host, inventory, "promote")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert served(host) == ("blue", releases["v1"], "1.0.0")
    assert units(host) == {"blue": "active enabled", "green": "inactive disabled"}


def test_remove_takes_the_units_the_system_user_and_with_volumes_the_state(fleet):
    inventory, (host,), releases = fleet
    assert sb.run_in(host, "id -u bg-pyexample", check=False).returncode == 0
    result = demo.fab(inventory, "remove", "--yes", "--volumes")
    assert result.returncode == 0, result.output
    left = sb.run_in(host, "id -u bg-pyexample; ls /var/lib/bluegreen-pyexample", check=False)
    assert "no such user" in left.stderr and "No such file" in left.stderr, left
    assert units(host) == {"blue": "inactive", "green": "inactive"}  # no unit file left
