"""Five real ``fab`` processes race for one sandbox host's lock, round after round: exactly
one switches, the other four refuse and name it (its pid), and the lock is free afterwards."""

import re
import time

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from tests.e2e.support import RESET, Fab, assert_no_failures, load, lock_held, served

pytestmark = pytest.mark.e2e

RACERS = 5
ROUNDS = 10
HOST = "sandbox1"
HOLD = 4  # seconds


@pytest.fixture
def two_colors(sandbox, app_repo, tmp_path):
    """One host with v1 in blue and v2 live in green: a switch either way has work to do."""
    host = next(h for h in sandbox if h.name == HOST)
    sb.run_in(host, RESET)
    inventory = write_inventory(tmp_path / "hosts.yml", app_repo.path, [HOST])
    # the winner holds the lock through its drain, longer than the racers take to start
    inventory.write_text(inventory.read_text().replace("drain: 0.5", f"drain: {HOLD}"))
    for ref in ("v1", "v2"):
        result = fab(inventory, "deploy", "--ref", ref)
        assert result.returncode == 0, result.output
    return inventory, host


def test_of_five_racing_runs_exactly_one_switches_and_the_others_name_it(two_colors):
    inventory, host = two_colors
    started = time.monotonic()
    with load([host]) as running:
        for round_ in range(ROUNDS):
            color = "blue" if round_ % 2 == 0 else "green"
            racers = [Fab(inventory, "switch", "--to", color) for _ in range(RACERS)]
            codes = [racer.finish() for racer in racers]
            winners = [r for r, code in zip(racers, codes, strict=True) if code == 0]
            outputs = "\n---\n".join(r.output for r in racers)
            assert len(winners) == 1, f"round {round_}: {codes}\n{outputs}"
            pid = winners[0].process.pid
            for racer, code in zip(racers, codes, strict=True):
                if racer is not winners[0]:
                    assert code == 1, outputs
                    refusal = rf"{HOST} ❌ locked by \S+@\S+ \(pid {pid}, switch since "
                    assert re.search(refusal, racer.output), outputs
            assert "took over" not in outputs
            assert served(host)[0] == color
            assert not lock_held(host)
    assert_no_failures(running)
    print(f"\n{ROUNDS} rounds of {RACERS} racers in {time.monotonic() - started:.1f} s")
