"""fab maintenance against scripted fake hosts: the page goes up and down through the
engine (lock, history, verification), and other changes are refused while it is up."""

from __future__ import annotations

import pytest

from bluegreen.errors import Refused
from bluegreen.facts.traffic import Traffic
from bluegreen.ops.deploy import deploy
from bluegreen.ops.maintenance import check_message, maintenance
from bluegreen.ops.serve import switch
from tests.engine.test_change import OLD, PREV, fast, fleet, inventory, repo, run

__all__ = ["fast", "repo"]  # fixtures used by name

DOWN = Traffic("blue", OLD, maintenance=True)


@pytest.mark.parametrize("mode", ["file", "core", "reload"])
def test_maintenance_on_puts_the_escaped_page_up_and_off_takes_it_down(
    monkeypatch, tmp_path, repo, mode
):
    inv = inventory(tmp_path, repo[0], switch_mode=mode)
    fakes = fleet(mode=mode)
    on = run(monkeypatch, fakes, maintenance, inv, True, "Back at <b>10:00</b>")
    assert on.ok, on.out
    for fake in fakes.values():
        assert fake.serving() == DOWN
        assert "Back at &lt;b&gt;10:00&lt;/b&gt;" in fake.nginx.files[fake.nginx.page]
        assert fake.containers["blue"].running  # the containers keep running
        assert [r["maintenance"] for r in fake.new_history()] == ["on"]
        assert fake.lock is None
    assert "port 4000 answers 503 with the maintenance page" in on.out
    reloads = {name: fake.nginx.reloads for name, fake in fakes.items()}  # the site is ours now
    again = run(monkeypatch, fakes, maintenance, inv, True, "New text")
    off = run(monkeypatch, fakes, maintenance, inv, False, None)
    assert again.ok and off.ok, off.out
    for name, fake in fakes.items():
        assert fake.serving() == Traffic("blue", OLD)
        assert fake.nginx.reloads - reloads[name] == (2 if mode == "reload" else 0)


def test_a_deploy_or_switch_is_refused_in_maintenance_unless_forced(monkeypatch, tmp_path, repo):
    path, new = repo
    inv = inventory(tmp_path, path)
    fakes = fleet(live=DOWN)
    refused = run(monkeypatch, fakes, deploy, inv)
    assert not refused.ok
    assert (
        "web1   ❌ host web1 is in maintenance: fab maintenance --off first, or --force to deploy"
        " anyway (its switch takes the maintenance page down)"
    ) in refused.out
    assert all(fake.kinds == ["probe", "history"] for fake in fakes.values())
    assert all(fake.serving() == DOWN for fake in fakes.values())
    forced = run(monkeypatch, fakes, switch, inv, "green", force=True)
    assert forced.ok, forced.out
    assert all(fake.serving() == Traffic("green", PREV) for fake in fakes.values())


def test_maintenance_on_twice_says_so_and_changes_nothing(monkeypatch, tmp_path, repo):
    fakes = fleet(live=DOWN)
    again = run(monkeypatch, fakes, maintenance, inventory(tmp_path, repo[0]), True, None)
    assert again.ok
    assert "maintenance is already on" in again.out
    assert all("nginx" not in fake.kinds for fake in fakes.values())


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("x" * 201, "--message is 201 characters long; at most 200 are allowed"),
        ("line\nbreak", "--message contains the control character '\\n'; give one line of"),
        ("bell\x07", "--message contains the control character '\\x07'"),
        ("   ", "--message is empty; leave it out for the default text"),
    ],
)
def test_a_bad_message_is_refused_before_any_host_is_touched(
    monkeypatch, tmp_path, repo, message, problem
):
    with pytest.raises(Refused, match="^" + problem.replace("(", r"\(").replace("\\", "\\\\")):
        check_message(message)
    fakes = fleet()
    with pytest.raises(Refused):
        run(monkeypatch, fakes, maintenance, inventory(tmp_path, repo[0]), True, message)
    assert all(fake.sent == [] for fake in fakes.values())
    check_message("x" * 200)  # the limit itself is fine
