"""The operator's hooks around real changes on scripted fake hosts."""

from __future__ import annotations

import dataclasses

from bluegreen.config.inventory import Hooks
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
