"""The fab command line: bad option values are one clear line and exit code 2."""

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
FAB = Path(sys.executable).parent / "fab"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy", "--parallel", "x"], "❌ --parallel takes a whole number above 0, not 'x'"),
        (["deploy", "--hold", "-3"], "❌ --hold takes a number above 0, not '-3'"),
        (["history", "-n", "0"], "❌ -n takes a whole number above 0, not '0'"),
        (["split", "--green", "10", "--blue", "5"], "❌ give exactly one of --green N or --blue N"),
        (["split", "--green", "ten"], "❌ --green takes a whole percent from 1 to 99, not 'ten'"),
        (["maintenance"], "❌ give exactly one of --on or --off"),
        (["maintenance", "--on", "--off"], "❌ give exactly one of --on or --off"),
        (["maintenance", "--off", "--message", "x"], "❌ --message goes with --on"),
        (
            ["maintenance", "--on", "--message", "a\tb"],
            "❌ --message contains the control character '\\t'; give one line of plain text",
        ),
    ],
)
def test_bad_option_values_are_refused_before_anything_runs(args, message):
    done = subprocess.run(
        [str(FAB), *args], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip() == message


def test_the_maintenance_help_states_the_message_limit():
    from bluegreen import tasks
    from bluegreen.ops.maintenance import MESSAGE_LIMIT

    assert f"at most {MESSAGE_LIMIT} characters" in tasks.maintenance.help["message"]


def test_fab_exits_3_on_a_bug(monkeypatch, capsys):
    """A bug escaping anywhere in a task: its traceback, and exit code 3 (not 1, a failure
    on the hosts, nor 2, bad input)."""
    from types import SimpleNamespace

    from invoke.exceptions import Exit

    from bluegreen import tasks
    from bluegreen.config import inventory
    from bluegreen.errors import BUG_EXIT

    def broken(path):
        raise KeyError("colour")

    monkeypatch.setattr(inventory, "load", broken)
    settings = SimpleNamespace(inventory="hosts.yml", hosts=[])
    with pytest.raises(Exit) as exited:
        tasks._run(SimpleNamespace(config=SimpleNamespace(bluegreen=settings)), print)
    assert exited.value.code == BUG_EXIT == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err and "KeyError: 'colour'" in err
    said = "❌ a bug in bluegreen (exit code 3): please report it with the traceback above"
    assert exited.value.message.startswith(said)  # fab prints it last, on stderr
