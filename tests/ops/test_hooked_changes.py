"""The operator's hooks around real changes on scripted fake hosts."""

from __future__ import annotations

import dataclasses

from bluegreen.config.inventory import Balancer, Hooks
from bluegreen.ops.deploy import deploy
from bluegreen.ops.serve import rollback, switch
from tests.engine.test_change import fast, fleet, inventory, repo, run

__all__ = ["fast", "repo"]  # fixtures used by name


def test_a_failing_before_hook_stops_the_deploy_before_any_host_is_touched(
    monkeypatch, tmp_path, repo
):
    inv = dataclasses.replace(
        inventory(tmp_path, repo[0]), hooks=Hooks(before="echo no; exit 3", failed="echo x")
    )
    fakes = fleet()
    result = run(monkeypatch, fakes, deploy, inv)
    assert not result.ok
    assert "[hook before] ❌ echo no; exit 3: exit 3" in result.out
    assert "❌ the before hook failed: nothing changed on any host" in result.out
    assert "[hook failed]" not in result.out  # nothing was tried
    assert all(fake.opened == 0 and fake.sent == [] for fake in fakes.values())


def test_the_hooks_of_a_switch_run_in_order_and_a_failing_after_hook_only_warns(
    monkeypatch, tmp_path, repo
):
    log = tmp_path / "order"
    record = 'echo "$BLUEGREEN_OPERATION NAME ${BLUEGREEN_RESULT:-}" >> ' + str(log)
    hooks = Hooks(
        before=record.replace("NAME", "before"),
        after_switch=record.replace("NAME", "after_switch"),
        after=f"{record.replace('NAME', 'after')}; exit 5",
        failed=record.replace("NAME", "failed"),
    )
    inv = dataclasses.replace(inventory(tmp_path, repo[0]), hooks=hooks)
    fakes = fleet()
    result = run(monkeypatch, fakes, switch, inv, "green")
    assert result.ok, result.out
    assert "⚠️ " in result.out and ": exit 5" in result.out
    assert log.read_text().splitlines() == [
        "switch before ",
        "switch after_switch ",
        "switch after succeeded",
    ]
    log.unlink()
    failed = run(monkeypatch, fleet(faults={"web2": ["verify"]}), rollback, inv)
    assert not failed.ok
    assert log.read_text().splitlines() == ["rollback before ", "rollback failed reverted"]


def test_batch_hooks_name_each_batch_and_a_failing_before_batch_puts_it_back(
    monkeypatch, tmp_path, repo
):
    """For balancers driven by an API (deregister, register): BLUEGREEN_HOSTS is the batch."""
    log = tmp_path / "batches"
    record = 'echo "NAME $BLUEGREEN_HOSTS" >> ' + str(log)
    names = ("web1", "web2", "web3")
    inv = inventory(tmp_path, repo[0], names=names)
    hooks = Hooks(
        before_batch=record.replace("NAME", "before_batch"),
        after_batch=record.replace("NAME", "after_batch"),
    )
    app = dataclasses.replace(inv.app, balancer=Balancer(drain=0.01, rejoin=0.01))
    inv = dataclasses.replace(inv, app=app, hooks=hooks)
    result = run(monkeypatch, fleet(names=names), deploy, inv, batch="2")
    assert result.ok, result.out
    assert log.read_text().splitlines() == [
        "before_batch web1,web2",
        "after_batch web1,web2",
        "before_batch web3",
        "after_batch web3",
    ]
    log.unlink()
    refusing = dataclasses.replace(hooks, before_batch=f"{hooks.before_batch}; exit 4")
    fakes = fleet(names=names)
    failed = run(monkeypatch, fakes, deploy, dataclasses.replace(inv, hooks=refusing), batch="1")
    assert not failed.ok
    assert "[hook before_batch] ❌" in failed.out
    assert log.read_text().splitlines() == ["before_batch web1", "after_batch web1"]
    assert all(fake.serving() == fakes["web1"].serving() for fake in fakes.values())  # old
    assert not any(fake.drained for fake in fakes.values())
