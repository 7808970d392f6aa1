import pytest

from bluegreen.facts import HostFacts
from bluegreen.fleet import HostRun, Refused, batches, switch_mode
from bluegreen.inventory import Host


@pytest.mark.parametrize(
    ("configured", "njs", "expected"),
    [
        ("auto", True, "file"),
        ("auto", False, "reload"),
        ("reload", True, "reload"),
        ("file", True, "file"),
    ],
)
def test_switch_mode_follows_config_and_the_njs_module(configured, njs, expected):
    host = Host(name="web1", address="203.0.113.10", switch_mode=configured)
    assert switch_mode(host, HostFacts(njs=njs)) == expected


def test_file_mode_without_njs_is_refused_before_any_change():
    host = Host(name="web1", address="203.0.113.10", switch_mode="file")
    with pytest.raises(Refused, match="does not load the njs module"):
        switch_mode(host, HostFacts(njs=False))


def _runs(count: int) -> list[HostRun]:
    return [HostRun(Host(name=f"h{i}", address=f"10.0.0.{i}"), remote=None) for i in range(count)]


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
