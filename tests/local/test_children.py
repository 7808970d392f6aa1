"""Local programs under the terminal's Ctrl-C (issue 23 item 9): a first one reaches
bluegreen only (the hook, git or docker save it runs goes on), a second one stops them.

The terminal sends SIGINT to its whole foreground process group; each case runs in a
Python process that is a session of its own (so the signal reaches nothing else) and
sends SIGINT to its own group, as the terminal would.
"""

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bluegreen.local import children

TERMINAL = textwrap.dedent("""\
    import os, signal, sys, threading, io
    from pathlib import Path
    from bluegreen.config.inventory import App, Hooks, Inventory, Ports
    from bluegreen.engine import interrupts
    from bluegreen.local import hooks
    from bluegreen.output.log import Log

    folder = Path(sys.argv[1])
    app = App(name="shop", repo=str(folder))
    hook = "sleep 1; echo survived"
    inv = Inventory(folder / "hosts.yml", app, Ports(), {{}}, {{}}, hooks=Hooks(after=hook))
    ctrl_c = lambda: os.killpg(os.getpgrp(), signal.SIGINT)  # as the terminal does
    threading.Timer(0.3, ctrl_c).start()
    seen = []
    out = io.StringIO()
    with interrupts.deferred(seen.append):
        ok = hooks.run(inv, "after", {{}}, Log(stream=out))
    print(ok, seen, out.getvalue())
""")


def test_the_first_ctrl_c_reaches_bluegreen_and_not_the_hook_it_runs(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-c", TERMINAL.format(), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("True ['SIGINT'] [hook after] survived\n"), done.stdout


def test_stop_all_ends_a_running_program_and_what_it_started():
    result: list[subprocess.CompletedProcess] = []
    run = threading.Thread(
        target=lambda: result.append(children.run(["sh", "-c", "sleep 30 & wait"]))
    )
    started = time.monotonic()
    run.start()
    deadline = time.monotonic() + 5
    while children.stop_all() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    run.join(timeout=10)
    assert not run.is_alive() and time.monotonic() - started < 10
    assert result[0].returncode < 0  # ended by a signal


def test_a_timeout_ends_the_whole_process_group(tmp_path: Path):
    marker = tmp_path / "grandchild-ran"
    command = f"(sleep 1; touch {marker}) & sleep 30"
    with pytest.raises(subprocess.TimeoutExpired):
        children.run(["sh", "-c", command], timeout=0.3)
    time.sleep(1.5)
    assert not marker.exists()  # the shell's own child was ended with it


def test_a_second_signal_during_a_change_stops_its_local_programs(tmp_path: Path):
    """The first signal only marks the change interrupted; the second ends the hook it waits
    for, which then fails at once."""
    import io

    from bluegreen.config.inventory import App, Inventory, Ports
    from bluegreen.engine.change import Change
    from bluegreen.output.log import Log

    out = io.StringIO()
    inv = Inventory(tmp_path / "hosts.yml", App(name="shop"), Ports(), {}, {})
    change = Change(inv, Log(stream=out), "deploy")
    result: list[subprocess.CompletedProcess] = []
    hook = threading.Thread(target=lambda: result.append(children.run(["sleep", "30"])))
    hook.start()
    time.sleep(0.3)
    change.interrupt("SIGINT")
    time.sleep(0.3)
    assert hook.is_alive()  # the first signal lets the step go on
    change.interrupt("SIGINT")
    hook.join(timeout=5)
    assert not hook.is_alive() and result[0].returncode < 0
    assert "SIGINT again: stopped 1 local program(s); putting everything back" in out.getvalue()
