"""The fleet state machine against scripted fake hosts: no SSH, no root, no sleeps.

Each case runs a real ``deploy``/``rollback``/``switch`` over 2–3 ``FakeHost`` models with
one fault injected by name, and asserts the result, the commands each host was sent, where
every host ended (the fleet invariant: each host serves the new release, or exactly what
it served before — never something else, never a stopped container), its history line and
lock, the summary table and the verdict line.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bluegreen import transport
from bluegreen.config.inventory import (
    App,
    Balancer,
    ContainerOptions,
    Drain,
    Health,
    Host,
    Inventory,
    Ports,
    Watch,
)

# --- the engine surface this module depends on: one place to fix when things move ----------
from bluegreen.engine import checks, locking, watch
from bluegreen.engine.state import Options
from bluegreen.engine.switcher import Switcher
from bluegreen.errors import BugFound, Refused
from bluegreen.facts.traffic import Split, Traffic
from bluegreen.local import source
from bluegreen.ops.deploy import deploy
from bluegreen.ops.serve import rollback, switch
from bluegreen.ops.split import abort, promote, split
from bluegreen.ops.status import read_status
from bluegreen.output.events import JsonLog
from bluegreen.output.log import Log
from bluegreen.shell.lock import LockInfo
from bluegreen.testing.remote import Container, FakeHost, VirtualClock, hosts_by_name

# checks' polling (health interval, the verify window and its fixed 10 s deadline) runs on a
# virtual clock; the watch's poll interval (a module constant, 1 s) is made short
CLOCKED = checks
WATCH_POLL = (watch, "POLL")
# ------------------------------------------------------------------------------------------

OLD = "0123456789ab"  # live (blue) on every host at the start
PREV = "00000000cafe"  # the release before it, kept stopped in green
SECRET = "s3cr3t-value"
NAMES = ("web1", "web2")
SHOP = "shop.example.test"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, str]:
    """A tiny local checkout with a Dockerfile (``source: upload``); its HEAD is the release."""
    path = tmp_path_factory.mktemp("app")
    (path / "Dockerfile").write_text("FROM scratch\n")
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "Dockerfile"], check=True)
    subprocess.run([*git, "commit", "-qm", "v2"], check=True)
    head = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True)
    return path, head.stdout.decode().strip()


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(CLOCKED, "time", VirtualClock())
    monkeypatch.setattr(*WATCH_POLL, 0.005)


def inventory(
    tmp_path: Path, repo: Path, names=NAMES, watch_seconds: float = 0.0, switch_mode="auto"
) -> Inventory:
    app = App(
        name="web",
        repo=str(repo),
        env={"BIND": "127.0.0.1"},
        secrets={"SECRET_KEY": SECRET},
        health=Health(attempts=3, interval=0.01, timeout=0.1),
        drain=Drain(0, 0),
        watch=Watch(seconds=watch_seconds, min_requests=5),
    )
    hosts = {
        n: Host(name=n, address=f"203.0.113.{i}", switch_mode=switch_mode)
        for i, n in enumerate(names, 1)
    }
    return Inventory(tmp_path / "hosts.yml", app, Ports(), hosts=hosts, groups={})


def fleet(names=NAMES, mode="file", faults=None, **kw) -> dict[str, FakeHost]:
    """Hosts serving blue OLD with PREV stopped in green; ``faults``: host -> fault names."""
    faults = faults or {}
    return {
        n: FakeHost(
            n,
            kw.get("live", Traffic("blue", OLD)),
            mode=mode,
            containers=kw.get("containers", {"green": Container(PREV, running=False)}),
            fail=faults.get(n, ()),
            **{k: v for k, v in kw.items() if k not in ("live", "containers")},
        )
        for n in names
    }


@dataclass
class Outcome:
    ok: bool
    out: str
    fakes: dict[str, FakeHost]

    def rows(self) -> dict[str, tuple[str, str, int]]:
        """The summary table: host -> (result, serves, ssh round trips)."""
        lines = self.out.splitlines()
        start = next(i for i, line in enumerate(lines) if re.match(r"host\s+result\s+serves", line))
        rows = {}
        for line in lines[start + 1 :]:
            if line.startswith("phases:"):
                break
            host, result, serves, trips = re.split(r"\s{2,}", line)
            rows[host] = (result, serves, int(trips))
        return rows


def run(monkeypatch, fakes, operation, inv, *args, out=None, **options) -> Outcome:
    monkeypatch.setattr(transport, "connect", hosts_by_name(fakes.values()))
    out = out or io.StringIO()
    log = Log(stream=out, width=6, secrets={SECRET})
    hosts = [inv.hosts[name] for name in fakes]
    if operation is deploy:
        ok = deploy(inv, hosts, "HEAD", log, options=Options(**options))
    else:
        ok = operation(inv, hosts, *args, log, Options(**options))
    for fake in fakes.values():
        assert fake.unknown == [], f"{fake.name} got commands the fake does not know"
    return Outcome(ok, out.getvalue(), fakes)


def running(fake: FakeHost) -> dict[str, str]:
    return {c: k.release for c, k in fake.containers.items() if k.running}


def assert_finished(result: Outcome, name: str, outcome: str) -> None:
    """The host's run ended: one history line with its result, its lock given back."""
    fake = result.fakes[name]
    assert [r["result"] for r in fake.new_history()] == [outcome], name
    assert fake.lock is None, name
    assert fake.kinds[-1] == "history", name


# --- the failure table: deploy over 2 hosts, one fault, all at once or one batch per host -----

SWITCHED, REVERTED, UNCHANGED, FAILED = "switched", "reverted", "unchanged", "failed"
ATTENTION = "needs attention"
STAGE = ["probe", "upload", "build", "run"]
# How a host's part went -> (its result, the commands it was sent, watch reads left out).
ROLES = {
    "switched": (SWITCHED, [*STAGE, "nginx", "drain", "history"]),
    "reverted": (REVERTED, [*STAGE, "nginx", "nginx", "busy", "restore", "history"]),
    "cleaned up": (UNCHANGED, [*STAGE, "restore", "history"]),  # its batch failed before a switch
    "unhealthy": (FAILED, [*STAGE, "logs", "restore", "history"]),
    "build failed": (FAILED, ["probe", "upload", "build", "history"]),
    "nginx -t failed": (FAILED, [*STAGE, "nginx", "restore", "history"]),  # its files kept
    "not started": (UNCHANGED, ["probe", "history"]),  # preflight failed, or a later batch
    "unreachable": (FAILED, []),
    # its revert failed: nothing is undone (the new color may be what nginx serves)
    "revert failed": (ATTENTION, [*STAGE, "nginx", "nginx", "history"]),
}
# The engine never read an unreachable host's facts, so it does not know what it serves.
UNREACHED_SERVES = "unknown (not reached)"

TABLE = [
    # fault, on host, --batch, (web1, web2)
    (None, None, None, ("switched", "switched")),
    (None, None, "1", ("switched", "switched")),
    ("connect", "web2", None, ("not started", "unreachable")),
    ("connect", "web1", "1", ("unreachable", "not started")),
    ("build", "web2", None, ("cleaned up", "build failed")),
    ("build", "web1", "1", ("build failed", "not started")),
    ("build", "web2", "1", ("switched", "build failed")),
    ("health", "web2", None, ("cleaned up", "unhealthy")),
    ("health", "web1", "1", ("unhealthy", "not started")),
    ("health", "web2", "1", ("switched", "unhealthy")),
    ("nginx -t", "web2", None, ("reverted", "nginx -t failed")),
    ("nginx -t", "web2", "1", ("switched", "nginx -t failed")),
    ("verify", "web2", None, ("reverted", "reverted")),
    ("verify", "web1", "1", ("reverted", "not started")),
    ("verify", "web2", "1", ("switched", "reverted")),
    ("watch", "web2", None, ("reverted", "reverted")),
    ("watch", "web1", "1", ("reverted", "not started")),
    ("watch", "web2", "1", ("switched", "reverted")),
    # the SSH session drops right after the switch: verify fails; one reconnect before the
    # revert, the undo and the finish puts the host back and gives its lock back
    ("drop", "web2", None, ("reverted", "reverted")),
    ("drop", "web2", "1", ("switched", "reverted")),
    # the disk fills during the watch: the revert's write fails (faults joined by "+")
    ("watch+revert", "web2", None, ("reverted", "revert failed")),
    ("watch+revert", "web1", "1", ("revert failed", "not started")),
    ("watch+revert", "web2", "1", ("switched", "revert failed")),
]


@pytest.mark.parametrize("mode", ["file", "reload"])
@pytest.mark.parametrize(("fault", "where", "batch", "roles"), TABLE)
def test_a_deploy_ends_every_host_on_the_new_release_or_on_exactly_what_it_served(
    monkeypatch, tmp_path, repo, mode, fault, where, batch, roles
):
    """... or, where its revert failed, on whatever nginx still serves with both colors
    running (never a stopped or removed color behind nginx), reported as needing attention."""
    path, new = repo
    faults = fault.split("+") if fault else []
    fakes = fleet(mode=mode, faults={where: faults} if fault else None)
    inv = inventory(
        tmp_path, path, watch_seconds=0.02 if fault in (None, "watch") or "watch" in faults else 0
    )
    result = run(monkeypatch, fakes, deploy, inv, batch=batch)

    rows = result.rows()
    for name, role in zip(NAMES, roles, strict=True):
        fake, (outcome, sent) = result.fakes[name], ROLES[role]
        serves = (
            Traffic("green", new) if role in ("switched", "revert failed") else Traffic("blue", OLD)
        )
        # the model: the public port serves the new release or exactly the old one, and the
        # container behind it runs; nothing else runs (but the old color after a failed revert)
        assert fake.serving() == serves, name
        both = {"blue": OLD, "green": new}
        expected_running = both if role == "revert failed" else {serves.color: serves.release}
        assert running(fake) == expected_running, (name, fake.containers)
        assert [kind for kind in fake.kinds if kind != "log"] == sent, (name, fake.kinds)
        if role == "switched":
            assert fake.containers["blue"] == Container(OLD, running=False), name  # kept
        elif role != "revert failed":  # the new container is gone; the rollback target is back
            assert fake.containers["green"] == Container(PREV, running=False), name
        aside = {"green": Container(PREV, running=False)} if role == "revert failed" else {}
        assert fake.aside == aside, name  # nothing left set aside but by a failed revert
        if role != "unreachable":
            assert_finished(result, name, outcome)
        # the summary table; its round trips are what the host was sent
        described = UNREACHED_SERVES if role == "unreachable" else serves.describe()
        if role == "revert failed":
            described += ", both colors kept running"
        assert rows[name] == (outcome, described, len(fake.sent)), name

    assert result.ok is (fault is None)
    verdict = "✅ done" if fault is None else "❌ failed: every host serves what the table says"
    attention = [name for name, role in zip(NAMES, roles, strict=True) if role == "revert failed"]
    if attention:
        verdict = (f"❌ failed: {', '.join(attention)} needs attention (its revert failed;"
                   " nothing was stopped there: docs/guides/recovery.md); every other host serves"
                   " what the table says")  # fmt: skip
    assert result.out.rstrip().splitlines()[-1] == verdict
    assert ("❌ nothing changed" in result.out) == (fault == "connect")
    if fault:
        assert re.search(rf"^{where}\s+❌", result.out, re.M), result.out
    if "reverted" in roles:
        assert f"✅ revert: port 4000 serves blue {OLD}" in result.out
    if batch:
        started = sum(role != "not started" for role in roles) if fault != "connect" else 0
        assert result.out.count("batch ") == started, result.out
    assert SECRET not in result.out


# --- faults the table does not cover ----------------------------------------------------------


def test_a_revert_whose_wait_for_busy_connections_fails_still_reverts(monkeypatch, tmp_path, repo):
    """Traffic is back when the wait runs: its failure is a warning, the new color is
    still removed and the host ends reverted."""
    path, _ = repo
    fakes = fleet(faults={"web1": ["verify", "busy"]})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path))
    fake = result.fakes["web1"]
    assert fake.serving() == Traffic("blue", OLD)
    assert running(fake) == {"blue": OLD}
    assert re.search(r"^web1\s+⚠️\s+revert: not waited for busy connections", result.out, re.M)
    assert_finished(result, "web1", "reverted")


def test_a_host_locked_by_someone_else_stops_everything_before_any_change(
    monkeypatch, tmp_path, repo
):
    theirs = LockInfo("alice@laptop", 4242, "deploy", "2026-12-01T10:00:00+00:00",
                      int(time.time()) + 600, "their-token")  # fmt: skip
    fakes = fleet()
    fakes["web2"].lock = theirs
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0]))

    assert result.ok is False
    assert re.search(
        r"^web2\s+❌ locked by alice@laptop \(pid 4242, deploy since", result.out, re.M
    )
    assert "❌ nothing changed" in result.out
    assert fakes["web2"].lock == theirs and fakes["web2"].kinds == ["probe"]  # theirs, kept
    assert_finished(result, "web1", UNCHANGED)
    assert fakes["web1"].kinds == ["probe", "history"]
    assert result.rows() == {
        "web1": (UNCHANGED, f"blue {OLD}", 2),
        "web2": (FAILED, f"blue {OLD}", 1),
    }


def test_an_expired_lock_is_taken_over_with_a_warning(monkeypatch, tmp_path, repo):
    expired = LockInfo("bob@ci", 1, "deploy", "2026-01-01T00:00:00+00:00", 1, "old-token")
    fakes = fleet(names=("web1",), lock=expired)
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0], names=("web1",)))

    assert result.ok, result.out
    assert "took over the expired lock of bob@ci" in result.out
    assert fakes["web1"].kinds[:2] == ["probe", "take over"]
    assert_finished(result, "web1", SWITCHED)


def test_a_failed_drain_after_a_verified_switch_leaves_the_host_switched(
    monkeypatch, tmp_path, repo
):
    """The switch was verified, so nothing is put back: the host serves the new release, the
    old color is left running with a warning, and the deploy succeeded."""
    path, new = repo
    fakes = fleet(faults={"web2": ["drain"]})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path))

    for name in NAMES:
        assert fakes[name].serving() == Traffic("green", new), name
        assert fakes[name].kinds.count("nginx") == 1, name  # no revert
    assert running(fakes["web1"]) == {"green": new}
    assert running(fakes["web2"]) == {"blue": OLD, "green": new}  # old color not stopped
    assert re.search(
        r"^web2\s+⚠️\s+drain failed \(exit 1\).*the old color still runs", result.out, re.M
    ), result.out
    assert_finished(result, "web1", SWITCHED)
    assert_finished(result, "web2", SWITCHED)
    assert result.rows()["web2"][:2] == (SWITCHED, f"green {new}")
    assert result.out.rstrip().endswith("✅ done")
    assert result.ok is True


def test_a_failure_in_the_second_batch_leaves_the_first_switched(monkeypatch, tmp_path, repo):
    path, new = repo
    names = ("web1", "web2", "web3")
    fakes = fleet(names=names, faults={"web3": ["health"]})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path, names=names), batch="2")

    assert result.ok is False
    assert "batch 1/2: web1, web2" in result.out and "batch 2/2: web3" in result.out
    assert {n: fakes[n].serving() for n in names} == {
        "web1": Traffic("green", new),
        "web2": Traffic("green", new),
        "web3": Traffic("blue", OLD),
    }
    assert fakes["web3"].kinds == ["probe", "upload", "build", "run", "logs", "restore", "history"]
    assert [row[0] for row in result.rows().values()] == [SWITCHED, SWITCHED, FAILED]
    assert "port 4002 not healthy after 3 attempt(s); last: HTTP 503 'starting'" in result.out


def test_a_batch_that_is_not_a_number_is_refused_before_any_host_is_touched(
    monkeypatch, tmp_path, repo
):
    fakes = fleet()
    with pytest.raises(Refused, match="--batch must be a number of hosts"):
        run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0]), batch="x")
    for name in NAMES:
        assert fakes[name].kinds == [] and fakes[name].lock is None
        assert fakes[name].new_history() == []
        assert fakes[name].serving() == Traffic("blue", OLD)


def test_bridge_networking_on_a_dockerd_without_a_bridge_is_refused_in_preflight(
    monkeypatch, tmp_path, repo
):
    """docker ignores -p without its bridge: the app would be unreachable after every health
    attempt. Refused before anything changes, naming the setting."""
    fakes = fleet(docker_bridge="no")
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0]))
    assert result.ok is False
    assert "has no bridge network" in result.out and "hosts.web1.network: host" in result.out
    for name in NAMES:
        assert fakes[name].kinds == ["probe", "history"], fakes[name].kinds
        assert fakes[name].serving() == Traffic("blue", OLD)


@pytest.mark.parametrize(
    ("operation", "args"), [(deploy, ()), (rollback, ()), (switch, ("green",))]
)
def test_a_process_app_on_a_host_without_systemd_is_refused_in_preflight(
    monkeypatch, tmp_path, repo, operation, args
):
    """runtime: process on a host whose init is not systemd: one line naming the host, before
    anything is uploaded or started (systemctl would fail only with the release staged)."""
    fakes = fleet(systemd="no")
    fakes["web1"].systemd = "yes"
    base = inventory(tmp_path, repo[0])
    app = dataclasses.replace(base.app, runtime="process", command="exec ./server")
    result = run(monkeypatch, fakes, operation, dataclasses.replace(base, app=app), *args)
    assert result.ok is False
    assert "host web2 runs no systemd, and runtime: process runs each color" in result.out
    assert "host web1 runs no" not in result.out
    for name in NAMES:
        assert fakes[name].kinds == ["probe", "history"], fakes[name].kinds
        assert fakes[name].serving() == Traffic("blue", OLD)


# --- what reaches the host ---------------------------------------------------------------------


def test_the_env_goes_to_the_container_on_stdin_never_into_a_command_or_the_log(
    monkeypatch, tmp_path, repo
):
    fakes = fleet(names=("web1",))
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0], names=("web1",)))
    assert result.ok
    (start,) = [s for s in fakes["web1"].sent if s.kind == "run"]
    assert start.stdin == f"BIND=127.0.0.1\nSECRET_KEY={SECRET}\n"
    assert all(SECRET not in command for _, command in fakes["web1"].commands)
    assert SECRET not in result.out


def test_a_present_image_is_not_built_again(monkeypatch, tmp_path, repo):
    path, new = repo
    fakes = fleet(names=("web1",), images=[new])
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path, names=("web1",)))
    assert result.ok
    assert fakes["web1"].kinds == ["probe", "run", "nginx", "drain", "history"]
    assert f"build: image web:{new} present, skipped" in result.out


@pytest.mark.parametrize(
    ("mode", "renamed"), [("file", "state file renamed"), ("core", "state link renamed")]
)
def test_a_second_switch_in_file_or_core_mode_only_renames_the_state(
    monkeypatch, tmp_path, repo, mode, renamed
):
    """The first switch installs the site (and reloads); a later one is one rename, no reload."""
    path, new = repo
    fakes = fleet(names=("web1",), mode=mode)
    inv = inventory(tmp_path, path, names=("web1",), switch_mode=mode)
    assert run(monkeypatch, fakes, deploy, inv).ok
    reloads = fakes["web1"].nginx.reloads
    result = run(monkeypatch, fakes, rollback, inv)

    assert result.ok, result.out
    assert f"switch: {renamed}, no reload, live = blue" in result.out
    assert fakes["web1"].nginx.reloads == reloads
    (install,) = [c for w, c in fakes["web1"].commands[-4:] if "nginx" in w]
    assert "nginx -s reload" not in install and "nginx -t" not in install


def test_a_first_deploy_installs_the_site_with_its_first_live_color(monkeypatch, tmp_path, repo):
    path, new = repo
    fakes = fleet(names=("web1",), live=None, containers={})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path, names=("web1",)))
    assert result.ok, result.out
    assert fakes["web1"].serving() == Traffic("blue", new)  # blue: the idle color of a new host
    assert fakes["web1"].kinds == ["probe", "upload", "build", "run", "nginx", "history"]


def test_a_failed_first_deploy_takes_its_site_away_again(monkeypatch, tmp_path, repo):
    path, _ = repo
    fakes = fleet(names=("web1",), live=None, containers={}, faults={"web1": ["verify"]})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path, names=("web1",)))
    assert result.ok is False
    assert "revert: site removed (nothing served before)" in result.out
    assert fakes["web1"].nginx.files == {} and fakes["web1"].containers == {}
    assert fakes["web1"].kinds[-3:] == ["uninstall", "restore", "history"]
    assert result.rows()["web1"][:2] == (REVERTED, "nothing")


def test_an_unreachable_host_is_not_said_to_serve_nothing(monkeypatch, tmp_path, repo):
    fakes = fleet(faults={"web2": ["connect"]})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0]))
    assert result.rows()["web2"][:2] == (FAILED, "unknown (not reached)")


# --- rollback and switch ----------------------------------------------------------------------


def test_rollback_starts_the_kept_color_switches_and_stops_the_other(monkeypatch, tmp_path, repo):
    fakes = fleet(live=Traffic("green", OLD), containers={"blue": Container(PREV, running=False)})
    result = run(monkeypatch, fakes, rollback, inventory(tmp_path, repo[0]))

    assert result.ok, result.out
    for name in NAMES:
        fake = fakes[name]
        assert fake.serving() == Traffic("blue", PREV)
        assert running(fake) == {"blue": PREV}
        assert fake.kinds == ["probe", "start", "nginx", "drain", "history"]
        assert_finished(result, name, SWITCHED)
    assert result.out.rstrip().endswith("✅ done")


@pytest.mark.parametrize("fault", ["health", "verify", "build"])
@pytest.mark.parametrize("then", ["switch", "rollback"])
def test_after_a_failed_deploy_the_kept_color_serves_again_at_once(
    monkeypatch, tmp_path, repo, fault, then
):
    """The acceptance case: the container kept for rollback survives a failed deploy into its
    color, so switching to it is a start of that same container: no re-create, no build."""
    fakes = fleet(faults={name: [fault] for name in NAMES})
    inv = inventory(tmp_path, repo[0])
    assert run(monkeypatch, fakes, deploy, inv).ok is False
    for fake in fakes.values():
        assert fake.containers["green"] == Container(PREV, running=False)
        fake.fail.clear()
        fake.sent.clear()
    result = run(monkeypatch, fakes, *((switch, inv, "green") if then == "switch" else
                                       (rollback, inv)))  # fmt: skip

    assert result.ok, result.out
    for name, fake in fakes.items():
        assert fake.kinds == ["probe", "start", "nginx", "drain", "history"], name
        assert fake.serving() == Traffic("green", PREV) and running(fake) == {"green": PREV}


def test_a_rollback_whose_revert_fails_keeps_the_color_it_started(monkeypatch, tmp_path, repo):
    """Rollback's undo stops the color it started: after a failed revert that color may be
    what nginx serves, so it keeps running and the host needs attention."""
    fakes = fleet(names=("web1",), faults={"web1": ["watch", "revert"]})
    inv = inventory(tmp_path, repo[0], names=("web1",), watch_seconds=0.02)
    result = run(monkeypatch, fakes, rollback, inv)

    fake = fakes["web1"]
    assert result.ok is False
    assert fake.serving() == Traffic("green", PREV)
    assert running(fake) == {"blue": OLD, "green": PREV}  # nothing stopped
    assert [k for k in fake.kinds if k != "log"] == ["probe", "start", "nginx", "nginx", "history"]
    assert_finished(result, "web1", ATTENTION)
    assert fake.new_history()[0]["serves"] == f"green {PREV}, both colors kept running"
    assert result.rows()["web1"][:2] == (ATTENTION, f"green {PREV}, both colors kept running")
    assert re.search(r"^web1\s+⚠️\s+needs attention: its revert failed", result.out, re.M)


def test_a_first_deploy_whose_site_cannot_be_removed_keeps_its_new_color(
    monkeypatch, tmp_path, repo
):
    path, new = repo
    fakes = fleet(names=("web1",), live=None, containers={}, faults={"web1": ["watch", "revert"]})
    inv = inventory(tmp_path, path, names=("web1",), watch_seconds=0.02)
    result = run(monkeypatch, fakes, deploy, inv)

    fake = fakes["web1"]
    assert result.ok is False
    assert fake.serving() == Traffic("blue", new) and running(fake) == {"blue": new}
    assert "restore" not in fake.kinds
    assert result.rows()["web1"][:2] == (ATTENTION, f"blue {new}, blue kept running")


def test_the_json_summary_names_the_hosts_that_need_attention(monkeypatch, tmp_path, repo):
    fakes = fleet(faults={"web2": ["watch", "revert"]})
    monkeypatch.setattr(transport, "connect", hosts_by_name(fakes.values()))
    out = io.StringIO()
    inv = inventory(tmp_path, repo[0], watch_seconds=0.02)
    assert deploy(inv, list(inv.hosts.values()), "HEAD", JsonLog(stream=out)) is False
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["verdict"] == "failed"
    assert summary["needs_attention"] == ["web2"]
    results = {row["host"]: row["result"] for row in summary["hosts"]}
    assert results == {"web1": REVERTED, "web2": ATTENTION}


def test_undo_starts_a_kept_warm_standby_again(monkeypatch, tmp_path, repo):
    fakes = fleet(faults={"web1": ["health"]}, containers={"green": Container(PREV)})
    assert run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0])).ok is False
    for fake in fakes.values():
        assert running(fake) == {"blue": OLD, "green": PREV} and fake.aside == {}


def test_a_switched_deploy_drops_the_container_it_set_aside(monkeypatch, tmp_path, repo):
    path, new = repo
    fakes = fleet(names=("web1",))
    assert run(monkeypatch, fakes, deploy, inventory(tmp_path, path, names=("web1",))).ok
    finish = fakes["web1"].commands[-1][1]
    assert finish.startswith("docker rm -f web-green-prev >/dev/null 2>&1 || true; ")
    assert fakes["web1"].aside == {} and fakes["web1"].containers["green"].release == new


def test_rollback_with_nothing_to_go_back_to_is_refused(monkeypatch, tmp_path, repo):
    fakes = fleet(containers={})
    result = run(monkeypatch, fakes, rollback, inventory(tmp_path, repo[0]))

    assert result.ok is False
    for name in NAMES:
        assert re.search(rf"^{name}\s+❌ no green container \(web-green\)", result.out, re.M)
        assert fakes[name].kinds == ["probe", "history"]
        assert_finished(result, name, FAILED)
    assert "❌ nothing changed" in result.out


def test_rollback_runs_the_last_verified_release_again_when_its_container_is_gone(
    monkeypatch, tmp_path, repo
):
    history = [{"release": PREV, "result": "switched"}, {"release": OLD, "result": "switched"}]
    fakes = fleet(names=("web1",), containers={}, images=[PREV], history=history)
    result = run(monkeypatch, fakes, rollback, inventory(tmp_path, repo[0], names=("web1",)))

    assert result.ok, result.out
    assert "web-green is gone; running 00000000cafe" in result.out
    assert fakes["web1"].kinds == ["probe", "image", "run", "nginx", "drain", "history"]
    assert fakes["web1"].serving() == Traffic("green", PREV)


def test_a_switch_to_the_live_color_changes_nothing(monkeypatch, tmp_path, repo):
    fakes = fleet()
    result = run(monkeypatch, fakes, switch, inventory(tmp_path, repo[0]), "blue")

    assert result.ok, result.out
    for name in NAMES:
        assert re.search(rf"^{name}\s+✅ blue is already live", result.out, re.M)
        assert fakes[name].kinds == ["probe", "history"]
        assert_finished(result, name, "already live")
        assert fakes[name].serving() == Traffic("blue", OLD)
    assert result.out.rstrip().endswith("✅ done")


def test_a_switch_whose_verification_fails_stops_the_color_it_started(monkeypatch, tmp_path, repo):
    fakes = fleet(faults={"web1": ["verify"]})
    result = run(monkeypatch, fakes, switch, inventory(tmp_path, repo[0]), "green")

    assert result.ok is False
    for name in NAMES:
        fake = fakes[name]
        assert fake.serving() == Traffic("blue", OLD)
        assert running(fake) == {"blue": OLD}  # green started, checked, stopped again (kept)
        assert fake.containers["green"].release == PREV
        assert fake.kinds == ["probe", "start", "nginx", "nginx", "busy", "stop", "history"], name
        assert_finished(result, name, REVERTED)


def test_an_unfinished_switch_is_trusted_by_what_the_public_port_serves(
    monkeypatch, tmp_path, repo
):
    """A session died between renaming the include and reloading: the files say green, nginx
    serves blue. Blue is live, so green is the color to deploy into."""
    path, new = repo
    fakes = fleet(names=("web1",), mode="reload")
    nginx_model = fakes["web1"].nginx
    nginx_model.files[nginx_model.live] = f"# bluegreen live=green release={PREV}\n"  # no reload
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path, names=("web1",)))

    assert result.ok, result.out
    assert f"nginx serves blue {OLD}, its files say green {PREV}" in result.out
    assert fakes["web1"].serving() == Traffic("green", new)
    assert running(fakes["web1"]) == {"green": new}


@pytest.mark.parametrize("mode", ["file", "reload"])
def test_split_then_promote_then_a_split_that_is_aborted(monkeypatch, tmp_path, repo, mode):
    fakes = fleet(mode=mode)
    inv = inventory(tmp_path, repo[0])

    result = run(monkeypatch, fakes, split, inv, "green", 10, False)
    assert result.ok, result.out
    both = Traffic("blue", OLD, Split("green", PREV, 10))
    for fake in fakes.values():
        assert fake.serving() == both and running(fake) == {"blue": OLD, "green": PREV}
        assert fake.kinds == ["probe", "start", "nginx", "history"]  # nothing drained
    assert result.rows()["web1"][:2] == (SWITCHED, both.describe())

    result = run(monkeypatch, fakes, deploy, inv)
    assert result.ok is False and "`fab promote` or `fab abort` first" in result.out

    result = run(monkeypatch, fakes, promote, inv)
    assert result.ok, result.out
    for fake in fakes.values():
        assert fake.serving() == Traffic("green", PREV) and running(fake) == {"green": PREV}

    assert run(monkeypatch, fakes, split, inv, "blue", 20, True).ok
    assert fakes["web1"].serving() == Traffic("green", PREV, Split("blue", OLD, 20, sticky=True))
    result = run(monkeypatch, fakes, abort, inv)
    assert result.ok, result.out
    for name, fake in fakes.items():
        assert fake.serving() == Traffic("green", PREV) and running(fake) == {"green": PREV}
        results = [record["result"] for record in fake.new_history()]
        assert results == [SWITCHED, FAILED, SWITCHED, SWITCHED, SWITCHED], name


def test_a_split_whose_new_color_is_unhealthy_leaves_it_stopped(monkeypatch, tmp_path, repo):
    fakes = fleet(faults={"web1": ["health"]})
    result = run(monkeypatch, fakes, split, inventory(tmp_path, repo[0]), "green", 10, False)
    assert result.ok is False
    for name, fake in fakes.items():
        assert fake.serving() == Traffic("blue", OLD)
        assert running(fake) == {"blue": OLD}
        assert fake.containers["green"].release == PREV  # stopped again, kept
        assert "nginx" not in fake.kinds and fake.kinds[-2] == "stop", (name, fake.kinds)


# --- dry run ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["file", "reload", "core"])
def test_a_dry_run_reads_facts_and_prints_the_plan_changing_nothing(
    monkeypatch, tmp_path, repo, mode
):
    fakes = fleet(mode=mode)
    before = {n: (f.containers.copy(), f.nginx.files.copy(), f.images.copy()) for n, f in
              fakes.items()}  # fmt: skip
    inv = inventory(tmp_path, repo[0], switch_mode=mode)
    result = run(monkeypatch, fakes, deploy, inv, dry_run=True)

    assert result.ok, result.out
    for name, fake in fakes.items():
        assert fake.kinds == ["probe"]  # the only command run: read-only, no lock taken
        assert "lock=taken" not in fake.commands[0][1]
        assert (fake.containers, fake.nginx.files, fake.images) == before[name]
        assert fake.lock is None and fake.new_history() == []
        plan = result.out.split(f"{name}: plan ({mode} mode)\n", 1)[1]
        for marker in ("# upload", "docker build", "docker run", "nginx -t", "docker stop"):
            assert marker in plan, (name, marker)
    assert result.out.rstrip().endswith("dry run: nothing was changed")


# --- the release command ------------------------------------------------------------------


def with_release(inv: Inventory, **app) -> Inventory:
    return dataclasses.replace(inv, app=dataclasses.replace(inv.app, **app))


def deploy_with(monkeypatch, fakes, inv, skip_release=False, **options) -> Outcome:
    """``run`` for a deploy with deploy-only arguments."""
    monkeypatch.setattr(transport, "connect", hosts_by_name(fakes.values()))
    out = io.StringIO()
    log = Log(stream=out, width=6, secrets={SECRET})
    hosts = [inv.hosts[name] for name in fakes]
    ok = deploy(inv, hosts, "HEAD", log, Options(**options), skip_release=skip_release)
    return Outcome(ok, out.getvalue(), fakes)


def test_the_release_command_runs_once_on_the_first_host_after_the_builds_before_any_start(
    monkeypatch, tmp_path, repo
):
    path, new = repo
    fakes = fleet()
    inv = with_release(inventory(tmp_path, path), release="bin/migrate")
    result = deploy_with(monkeypatch, fakes, inv)

    assert result.ok, result.out
    assert fakes["web1"].kinds == ["probe", "upload", "build", "release", "run", "nginx",
                                   "drain", "history"]  # fmt: skip
    assert fakes["web2"].kinds == [*STAGE, "nginx", "drain", "history"]
    assert fakes["web1"].released == [(new, f"BIND=127.0.0.1\nSECRET_KEY={SECRET}\n")]
    # every build finished before the release command, which finished before any start
    assert re.search(r"build: web:\w+ in .*build: web:\w+ in .*release \| done.*start:",
                     result.out, re.S), result.out  # fmt: skip
    assert re.search(r"^web1\s+·· release \| applying 0042$", result.out, re.M)
    assert re.search(r"^web1\s+✅ release: bin/migrate in \d+\.\d s$", result.out, re.M)
    (record,) = fakes["web1"].new_history()
    assert record["release_command"]["exit"] == 0 and "release_command" not in (
        fakes["web2"].new_history()[0])  # fmt: skip
    assert "release " in result.out.splitlines()[-2]  # the phase is timed


def test_a_failed_release_command_switches_nothing_and_keeps_the_rollback_target(
    monkeypatch, tmp_path, repo
):
    fakes = fleet(faults={"web1": ["release"]})
    inv = with_release(inventory(tmp_path, repo[0]), release=("bin/migrate", "--all"))
    result = deploy_with(monkeypatch, fakes, inv)

    assert result.ok is False
    for name, fake in fakes.items():
        assert fake.serving() == Traffic("blue", OLD) and running(fake) == {"blue": OLD}
        assert fake.containers["green"] == Container(PREV, running=False), name
        assert "run" not in fake.kinds and "nginx" not in fake.kinds, (name, fake.kinds)
        assert_finished(result, name, UNCHANGED if name == "web2" else FAILED)
    assert re.search(
        r"^web1\s+❌ release command failed \(exit 3\): bin/migrate --all\n"
        r"\s+\| applying 0041\n\s+\| applying 0042\n\s+\| migration 0042 failed",
        result.out,
        re.M,
    ), result.out
    assert fakes["web1"].new_history()[0]["release_command"]["exit"] == 3


def test_release_on_all_runs_it_on_every_host_and_skip_release_on_none(monkeypatch, tmp_path, repo):
    path, new = repo
    inv = with_release(inventory(tmp_path, path), release="bin/migrate", release_on="all")
    fakes = fleet()
    assert deploy_with(monkeypatch, fakes, inv).ok
    assert [len(fake.released) for fake in fakes.values()] == [1, 1]

    fakes = fleet()
    result = deploy_with(monkeypatch, fakes, inv, skip_release=True)
    assert result.ok, result.out
    assert all(fake.released == [] for fake in fakes.values())
    assert result.out.count("release: bin/migrate skipped (--skip-release)") == 2
    assert fakes["web1"].new_history()[0]["release_command"] == "skipped"


def test_release_on_a_named_host_runs_there_once_also_with_batches(monkeypatch, tmp_path, repo):
    inv = with_release(inventory(tmp_path, repo[0]), release="bin/migrate", release_on="web2")
    fakes = fleet()
    assert deploy_with(monkeypatch, fakes, inv).ok
    assert [len(fake.released) for fake in fakes.values()] == [0, 1]

    fakes = fleet()
    result = deploy_with(monkeypatch, fakes, inv, batch="1")  # web2 is not in the first batch
    assert result.ok is False
    assert "app.release_on: web2 is not among the hosts this deploy stages first" in result.out
    assert all(fake.serving() == Traffic("blue", OLD) for fake in fakes.values())

    inv = with_release(inv, release_on="first")
    fakes = fleet()
    assert deploy_with(monkeypatch, fakes, inv, batch="1").ok
    assert [len(fake.released) for fake in fakes.values()] == [1, 0]  # once, not per batch


def test_a_dry_run_plans_the_release_command(monkeypatch, tmp_path, repo):
    fakes = fleet(names=("web1",))
    inv = with_release(
        inventory(tmp_path, repo[0], names=("web1",)),
        release="bin/migrate",
        volumes=("web-data:/data",),
        options=ContainerOptions(memory="64m"),
    )
    result = deploy_with(monkeypatch, fakes, inv, dry_run=True)
    assert result.out.count("-v web-data:/data --memory 64m --stop-timeout 10") == 2
    assert result.ok, result.out
    assert fakes["web1"].kinds == ["probe"]
    plan = result.out.split("web1: plan", 1)[1]
    assert plan.index("docker build") < plan.index("--entrypoint /bin/sh") < plan.index(
        "docker run -d")  # fmt: skip


def test_verification_opens_its_channel_with_a_rename_never_before_a_reload(
    monkeypatch, tmp_path, repo
):
    """In file and core mode nginx reads the state per request, so the public port's
    channel may be opened while the rename runs; a reload would leave it on an old worker."""
    path, _ = repo
    for mode, verify in (("file", [4000]), ("core", [4000]), ("reload", [])):
        fakes = fleet(names=("web1",), mode=mode)
        inv = inventory(tmp_path, path, names=("web1",), switch_mode=mode)
        assert run(monkeypatch, fakes, deploy, inv).ok
        assert fakes["web1"].ahead == [], f"{mode}: a first deploy installs its site (reload)"
        assert run(monkeypatch, fakes, rollback, inv).ok
        assert fakes["web1"].ahead == verify, mode


def test_a_running_target_is_health_checked_with_the_facts_a_started_one_after_its_start(
    monkeypatch, tmp_path, repo
):
    path, _ = repo
    inv = inventory(tmp_path, path)
    warm = fleet(containers={"green": Container(PREV)})  # green runs (warm standby)
    result = run(monkeypatch, warm, switch, inv, "green")
    assert result.ok, result.out
    for name in NAMES:
        said = f"{name:6} ✅ health: green HTTP 200 on /health, probed with the facts"
        assert said in result.out, result.out
    cold = fleet()  # green stopped: started, then checked
    result = run(monkeypatch, cold, switch, inv, "green")
    assert result.ok, result.out
    assert "probed with the facts" not in result.out
    assert "health: green HTTP 200 on /health after 1 attempt(s)" in result.out
    unhealthy = fleet(containers={"green": Container(PREV)}, faults={"web2": ("health",)})
    unhealthy["web2"].containers["green"].fresh = True  # its health answers 503
    result = run(monkeypatch, unhealthy, switch, inv, "green")
    assert not result.ok and "web2   ❌ health: green port 4002 not healthy" in result.out
    assert unhealthy["web2"].serving() == Traffic("blue", OLD)
    result = run(monkeypatch, fleet(containers={"green": Container(PREV)}), deploy, inv)
    assert result.ok and "probed with the facts" not in result.out  # a deploy replaces green


def test_a_connection_lost_after_the_probe_took_the_lock_still_gives_it_back(
    monkeypatch, tmp_path, repo
):
    """The lock is taken inside the facts round trip: when its answer is lost, the run does
    not know whether it holds the lock, and gives it back (only if it is its own)."""
    fakes = fleet(names=("web1",), faults={"web1": ["probe"]})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0], names=("web1",)))

    assert result.ok is False
    assert "Connection reset by peer" in result.out
    assert fakes["web1"].lock is None, result.out
    assert fakes["web1"].kinds == ["probe", "unlock"]
    assert fakes["web1"].new_history() == []  # nothing was read, nothing to record


def test_a_switch_refuses_to_act_once_the_lock_is_no_longer_this_runs(monkeypatch, tmp_path, repo):
    """The lock was taken over mid-run (it expired): the switch command itself checks the
    lock, so nginx is never pointed by a run that no longer holds it, and theirs is kept."""
    fakes = fleet(names=("web1",), faults={"web1": ["lock lost"]})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0], names=("web1",)))

    assert result.ok is False
    assert "switch refused: the lock is no longer this run's" in result.out
    assert fakes["web1"].serving() == Traffic("blue", OLD)
    assert fakes["web1"].lock.holder == "other@ci"  # theirs, not released by us
    assert "revert" not in fakes["web1"].kinds  # nothing was switched


def test_a_lock_lost_between_canary_steps_never_leaves_a_share_on_a_removed_color(
    monkeypatch, tmp_path, repo
):
    """The lock is taken over after the canary's first step split the traffic (soak seed
    20261207 #56): the second step's switch is refused, and the host still has the first
    step's split, so the new color must not be removed while nginx sends it a share."""
    fakes = fleet(names=("web1",), faults={"web1": ["lock lost later"]})
    inv = inventory(tmp_path, repo[0], names=("web1",))
    monkeypatch.setattr(transport, "connect", hosts_by_name(fakes.values()))
    out = io.StringIO()
    ok = deploy(inv, [inv.hosts["web1"]], "HEAD", Log(stream=out, width=6), canary="50", hold=0.01)
    fake = fakes["web1"]
    assert ok is False
    assert "switch refused: the lock is no longer this run's" in out.getvalue()
    served = fake.serving()
    assert served is not None
    assert {c: running(fake).get(c) for c in served.releases} == served.releases, out.getvalue()
    assert served == Traffic("blue", OLD)  # its first step was reverted, then green removed
    assert re.search(r"^web1\s+✅ revert: port 4000 serves blue", out.getvalue(), re.M)


# --- behind a load balancer: each batch leaves it before its switch, rejoins after ---------


def balanced(tmp_path: Path, repo: Path, names) -> Inventory:
    inv = inventory(tmp_path, repo, names=names)
    balancer = Balancer(drain=0.01, rejoin=0.01)
    return dataclasses.replace(inv, app=dataclasses.replace(inv.app, balancer=balancer))


def test_each_batch_leaves_the_balancer_before_its_switch_and_rejoins_after(
    monkeypatch, tmp_path, repo
):
    path, new = repo
    names = ("web1", "web2", "web3")
    fakes = fleet(names=names)
    result = run(monkeypatch, fakes, deploy, balanced(tmp_path, path, names), batch="1")

    assert result.ok is True, result.out
    for name, fake in fakes.items():
        kinds = fake.kinds
        assert kinds.index("leave") < kinds.index("nginx") < kinds.index("rejoin"), name
        assert kinds.index("rejoin") < kinds.index("drain"), name  # back in, then old stops
        assert fake.drained is False and fake.serving() == Traffic("green", new)
    out = result.out
    assert out.index("balancer: web1 out of the load balancer") < out.index("batch 2/3")
    assert out.index("balancer: web1 back in the load balancer") < out.index("batch 2/3")


def test_a_batch_whose_switch_fails_rejoins_the_balancer_on_its_old_release(
    monkeypatch, tmp_path, repo
):
    path, new = repo
    names = ("web1", "web2", "web3")
    fakes = fleet(names=names, faults={"web2": ["nginx -t"]})
    result = run(monkeypatch, fakes, deploy, balanced(tmp_path, path, names), batch="1")

    assert result.ok is False
    assert "leave" in fakes["web2"].kinds and fakes["web2"].kinds[-2] == "rejoin"
    assert {n: (f.drained, f.serving()) for n, f in fakes.items()} == {
        "web1": (False, Traffic("green", new)),
        "web2": (False, Traffic("blue", OLD)),
        "web3": (False, Traffic("blue", OLD)),  # a later batch: never started
    }
    assert "leave" not in fakes["web3"].kinds


def test_all_hosts_in_one_batch_do_not_leave_the_balancer(monkeypatch, tmp_path, repo):
    path, _ = repo
    fakes = fleet()
    result = run(monkeypatch, fakes, deploy, balanced(tmp_path, path, NAMES))

    assert result.ok is True
    assert "every host switches in one batch, so none leaves the load balancer" in result.out
    assert all("leave" not in fake.kinds for fake in fakes.values())


def test_a_host_left_out_of_the_balancer_is_named_by_every_change(monkeypatch, tmp_path, repo):
    """A drain mark by hand, or from a run cut off, stays: the change says so."""
    path, _ = repo
    fakes = fleet()
    fakes["web2"].drained = True
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path))
    assert result.ok is True
    mark = "/etc/nginx/bluegreen/web.drain"
    assert f"web2   ⚠️  out of the load balancer ({mark} exists; rm it to rejoin)" in result.out
    assert "web1   ⚠️  out of the load balancer" not in result.out


def test_a_run_longer_than_the_lock_ttl_keeps_its_lock(monkeypatch, tmp_path, repo):
    """``--batch 1`` over two hosts whose builds take over half the lock's TTL each, while
    another run waits for each lock (it takes it over the moment it expires on the host's
    clock): web2's lock would expire during its own build. Each lock's expiry is refreshed
    on the host's clock at phase boundaries, so neither expires: both switch, and each lock
    is given back at the end."""
    path, new = repo
    clock = VirtualClock()
    monkeypatch.setattr(locking, "time", clock)
    faults = {name: ["long build", "waiting rival"] for name in NAMES}
    fakes = fleet(faults=faults, clock=clock)
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path), batch="1")

    assert result.ok, result.out
    assert clock.now - clock.START > locking.LOCK_TTL  # the run did last longer than the TTL
    staged = ["upload", "build", "run", "heartbeat", "nginx", "drain", "history"]
    assert fakes["web1"].kinds == ["probe", *staged]
    assert fakes["web2"].kinds == ["probe", "heartbeat", *staged]  # its batch began late
    for name in NAMES:
        assert fakes[name].serving() == Traffic("green", new)
        assert_finished(result, name, SWITCHED)


def test_a_heartbeat_that_finds_the_lock_taken_puts_the_host_back(monkeypatch, tmp_path, repo):
    """Without the heartbeat's own check the next command would be the first to notice."""
    clock = VirtualClock()
    monkeypatch.setattr(locking, "time", clock)
    fakes = fleet(names=("web1",), faults={"web1": ["long build", "lock lost"]}, clock=clock)
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, repo[0], names=("web1",)))

    fake = fakes["web1"]
    assert result.ok is False
    assert re.search(r"^web1\s+❌ lock: the lock is no longer this run's", result.out, re.M)
    assert fake.kinds == ["probe", "upload", "build", "run", "heartbeat", "restore", "history"]
    assert fake.serving() == Traffic("blue", OLD) and fake.lock.holder == "other@ci"


def test_a_bug_in_bluegreen_is_a_traceback_and_leaves_its_host_as_it_is(
    monkeypatch, tmp_path, repo
):
    """An exception that is not a BluegreenError is a bug: its traceback is printed, its host
    gets no revert and no undo (it keeps serving, both colors run, it needs attention), the
    other hosts are put back as usual, and the change ends by raising ``BugFound`` (fab's
    exit code 3) after its finish on every host."""
    path, new = repo
    fakes = fleet()
    verify = Switcher.verify_target

    def buggy(self, run):
        if run.name == "web2":
            raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
        verify(self, run)

    monkeypatch.setattr(Switcher, "verify_target", buggy)
    with pytest.raises(BugFound, match="a bug in bluegreen on web2"):
        run(monkeypatch, fakes, deploy, inventory(tmp_path, path), out=(out := io.StringIO()))
    text = out.getvalue()

    assert re.search(r"^web2\s+❌ a bug in bluegreen: TypeError: unsupported operand", text, re.M)
    assert "Traceback (most recent call last):" in text and "in buggy" in text
    web1, web2 = fakes["web1"], fakes["web2"]
    assert web1.serving() == Traffic("blue", OLD) and running(web1) == {"blue": OLD}
    assert web2.serving() == Traffic("green", new)  # left as the bug found it, serving
    assert running(web2) == {"blue": OLD, "green": new}
    assert [k for k in web2.kinds if k != "log"] == [*STAGE, "nginx", "history"]
    assert_finished(Outcome(False, text, fakes), "web2", ATTENTION)
    assert_finished(Outcome(False, text, fakes), "web1", REVERTED)


def test_a_host_lost_after_its_switch_needs_attention_and_is_tried_once(
    monkeypatch, tmp_path, repo
):
    """Its session dropped after the switch and it cannot be reached again: one reconnect
    (before the revert) fails, the finish does not wait for it again, and its row says it
    needs attention (its lock stays, with a warning) rather than a plain failure."""
    path, new = repo
    fakes = fleet(faults={"web2": ["lost"]})
    result = run(monkeypatch, fakes, deploy, inventory(tmp_path, path))

    web2 = fakes["web2"]
    assert result.ok is False
    assert web2.opened == 1  # the preflight's connect only: the reconnect was refused
    assert web2.kinds == [*STAGE, "nginx"] and web2.lock is not None
    assert running(web2) == {"blue": OLD, "green": new}
    assert re.search(r"^web2\s+❌ connection to 203.0.113.2 refused", result.out, re.M)
    assert re.search(r"^web2\s+⚠️\s+still unreachable \(see above\); its lock stays", result.out,
                     re.M), result.out  # fmt: skip
    assert result.rows()["web2"][:2] == (ATTENTION, "unknown, both colors kept running")
    assert result.rows()["web1"][:2] == (REVERTED, f"blue {OLD}")


def test_a_host_lost_after_its_switch_still_needs_attention_once_it_is_back(
    monkeypatch, tmp_path, repo
):
    """fab could not reach it to write its needs-attention line (#16 of the soak, seed
    1159434978): the switch's mark, written before nginx changed, stays with the dead run's
    lock, so ``status`` says it needs attention once the host answers again; the next change
    says so too, and its switch (verified, finished) clears the mark."""
    path, new = repo
    fakes = fleet(faults={"web2": ["lost"]})
    inv = inventory(tmp_path, path)
    assert run(monkeypatch, fakes, deploy, inv).ok is False
    web2 = fakes["web2"]
    assert web2.new_history() == [] and web2.nginx.serving() == Traffic("green", new)
    web2.fail.clear()  # the network is back; the fab that lost it has exited
    web2.dropped = False
    ended = subprocess.Popen(["true"])
    ended.wait()
    web2.lock = dataclasses.replace(web2.lock, pid=ended.pid)

    records = attention(inv)
    assert records["web1"] is None
    assert records["web2"], "status does not say that web2 needs attention"
    assert records["web2"] == (
        f"switched by {locking.me()} (pid {os.getpid()}, deploy since {web2.mark.started}),"
        " which never finished there: what serves is unconfirmed"
    )

    again = run(monkeypatch, fakes, switch, inv, "blue")
    assert again.ok, again.out
    assert re.search(r"^web2\s+⚠️\s+left unsettled: switched by .*deploy since", again.out, re.M)
    assert web2.mark is None and web2.nginx.serving() == Traffic("blue", OLD)
    assert attention(inv) == {"web1": None, "web2": None}


def attention(inv: Inventory) -> dict[str, str | None]:
    """What ``status`` says each host needs attention for."""
    records = read_status(inv, list(inv.hosts.values()), Log(io.StringIO()))
    return {record["host"]: record["needs_attention"] for record in records}


def test_the_source_archive_is_made_once_however_many_hosts_ask_at_once(
    monkeypatch, tmp_path, repo
):
    """Every host's build thread asks for the archive at the same moment: one ``git
    archive`` runs, the others wait for it (functools.cache let each one run its own)."""
    made = []
    real = source.archive

    def slow(*args):
        made.append(args)
        time.sleep(0.05)
        return real(*args)

    monkeypatch.setattr(source, "archive", slow)
    names = ("web1", "web2", "web3")
    result = run(monkeypatch, fleet(names=names), deploy, inventory(tmp_path, repo[0], names))
    assert result.ok, result.out
    assert len(made) == 1


def test_each_host_and_run_uploads_under_a_name_of_its_own(monkeypatch, tmp_path, repo):
    """Hosts may share the login user's home (NFS): one upload name for all of them made
    every host's upload fail ("Cannot open", "Failure")."""
    path, new = repo
    fakes = fleet()
    inv = inventory(tmp_path, path)
    assert run(monkeypatch, fakes, deploy, inv).ok
    for fake in fakes.values():
        fake.images.discard(new)  # build again
    assert run(monkeypatch, fakes, rollback, inv).ok and run(monkeypatch, fakes, deploy, inv).ok
    uploads = [s.command for fake in fakes.values() for s in fake.sent if s.kind == "upload"]
    assert len(uploads) == 4 and len(set(uploads)) == 4, uploads
    assert all(f"/.bluegreen/uploads/web-{new}-web" in upload for upload in uploads)


def test_a_revert_never_removes_a_site_that_may_have_been_serving(monkeypatch, tmp_path, repo):
    """The live include is unreadable and the public port cannot be asked (a TLS error), so
    what served before is unknown, not nothing: the failed switch is not undone by removing
    the site (an outage); the host keeps both colors and needs attention."""
    fakes = fleet(names=("web1",), mode="reload", faults={"web1": ["public"]})
    model = fakes["web1"].nginx
    model.files[model.live] = "# not ours\n"  # nginx still runs what it loaded: blue
    result = run(monkeypatch, fakes, switch, inventory(tmp_path, repo[0], names=("web1",)), "green")

    fake = fakes["web1"]
    assert result.ok is False
    assert "uninstall" not in fake.kinds
    assert model.site in model.files
    assert running(fake) == {"blue": OLD, "green": PREV}
    assert re.search(r"^web1\s+❌ revert: what served before is unknown", result.out, re.M)
    assert result.rows()["web1"][0] == ATTENTION


@pytest.mark.parametrize("mode", ["reload", "file"])
def test_a_revert_puts_back_the_site_file_the_switch_replaced(monkeypatch, tmp_path, repo, mode):
    """A new site (a new template, a new certificate) that broke verification must not stay:
    the revert restores the files the switch replaced, not only the color."""
    fakes = fleet(names=("web1",), mode=mode, faults={"web1": ["verify"]})
    model = fakes["web1"].nginx
    before = dict(model.files)
    inv = inventory(tmp_path, repo[0], names=("web1",), switch_mode=mode)
    result = run(monkeypatch, fakes, deploy, inv)

    assert result.ok is False
    assert result.rows()["web1"][0] == REVERTED
    config = [model.site, model.script]  # the live include or state file is written anew
    assert {p: model.files.get(p) for p in config} == {p: before.get(p) for p in config}
    assert model.loaded[model.site] == before[model.site]  # and nginx loaded it
    assert fakes["web1"].nginx.serving() == Traffic("blue", OLD)


def test_every_probe_of_an_app_with_domains_asks_for_its_name_tls_or_not(
    monkeypatch, tmp_path, repo
):
    """Apps sharing port 80 by name each have a server on 127.0.0.1: a probe for localhost
    would read the first app's release (tests/test_render_proxy.py shows it on nginx)."""
    plain = inventory(tmp_path, repo[0])
    named = dataclasses.replace(plain, app=dataclasses.replace(plain.app, domains=(SHOP,)))
    for inv, names in ((plain, {None}), (named, {SHOP})):
        result = run(monkeypatch, fleet(), deploy, inv)
        assert result.ok, result.out
        assert [fake.asked_for for fake in result.fakes.values()] == [names] * len(NAMES)
