import pytest

from bluegreen.config.inventory import Host
from bluegreen.engine.operation import no_split
from bluegreen.engine.state import HostRun, Step
from bluegreen.errors import Refused
from bluegreen.facts import HostFacts
from bluegreen.facts.traffic import Split
from bluegreen.ops.deploy import canary_steps


def _run() -> HostRun:
    facts = HostFacts(live_color="blue", live_release="r3")
    return HostRun(Host(name="h", address="203.0.113.1"), remote=None, facts=facts)


def test_a_canary_holds_each_rising_share_then_sends_everything():
    assert canary_steps("10,50", hold=5, watch=0) == (Step(10, 5.0), Step(50, 5.0), Step(100, 0))
    assert canary_steps("1", hold=2, watch=30) == (Step(1, 2.0), Step(100, 30))


@pytest.mark.parametrize("shares", ["", "x", "50,10", "10,10", "0,50", "10,100", "10,,50"])
def test_a_bad_canary_is_refused(shares):
    with pytest.raises(Refused, match="--canary must be rising percents from 1 to 99"):
        canary_steps(shares, hold=5, watch=0)
    with pytest.raises(Refused, match="--hold must be"):
        canary_steps("10", hold=0, watch=0)


def test_a_split_host_refuses_a_deploy_or_rollback():
    run = _run()
    no_split(run)  # nothing split: fine
    run.facts = HostFacts(live_color="blue", live_release="r1", split=Split("green", "r2", 10))
    with pytest.raises(Refused, match=r"traffic is split \(blue r1 90 % \+ green r2 10 %\)"):
        no_split(run)


class Answers:
    """A session whose every command prints ``text`` (the host's ``git fetch`` answer)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def run(self, command: str, **kwargs) -> str:
        return self.text


@pytest.mark.parametrize("answer", ["release=$(reboot)\n", "release=HEAD\n", ""])
def test_a_release_the_host_resolves_must_be_a_release_id(tmp_path, answer):
    """``source: git``: the host's answer becomes paths and commands; anything but 12 to 40
    hex digits is refused before it is used."""
    import io

    from bluegreen.config.inventory import App, Inventory, Ports
    from bluegreen.engine.change import Change
    from bluegreen.errors import RemoteError
    from bluegreen.ops.deploy import Deploy
    from bluegreen.output.log import Log

    inv = Inventory(tmp_path / "hosts.yml", App(name="shop", source="git", repo="https://x/y.git"),
                    Ports(), {}, {})  # fmt: skip
    change = Change(inv, Log(io.StringIO()), "deploy")
    run = HostRun(Host(name="web1", address="203.0.113.1"), remote=Answers(answer))
    with pytest.raises(RemoteError, match="resolved 'main' to .*, not a release id"):
        Deploy(change, "main", None).choose(run)
