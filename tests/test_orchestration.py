from bluegreen.facts import HostFacts
from bluegreen.fleet import HostRun
from bluegreen.inventory import Host
from bluegreen.orchestration import _build_command, _last_verified


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


def test_build_unpacks_into_the_release_dir_then_builds():
    host = Host(name="h", address="10.0.0.1", user="deploy", app_dir="/srv/shop")
    assert _build_command(host, "shop", "abc", "Dockerfile").splitlines() == [
        "set -e; rm -rf /srv/shop/releases/abc.tmp; mkdir -p /srv/shop/releases/abc.tmp"
        " && tar -xzf /tmp/bluegreen-deploy-abc.tar.gz -C /srv/shop/releases/abc.tmp"
        " && rm -f /tmp/bluegreen-deploy-abc.tar.gz && rm -rf /srv/shop/releases/abc"
        " && mv /srv/shop/releases/abc.tmp /srv/shop/releases/abc",
        "out=$(docker build --label bluegreen.release=abc -t shop:abc"
        " -f /srv/shop/releases/abc/Dockerfile /srv/shop/releases/abc 2>&1)"
        ' || { printf "%s\\n" "$out" | tail -n 30 >&2; exit 1; }',
    ]
