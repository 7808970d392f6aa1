from bluegreen.config.inventory import Host
from bluegreen.engine.serving import last_verified
from bluegreen.engine.state import HostRun
from bluegreen.facts import HostFacts


def _run(history, live_release="r3") -> HostRun:
    facts = HostFacts(live_color="blue", live_release=live_release, history=history)
    return HostRun(Host(name="h", address="203.0.113.1"), remote=None, facts=facts)


def test_rollback_falls_back_to_the_newest_verified_release_that_is_not_live():
    history = [
        {"release": "r1", "result": "switched"},
        {"release": "r2", "result": "switched"},
        {"release": "r4", "result": "reverted"},
        {"release": "r3", "result": "switched"},
    ]
    assert last_verified(_run(history)) == "r2"
    assert last_verified(_run([{"release": "r3", "result": "switched"}])) is None
    assert last_verified(_run([{}, {"result": "switched"}])) is None
    split = {"release": "r2", "result": "switched", "share": 10}  # only a share: not verified
    assert last_verified(_run([split])) is None
