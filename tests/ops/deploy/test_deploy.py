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
