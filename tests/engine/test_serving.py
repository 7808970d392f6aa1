from bluegreen.config.inventory import Host
from bluegreen.engine.serving import last_verified
from bluegreen.engine.state import HostRun
from bluegreen.facts import HostFacts

R1, R2, R3, R4 = (f"{n}" * 12 for n in "1234")  # release ids: 12 hex digits


def _run(history, live_release=R3) -> HostRun:
    facts = HostFacts(live_color="blue", live_release=live_release, history=history)
    return HostRun(Host(name="h", address="203.0.113.1"), remote=None, facts=facts)


def test_rollback_falls_back_to_the_newest_verified_release_that_is_not_live():
    history = [
        {"release": R1, "result": "switched"},
        {"release": R2, "result": "switched"},
        {"release": R4, "result": "reverted"},
        {"release": R3, "result": "switched"},
    ]
    assert last_verified(_run(history)) == R2
    assert last_verified(_run([{"release": R3, "result": "switched"}])) is None
    assert last_verified(_run([{}, {"result": "switched"}])) is None
    split = {"release": R2, "result": "switched", "share": 10}  # only a share: not verified
    assert last_verified(_run([split])) is None


def test_a_history_release_that_is_not_a_release_id_is_never_used():
    """It would go into paths and commands (the image to run again): a tampered or broken
    history line is skipped."""
    history = [{"release": R2, "result": "switched"},
               {"release": "x; rm -rf /", "result": "switched"}]  # fmt: skip
    assert last_verified(_run(history)) == R2
