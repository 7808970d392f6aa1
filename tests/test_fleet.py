import io
import os
import subprocess

import pytest

from bluegreen import checks
from bluegreen.commands.lock import LockInfo
from bluegreen.executor import HttpReply
from bluegreen.facts import HostFacts
from bluegreen.inventory import App, Host, Inventory, Ports
from bluegreen.log import Log
from bluegreen.orchestration.fleet import Fleet, HostRun, Refused, batches, stale, switch_mode
from bluegreen.traffic import Split, Traffic


@pytest.mark.parametrize(
    ("configured", "njs", "expected"),
    [
        ("auto", True, "file"),
        ("auto", False, "reload"),
        ("reload", True, "reload"),
        ("file", True, "file"),
    ],
)
def test_switch_mode_follows_config_and_the_njs_module(configured, njs, expected):
    host = Host(name="web1", address="203.0.113.10", switch_mode=configured)
    assert switch_mode(host, HostFacts(njs=njs)) == expected


def test_file_mode_without_njs_is_refused_before_any_change():
    host = Host(name="web1", address="203.0.113.10", switch_mode="file")
    with pytest.raises(Refused, match="does not load the njs module"):
        switch_mode(host, HostFacts(njs=False))


def _runs(count: int) -> list[HostRun]:
    return [HostRun(Host(name=f"h{i}", address=f"10.0.0.{i}"), remote=None) for i in range(count)]


@pytest.mark.parametrize(
    ("size", "expected"),
    [(None, [5]), ("2", [2, 2, 1]), ("5", [5]), ("9", [5]), ("40%", [2, 2, 1]), ("1%", [1] * 5)],
)
def test_batches_split_hosts_in_order(size, expected):
    runs = _runs(5)
    groups = batches(runs, size)
    assert [len(g) for g in groups] == expected
    assert [run for group in groups for run in group] == runs


@pytest.mark.parametrize("size", ["0", "-1", "x", "%", "0%"])
def test_a_bad_batch_is_refused(size):
    with pytest.raises(Refused, match="--batch must be"):
        batches(_runs(3), size)


def _split_run(**kw) -> HostRun:
    facts = HostFacts(live_color="blue", live_release="r1")
    return HostRun(Host(name="h", address="10.0.0.1"), remote=None, facts=facts, **kw)


def test_the_target_is_the_color_alone_or_its_share_beside_the_live_one():
    run = _split_run(color="green", release="r2")
    assert run.target == Traffic("green", "r2") and run.watched
    run.share, run.sticky = 10, True
    assert run.target == Traffic("blue", "r1", Split("green", "r2", 10, sticky=True))
    assert run.watched


def test_going_back_to_the_live_color_is_not_watched():
    run = _split_run(color="blue", release="r1")  # an abort
    assert run.target == Traffic("blue", "r1") and not run.watched


def _lock(holder: str, pid: int) -> LockInfo:
    return LockInfo(holder, pid, "deploy", "2026-01-01T00:00:00+00:00", 2**40, "t")


@pytest.mark.parametrize(
    ("holder", "running", "expected"),
    [
        ("me@here", False, True),  # our machine, the process is gone: nobody will release it
        ("me@here", True, False),  # still running here: a real concurrent run
        ("me@there", False, False),  # another machine: we cannot know, wait for the expiry
        ("you@here", False, False),  # another user on this machine: same
    ],
)
def test_a_lock_is_stale_only_when_its_process_on_this_machine_is_gone(holder, running, expected):
    assert stale(_lock(holder, 4242), "me@here", lambda pid: running) is expected


def test_a_dead_pid_is_found_dead_and_a_live_one_alive():
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: no such process any more
    assert stale(_lock("me@here", child.pid), "me@here")
    assert not stale(_lock("me@here", os.getppid()), "me@here")


class Public:
    """A remote whose public port answers one color and release (nginx's headers)."""

    def __init__(self, color: str, release: str) -> None:
        self.headers = {checks.COLOR_HEADER: color, checks.RELEASE_HEADER: release}

    def http_get(self, port: int, path: str, timeout: float) -> HttpReply:
        return HttpReply(200, self.headers, "")


def test_what_the_public_port_serves_is_live_when_the_files_say_otherwise(tmp_path):
    """A switch renamed the include to green but nginx never reloaded: blue still serves, so
    blue is live and green is the color to stage into."""
    inv = Inventory(path=tmp_path / "hosts.yml", app=App(name="web"), ports=Ports(), hosts={},
                    groups={})  # fmt: skip
    fleet = Fleet(inv, Log(io.StringIO()), "deploy")
    facts = HostFacts(live_color="green", live_release="r2")
    run = HostRun(Host(name="h", address="10.0.0.1"), remote=Public("blue", "r1"), facts=facts)
    fleet._trust_served(run)
    assert run.facts.traffic == Traffic("blue", "r1") and run.facts.idle_color == "green"
    assert run.unfinished == (
        "nginx serves blue r1, its files say green r2: an earlier switch did not finish"
    )
    agreeing = HostRun(run.host, remote=Public("green", "r2"), facts=facts)
    fleet._trust_served(agreeing)
    assert agreeing.facts is facts and agreeing.unfinished == ""
