"""A change's part in the state metrics: what the finish writes, what preflight refuses."""

import dataclasses
from pathlib import Path

import pytest

from bluegreen.config.inventory import App, Host, Inventory, Metrics, Ports
from bluegreen.engine import monitoring
from bluegreen.engine.state import Holds, HostRun
from bluegreen.errors import Refused
from bluegreen.facts import Container, HostFacts

INVENTORY = Inventory(
    Path("/x/hosts.yml"), App("shop"), Ports(), {}, {}, metrics=Metrics(textfile_dir="/srv/m")
)
LIVE = HostFacts(
    live_color="blue",
    live_release="r1",
    containers={"blue": Container("running", "r1"), "green": Container("exited", "r0")},
)


def _run(**changes) -> HostRun:
    run = HostRun(Host("web1", "10.0.0.1"), remote=None, facts=LIVE, reached=True)
    return dataclasses.replace(run, **changes)


def test_a_switched_host_is_written_with_its_new_color_and_release():
    run = _run(
        color="green", release="r2", holds=Holds(started=True), outcome="switched", mode="file"
    )
    state = monitoring.state(run, "shop", "deploy")
    assert (state.traffic.color, state.traffic.release) == ("green", "r2")
    assert state.releases == {"blue": "r1", "green": "r2"}
    assert (state.mode, state.operation, state.result) == ("file", "deploy", "switched")


def test_a_failed_host_keeps_what_it_served_and_an_unknown_one_none():
    reverted = monitoring.state(_run(color="green", outcome="reverted"), "shop", "deploy")
    assert reverted.traffic.color == "blue"
    lost = monitoring.state(
        _run(color="green", holds=Holds(nginx=True), outcome="failed"), "shop", "switch"
    )
    assert lost.traffic is None


def test_the_finish_writes_the_state_and_frees_the_lock_metric():
    command = monitoring.finish(INVENTORY, _run(outcome="unchanged"), "rollback")
    assert command.count("mktemp /srv/m/.") == 2
    assert 'mv -f "$t" /srv/m/bluegreen-shop.prom' in command
    assert 'mv -f "$t" /srv/m/bluegreen-shop-lock.prom' in command
    assert 'bluegreen_lock_held{app="shop",host="web1"} 0' in command
    off = dataclasses.replace(INVENTORY, metrics=None)
    assert monitoring.finish(off, _run(), "rollback") == ""
    assert monitoring.preflight(off, _run(), "token") == ""


def test_preflight_marks_the_lock_held_only_when_it_is_ours():
    command = monitoring.preflight(INVENTORY, _run(), "tok123")
    first, second = command.split("\n", 1)
    assert first.startswith("mkdir -p /srv/m 2>/dev/null;")
    assert second.startswith("grep -qs tok123 /srv/app/.lock/info && { t=$(mktemp")
    assert 'bluegreen_lock_held{app="shop",host="web1"} 1' in second


def test_an_unusable_directory_is_refused_with_the_key_and_the_file():
    monitoring.check(INVENTORY, "metrics_dir=ok\n")
    with pytest.raises(Refused) as error:
        monitoring.check(INVENTORY, "live=\nmetrics_dir=no\n")
    assert str(error.value).startswith(
        "metrics.textfile_dir /srv/m: does not exist and cannot be created, or is not writable"
    )
    assert "hosts.yml" in str(error.value)
