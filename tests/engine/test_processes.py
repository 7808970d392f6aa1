"""app.processes in a change: which hosts' processes move, what a stop said, and how a
failure puts them back (a recording remote; the real thing is tests/e2e/test_workers_e2e.py)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from bluegreen.config.inventory import App, AppProcess, Host, Inventory, Ports
from bluegreen.engine.processes import Processes
from bluegreen.engine.state import HostRun
from bluegreen.errors import RemoteError
from bluegreen.facts.traffic import Split
from bluegreen.output.log import Log
from bluegreen.shell import workers

WORKER = AppProcess("worker", "sh worker.sh", ("web1",), stop_timeout=45)
MAILER = AppProcess("mailer", "sh mail.sh")
APP = App(name="shop", processes=(WORKER, MAILER), env={"QUEUE": "jobs"})
HOSTS = {n: Host(name=n, address=f"203.0.113.{i}") for i, n in enumerate(("web1", "web2"), 1)}
INVENTORY = Inventory(Path("hosts.yml"), APP, Ports(), HOSTS, {})


class Recorder:
    """A host session that records each command and answers from a script."""

    def __init__(self, answers: dict[str, str] | None = None, fail: str = "") -> None:
        self.sent: list[tuple[str, str | None, float]] = []
        self.answers = answers or {}
        self.fail = fail

    def run(self, command: str, *, stdin=None, timeout=120, what="command", **kw) -> str:
        self.sent.append((what, stdin, timeout))
        if what == self.fail:
            raise RemoteError("web1", f"{what} failed (exit 1)", "worker did not stay up", 1)
        return self.answers.get(what, "")


def host_run(name: str = "web1", remote: Recorder | None = None) -> HostRun:
    run = HostRun(HOSTS[name], remote or Recorder())  # type: ignore[arg-type]
    run.color, run.release = "green", "abc"
    return run


def processes(dry_run: bool = False) -> tuple[Processes, io.StringIO]:
    out = io.StringIO()
    return Processes(INVENTORY, Log(out), dry_run), out


def test_processes_follow_a_whole_move_to_one_release_not_a_split_nor_maintenance():
    moving, _ = processes()
    run = host_run()
    assert moving.follows(run)
    run.facts = dataclasses.replace(run.facts, live_color="blue", live_release="old")
    run.share = 50
    assert run.target.split == Split("green", "abc", 50, False) and not moving.follows(run)
    run.share, run.maintenance = 100, True
    assert not moving.follows(run)


def test_a_stop_waits_the_longest_stop_timeout_and_remembers_what_each_process_was():
    said = "process_worker=stopped\nprocess_mailer=current\n"
    remote = Recorder({"stop processes": said})
    moving, out = processes()
    run = host_run(remote=remote)
    moving.stop(run)
    assert remote.sent == [("stop processes", None, 45 + 60)]
    assert run.holds.processes == {WORKER: "stopped", MAILER: "current"}
    assert "processes: stopped worker in" in out.getvalue()


def test_a_stop_that_says_nothing_of_a_process_fails_the_host():
    moving, _ = processes()
    with pytest.raises(RemoteError, match="could not stop mailer"):
        moving.stop(host_run(remote=Recorder({"stop processes": "process_worker=stopped\n"})))


def test_the_start_sends_the_env_on_stdin_and_skips_processes_already_on_the_release():
    remote = Recorder()
    moving, out = processes()
    run = host_run(remote=remote)
    run.holds.processes = {WORKER: "stopped", MAILER: "current"}
    moving.start(run)
    assert remote.sent == [("start processes", "QUEUE=jobs\n", 120)]
    assert run.holds.launched == {"worker"}
    assert "processes: worker run abc, up for 2 s" in out.getvalue()


def test_a_failed_start_shows_the_process_s_last_lines():
    moving, _ = processes()
    run = host_run(remote=Recorder(fail="start processes"))
    run.holds.processes = {WORKER: "stopped"}
    with pytest.raises(RemoteError, match=r"start of abc failed\n.*\| worker did not stay up"):
        moving.start(run)


def test_putting_back_restores_started_processes_and_starts_stopped_ones_again(monkeypatch):
    sent = []
    monkeypatch.setattr(Recorder, "run", lambda self, c, **kw: sent.append(c) or "")
    moving, out = processes()
    run = host_run()
    run.holds.processes = {WORKER: "stopped", MAILER: "stopped"}
    run.holds.launched = {"worker"}  # the mailer's start never came (another host failed first)
    moving.restore(run)
    host = HOSTS["web1"]
    assert sent == [
        f"{workers.restore_all(APP, {WORKER: True}, host)};"
        f" {workers.restart_all(APP, {MAILER: True}, host)}"
    ]
    assert run.recorded["processes"] == {"worker": "put back", "mailer": "put back"}
    assert "processes: worker, mailer back on the old release" in out.getvalue()


def test_an_overlapping_process_never_stopped_counts_as_running_when_put_back(monkeypatch):
    sent = []
    monkeypatch.setattr(Recorder, "run", lambda self, c, **kw: sent.append(c) or "")
    run = host_run()
    run.holds.processes, run.holds.launched = {WORKER: "overlap"}, {"worker"}
    processes()[0].restore(run)
    assert sent == [workers.restore_all(APP, {WORKER: True}, HOSTS["web1"])]


def test_nothing_to_put_back_where_the_processes_ran_the_release_or_never_ran(monkeypatch):
    sent = []
    monkeypatch.setattr(Recorder, "run", lambda self, c, **kw: sent.append(c) or "")
    run = host_run()
    run.holds.processes = {WORKER: "current", MAILER: "none"}
    processes()[0].restore(run)
    assert sent == []
