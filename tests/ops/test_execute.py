"""``fab exec``: the live color's container on every host, exact arguments, exit codes."""

import io
import re

import pytest

from bluegreen import transport
from bluegreen.config.inventory import App, Host, Inventory, Ports
from bluegreen.errors import Refused
from bluegreen.facts.traffic import Traffic
from bluegreen.ops.execute import execute
from bluegreen.output.log import Log
from bluegreen.testing.remote import Container, FakeHost, hosts_by_name

NAMES = ("web1", "web2")
TRICKY = ["sh", "-c", "echo \"a  b\" $(id -u) 'q'", ""]


def run(monkeypatch, tmp_path, fakes, argv, color=None, once=False, **kw):
    hosts = {n: Host(name=n, address=f"10.0.0.{i}") for i, n in enumerate(NAMES, 1)}
    inv = Inventory(tmp_path / "hosts.yml", App(name="web"), Ports(), hosts=hosts, groups={})
    monkeypatch.setattr(transport, "connect", hosts_by_name(fakes.values()))
    out = io.StringIO()
    ok = execute(inv, list(hosts.values()), argv, color, once, Log(stream=out, width=5), **kw)
    return ok, out.getvalue()


R1 = "1" * 12  # the live release (the facts read back release ids only)


def fleet(**faults) -> dict[str, FakeHost]:
    live = {"web1": Traffic("blue", R1), "web2": Traffic("green", R1)}
    return {
        n: FakeHost(
            n,
            live[n],
            containers={"blue": Container("0" * 12, running=False)} if n == "web2" else {},
            fail=faults.get(n, ()),
        )  # fmt: skip
        for n in NAMES
    }


def test_it_runs_in_the_live_color_on_every_host_with_the_arguments_exactly(monkeypatch, tmp_path):
    fakes = fleet()
    ok, out = run(monkeypatch, tmp_path, fakes, TRICKY)
    assert ok, out
    for name, color in (("web1", "blue"), ("web2", "green")):
        execs = [c for w, c in fakes[name].commands if w == "exec"]
        assert execs == [
            f"docker exec web-{color} sh -c 'echo \"a  b\" $(id -u) '\"'\"'q'\"'\"'' '' 2>&1"
        ]
        lines = re.findall(rf"^{name}\s+\| (.*)$", out, re.M)
        assert lines == [f"[{word}]" for word in TRICKY], out
        assert re.search(rf"^{name}\s+✅ exec in web-{color}: exit 0$", out, re.M)


def test_a_failure_anywhere_fails_the_task_and_says_the_exit_code(monkeypatch, tmp_path):
    ok, out = run(monkeypatch, tmp_path, fleet(web2={"exec"}), ["false"])
    assert ok is False
    assert re.search(r"^web1\s+✅ exec in web-blue: exit 0$", out, re.M)
    assert re.search(r"^web2\s+\| command failed$", out, re.M)
    assert re.search(r"^web2\s+❌ exec in web-green: exit 3$", out, re.M)


def test_once_and_color(monkeypatch, tmp_path):
    fakes = fleet()
    ok, out = run(monkeypatch, tmp_path, fakes, ["id"], once=True)
    assert ok and "web2" not in out and fakes["web2"].sent == []

    ok, out = run(monkeypatch, tmp_path, fleet(), ["id"], color="blue")
    assert ok is False  # web2's blue is stopped: docker exec says so there
    assert re.search(r"^web2\s+\| Error: container web-blue is not running$", out, re.M)
    assert re.search(r"^web2\s+❌ exec in web-blue: exit 1$", out, re.M)
    assert re.search(r"^web1\s+✅ exec in web-blue: exit 0$", out, re.M)


@pytest.mark.parametrize(
    ("argv", "color", "problem"),
    [([], None, "give the command after --"), (["id"], "red", "--color must be one of")],
)
def test_bad_input_is_refused_before_any_connect(monkeypatch, tmp_path, argv, color, problem):
    fakes = fleet()
    with pytest.raises(Refused, match=problem):
        run(monkeypatch, tmp_path, fakes, argv, color=color)
    assert all(fake.opened == 0 for fake in fakes.values())


def test_a_terminal_is_refused_on_several_hosts_before_any_connect(monkeypatch, tmp_path):
    fakes = fleet()
    problem = "-i needs exactly one host, not 2 (web1, web2): pick one with -H, or add --once"
    with pytest.raises(Refused, match=re.escape(problem)):
        run(monkeypatch, tmp_path, fakes, ["sh"], interactive=True)
    assert all(fake.opened == 0 for fake in fakes.values())


def test_new_runs_a_one_off_container_of_the_live_release(monkeypatch, tmp_path):
    fakes = fleet()
    ok, out = run(monkeypatch, tmp_path, fakes, ["id"], once=True, new=True)
    assert ok, out
    runs = [c for w, c in fakes["web1"].commands if w == "exec"]
    assert len(runs) == 1 and runs[0].startswith("docker run --rm --pull never --label")
    assert runs[0].endswith(f" --entrypoint id web:{R1} 2>&1")
