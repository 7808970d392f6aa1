import pytest

from bluegreen.config.inventory import Host
from bluegreen.engine.state import Holds, HostRun, batches
from bluegreen.errors import Refused
from bluegreen.facts import HostFacts
from bluegreen.facts.traffic import Split, Traffic


def _runs(count: int) -> list[HostRun]:
    return [
        HostRun(Host(name=f"h{i}", address=f"203.0.113.{i}"), remote=None) for i in range(count)
    ]


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
    return HostRun(Host(name="h", address="203.0.113.1"), remote=None, facts=facts, **kw)


def test_the_target_is_the_color_alone_or_its_share_beside_the_live_one():
    run = _split_run(color="green", release="r2")
    assert run.target == Traffic("green", "r2") and run.watched
    run.share, run.sticky = 10, True
    assert run.target == Traffic("blue", "r1", Split("green", "r2", 10, sticky=True))
    assert run.watched


def test_going_back_to_the_live_color_is_not_watched():
    run = _split_run(color="blue", release="r1")  # an abort
    assert run.target == Traffic("blue", "r1") and not run.watched


def test_a_host_holds_what_the_run_did_there_until_it_is_given_back():
    holds = Holds()
    holds.took_lock()
    holds.refreshed_lock(5.0)
    holds.pointed_nginx()
    holds.new_pair("rm old pairs")
    holds.rewrote(["/b", "/a"])
    holds.rewrote(["/a", "/c"])
    assert (holds.lock, holds.lock_since, holds.nginx) == (True, 5.0, True)
    assert (holds.replaced, holds.prune) == (["/a", "/b", "/c"], "rm old pairs")
    holds.restored_files()
    holds.kept_nginx(True)  # refused at a canary's second step: its first one still counts
    assert holds.nginx
    holds.kept_nginx(False)
    holds.without_lock()
    assert (holds.lock, holds.nginx, holds.replaced, holds.prune) == (False, False, [], "")
    assert not holds.moved_processes
    holds.launched_processes({"worker"})
    holds.launched_processes({"timers"})
    assert holds.moved_processes and holds.launched == {"worker", "timers"}
