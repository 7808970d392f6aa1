from bluegreen.facts import HostFacts
from bluegreen.fleet import HostRun
from bluegreen.inventory import Host
from bluegreen.orchestration import _last_verified, _unpack


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


def test_upload_unpacks_into_the_release_dir():
    host = Host(name="h", address="10.0.0.1", user="deploy", app_dir="/srv/shop")
    assert _unpack(host, "abc", "/srv/shop/releases/abc") == (
        "set -e; rm -rf /srv/shop/releases/abc.tmp; mkdir -p /srv/shop/releases/abc.tmp"
        " && tar -xzf /tmp/bluegreen-deploy-abc.tar.gz -C /srv/shop/releases/abc.tmp"
        " && rm -f /tmp/bluegreen-deploy-abc.tar.gz && rm -rf /srv/shop/releases/abc"
        " && mv /srv/shop/releases/abc.tmp /srv/shop/releases/abc"
    )
