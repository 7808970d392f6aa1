import pytest

from bluegreen.facts import HostFacts
from bluegreen.inventory import Host
from bluegreen.orchestration.fleet import HostRun, Refused, Step
from bluegreen.orchestration.operations import _last_verified, _unpack, canary_steps, no_split
from bluegreen.traffic import Split


def _run(history, live_release="r3") -> HostRun:
    facts = HostFacts(live_color="blue", live_release=live_release, history=history)
    return HostRun(Host(name="h", address="10.0.0.1"), remote=None, facts=facts)


def test_rollback_falls_back_to_the_newest_verified_release_that_is_not_live():
    history = [
        {"release": "r1", "result": "switched"},
        {"release": "r2", "result": "switched"},
        {"release": "r4", "result": "reverted"},
        {"release": "r3", "result": "switched"},
    ]
    assert _last_verified(_run(history)) == "r2"
    assert _last_verified(_run([{"release": "r3", "result": "switched"}])) is None
    assert _last_verified(_run([{}, {"result": "switched"}])) is None
    split = {"release": "r2", "result": "switched", "share": 10}  # only a share: not verified
    assert _last_verified(_run([split])) is None


def test_upload_unpacks_into_the_release_dir():
    host = Host(name="h", address="10.0.0.1", user="deploy", app_dir="/srv/shop")
    assert _unpack(host, "abc", "/srv/shop/releases/abc") == (
        "set -e; rm -rf /srv/shop/releases/abc.tmp; mkdir -p /srv/shop/releases/abc.tmp"
        " && tar -xzf /tmp/bluegreen-deploy-abc.tar.gz -C /srv/shop/releases/abc.tmp"
        " && rm -f /tmp/bluegreen-deploy-abc.tar.gz && rm -rf /srv/shop/releases/abc"
        " && mv /srv/shop/releases/abc.tmp /srv/shop/releases/abc"
    )


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
    run = _run([])
    no_split(run)  # nothing split: fine
    run.facts = HostFacts(live_color="blue", live_release="r1", split=Split("green", "r2", 10))
    with pytest.raises(Refused, match=r"traffic is split \(blue r1 90 % \+ green r2 10 %\)"):
        no_split(run)
