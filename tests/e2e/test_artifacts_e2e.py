"""Where images come from, on three sandbox hosts under load: ``build: local`` (the operator's
own dockerd builds once; the image is streamed over SSH to the hosts that lack it) and
``image:`` (a real registry, docker-registry 2.8 with TLS and basic auth; the tag is resolved
to a digest once and every host pulls that digest).

The tests run in file order and build on each other. Bytes sent to each host are counted by
an iptables rule on port 22 inside the host (not by bluegreen's own report).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.artifacts import OperatorDocker, Registry
from bluegreen.testing.demo import RELEASES, fab, make_app_repo, write_inventory
from tests.e2e.support import HOSTS, Fab, served, snapshot
from tests.e2e.support import load as under_load

pytestmark = pytest.mark.e2e

ALL_KINDS = ("new", "keepalive-retry", "keepalive")  # file mode: none may fail
USER, PASSWORD = "deployer", "reg-Pa55-w0rd"
PASSWORD_ENV = "BG_TEST_REGISTRY_PASSWORD"
EXTRA = (("v4", "4.0.0", ""), ("v5", "5.0.0", ""), ("v6", "6.0.0", ""))
FRESH = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " docker rmi $(docker images -q example) >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)
COUNT_SSH = "iptables -C INPUT -p tcp --dport 22 2>/dev/null || iptables -I INPUT -p tcp --dport 22"


@pytest.fixture(scope="module")
def parts(sandbox, tmp_path_factory):
    """The operator's dockerd and the registry (trusted by the hosts), stopped at the end;
    the operator's environment points at them while the module runs."""
    base = tmp_path_factory.mktemp("parts")
    operator, registry = (
        OperatorDocker(base / "docker"),
        Registry(base / "registry", USER, PASSWORD),
    )
    saved = dict(os.environ)
    try:
        operator.start()
        registry.start()
        hosts = [h for h in sandbox if h.name in HOSTS]
        for host in hosts:
            registry.trust(host)
            sb.run_in(host, f"{FRESH}; {COUNT_SSH}")
        os.environ.update({**operator.env, **registry.env, PASSWORD_ENV: PASSWORD})
        yield operator, registry, hosts
    finally:
        os.environ.clear()
        os.environ.update(saved)
        registry.stop()
        operator.stop()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_app_repo(tmp_path_factory.mktemp("artifacts") / "repo", RELEASES + EXTRA)


def inventory(path, repo, app_extra: str, secrets: str = "") -> os.PathLike:
    written = write_inventory(path, repo.path, HOSTS, app_extra, "switch_mode: file")
    if secrets:
        written.write_text(written.read_text() + secrets)
    return written


@pytest.fixture(scope="module")
def local(repo, tmp_path_factory):
    return inventory(tmp_path_factory.mktemp("local") / "hosts.yml", repo, "build: local")


@pytest.fixture(scope="module")
def remote(parts, repo, tmp_path_factory):
    """An inventory deploying ``team/example:stable`` from the registry (keeps no extra)."""
    _, registry, _ = parts
    image = f"image: {registry.address}/team/example:stable\nkeep_releases: 0"
    secrets = f"secrets:\n  registry: {{username: {USER}, password: 'env:{PASSWORD_ENV}'}}\n"
    return inventory(tmp_path_factory.mktemp("image") / "hosts.yml", repo, image, secrets)


def image_ids(hosts, release: str) -> set[str]:
    command = f"docker image inspect -f '{{{{.Id}}}}' example:{release}"
    return {sb.run_in(host, command).stdout.strip() for host in hosts}


def ssh_bytes(host) -> int:
    """Bytes received on port 22 since the last call (the rule's counter, then zeroed)."""
    out = sb.run_in(host, "iptables -L INPUT -v -x -n -Z | awk '/dpt:22/ {print $2}'").stdout
    return int(out.split()[0])


def fab_under_load(hosts, inventory_path, *args: str):
    """Run fab while every host is under load; (its result, the load)."""
    with under_load(hosts) as traffic:
        result = fab(inventory_path, *args)
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{traffic.report()}")
    print(result.stdout)
    return result, traffic


def assert_nothing_failed(traffic) -> None:
    for kind in ALL_KINDS:
        stats = traffic.stats(kind)
        assert stats.sent > 10 and stats.failed == 0, traffic.report()


def local_id(operator: OperatorDocker, release: str) -> str:
    return operator.docker(f"docker image inspect -f '{{{{.Id}}}}' example:{release}").strip()


# -- build: local -----------------------------------------------------------------------------


def test_local_build_v1_then_v2_one_build_the_same_image_everywhere(parts, repo, local):
    operator, _, hosts = parts
    releases = repo.releases
    for host in hosts:
        ssh_bytes(host)
    first = fab(local, "deploy", "--ref", "v1")
    assert first.returncode == 0, first.output
    assert first.stdout.count(f"build: example:{releases['v1']} ") == 1  # once, here
    sent = {host.name: ssh_bytes(host) for host in hosts}
    print(f"\nbytes received per host, deploy v1 (local): {sent}")
    result, traffic = fab_under_load(hosts, local, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_nothing_failed(traffic)
    for host in hosts:
        assert served(host) == ("green", releases["v2"])
        assert re.search(
            rf"^{host.name} +✅ send: example:{releases['v2']} [\d.]+ MB in", result.stdout, re.M
        )
    assert image_ids(hosts, releases["v2"]) == {local_id(operator, releases["v2"])}
    assert "build: example:" not in "".join(  # no host built anything
        line for line in result.stdout.splitlines() if line.startswith("sandbox")
    )
    status = json.loads(fab(local, "status", "--json").stdout)
    for record in status["hosts"]:
        assert record["colors"]["green"]["image"] == local_id(operator, releases["v2"])
        assert record["colors"]["blue"]["image"] == local_id(operator, releases["v1"])
    table = fab(local, "status").stdout
    short = local_id(operator, releases["v2"]).removeprefix("sha256:")[:12]
    assert table.count(f"green:{short}") == len(hosts), table


def test_local_rollback_under_load(parts, repo, local):
    _, _, hosts = parts
    result, traffic = fab_under_load(hosts, local, "rollback")
    assert result.returncode == 0, result.output
    assert_nothing_failed(traffic)
    for host in hosts:
        assert served(host) == ("blue", repo.releases["v1"])


def test_a_local_dry_run_builds_nothing_and_changes_nothing(parts, repo, local):
    operator, _, hosts = parts
    release = repo.releases["v6"]
    before = [snapshot(host) for host in hosts]
    result = fab(local, "deploy", "--ref", "v6", "--dry-run")
    assert result.returncode == 0, result.output
    assert f"would build example:{release} with this machine's docker" in result.stdout
    assert result.stdout.count("# stream the image on stdin into: gunzip | docker load") == 3
    assert operator.docker(f"docker images -q example:{release}") == ""
    assert [snapshot(host) for host in hosts] == before


def _preload(operator: OperatorDocker, repo, tag: str, host) -> None:
    """Build ``tag`` with the operator's docker and load it into ``host`` by hand."""
    release = repo.releases[tag]
    archive = subprocess.run(
        ["git", "-C", str(repo.path), "archive", "--format=tar.gz", release],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    operator.docker(f"docker build -q -t example:{release} -", stdin=archive)
    saved = subprocess.run(
        ["docker", "save", f"example:{release}"],
        env={**os.environ, **operator.env}, capture_output=True, check=True,
    ).stdout  # fmt: skip
    subprocess.run(
        ["nsenter", "-t", str(host.init_pid), "-a", "docker", "load", "-q"],
        input=saved, capture_output=True, check=True, env=sb.HOST_ENV,
    )  # fmt: skip


def test_a_host_that_has_the_image_gets_nothing_sent(parts, repo, local):
    operator, _, hosts = parts
    _preload(operator, repo, "v4", hosts[1])
    for host in hosts:
        ssh_bytes(host)
    result, traffic = fab_under_load(hosts, local, "deploy", "--ref", "v4")
    received = {host.name: ssh_bytes(host) for host in hosts}
    print(f"bytes received per host (sandbox2 had the image): {received}")
    assert result.returncode == 0, result.output
    assert_nothing_failed(traffic)
    size = float(re.search(r"here, ([\d.]+) MB to send", result.stdout)[1]) * 1e6
    assert f"sandbox2 ✅ image: example:{repo.releases['v4']}" in result.stdout
    assert "present, nothing sent" in result.stdout
    assert received["sandbox2"] < 60_000  # SSH's own traffic only: facts, commands, probes
    assert received["sandbox1"] > size and received["sandbox3"] > size
    assert image_ids(hosts, repo.releases["v4"]) == {local_id(operator, repo.releases["v4"])}


def test_a_failing_docker_load_stops_the_deploy_before_any_switch(parts, repo, local):
    _, _, hosts = parts
    victim = hosts[2]
    before = {host.name: snapshot(host) for host in hosts[:2]}
    # a full disk where docker load unpacks what it receives
    sb.run_in(victim, "mount -t tmpfs -o size=64k tmpfs /var/lib/docker/tmp")
    try:
        result, traffic = fab_under_load(hosts, local, "deploy", "--ref", "v5")
    finally:
        sb.run_in(victim, "umount /var/lib/docker/tmp")
    assert result.returncode == 1, result.output
    assert re.search(
        r"^sandbox3 +❌ docker load failed \(exit 1\): .*no space left on device",
        result.stdout,
        re.M,
    ), result.stdout
    assert not re.search(r"✅ switch:", result.stdout)
    assert_nothing_failed(traffic)
    for host in hosts:
        assert served(host) == ("green", repo.releases["v4"])
        assert "example-blue running" not in " ".join(
            sb.run_in(host, "docker ps --format '{{.Names}} {{.State}}'").stdout.splitlines()
        )
    for host in hosts[:2]:  # the other hosts' nginx files and app dirs are as they were
        nginx_and_app = [line for line in snapshot(host).splitlines() if "/etc/nginx" in line]
        assert nginx_and_app == [
            line for line in before[host.name].splitlines() if "/etc/nginx" in line
        ]


# -- image: from a registry ---------------------------------------------------------------------


def test_image_v1_then_v2_pulled_by_digest(parts, repo, remote):
    operator, registry, hosts = parts
    for host in hosts:
        sb.run_in(host, FRESH)
    v1 = registry.push(operator, f"example:{repo.releases['v1']}", "team/example:stable")
    first = fab(remote, "deploy")
    assert first.returncode == 0, first.output
    assert f"= {v1} to" in first.stdout
    v2 = registry.push(operator, f"example:{repo.releases['v2']}", "team/example:stable")
    for host in hosts:
        ssh_bytes(host)
    result, traffic = fab_under_load(hosts, remote, "deploy")
    received = {host.name: ssh_bytes(host) for host in hosts}
    print(f"bytes received on port 22 per host (image: pulled from the registry): {received}")
    assert result.returncode == 0, result.output
    assert_nothing_failed(traffic)
    release = v2.removeprefix("sha256:")[:12]
    for host in hosts:
        assert served(host) == ("green", release)
        assert re.search(
            rf"^{host.name} +✅ pull: {re.escape(registry.address)}/team/example@{v2} in",
            result.stdout,
            re.M,
        )
        # the credentials stayed on no host
        found = sb.run_in(host, f"grep -rl {PASSWORD} /root /tmp /srv 2>/dev/null; true").stdout
        assert found == ""
    assert image_ids(hosts, release) == {local_id(operator, repo.releases["v2"])}
    assert PASSWORD not in result.output


def test_image_rollback_under_load(parts, repo, remote):
    _, _, hosts = parts
    result, traffic = fab_under_load(hosts, remote, "rollback")
    assert result.returncode == 0, result.output
    assert_nothing_failed(traffic)
    assert {served(host)[0] for host in hosts} == {"blue"}


def test_a_tag_moved_during_the_deploy_still_deploys_the_resolved_digest(parts, repo, remote):
    operator, registry, hosts = parts
    v4 = registry.push(operator, f"example:{repo.releases['v4']}", "team/example:stable")
    blue = served(hosts[0])[1]  # rollback made blue (v1) live; green has v2
    with under_load(hosts) as traffic:
        deploy = Fab(remote, "deploy", "--batch", "1")
        deploy.wait_for(lambda lines: any("sandbox1 ✅ pull:" in line for line in lines))
        moved = threading.Thread(
            target=registry.push,
            args=(operator, f"example:{repo.releases['v5']}", "team/example:stable"),
        )
        moved.start()
        moved.join()
        later_pulled_after_the_move = not any("sandbox2 ✅ pull:" in line for line in deploy.lines)
        code = deploy.finish()
    print(deploy.output)
    assert code == 0, deploy.output
    assert later_pulled_after_the_move, "the tag moved too late to test anything"
    assert_nothing_failed(traffic)
    release = v4.removeprefix("sha256:")[:12]
    for host in hosts:
        assert served(host) == ("green", release)
        # pruned: only the live (v4) and the previous (blue) release are kept (keep_releases 0)
        tags = sb.run_in(host, "docker images --format '{{.Tag}}' example").stdout.split()
        assert sorted(tags) == sorted([release, blue]), tags


def test_an_image_dry_run_plans_the_login_from_stdin_and_changes_nothing(parts, remote):
    _, registry, hosts = parts
    before = [snapshot(host) for host in hosts]
    result = fab(remote, "deploy", "--dry-run")
    assert result.returncode == 0, result.output
    login = f"docker login -u {USER} --password-stdin {registry.address} >/dev/null"
    assert result.stdout.count(login) == 3
    assert result.stdout.count("# with 1 line(s) on stdin (not shown)") == 3  # the password
    assert PASSWORD not in result.output
    assert [snapshot(host) for host in hosts] == before


def test_a_wrong_registry_password_is_one_line_and_changes_nothing(parts, remote):
    _, registry, hosts = parts
    before = [snapshot(host) for host in hosts]
    os.environ[PASSWORD_ENV] = "not-the-password"
    try:
        result, traffic = fab_under_load(hosts, remote, "deploy")
    finally:
        os.environ[PASSWORD_ENV] = PASSWORD
    assert result.returncode == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"❌ registry {registry.address} refused secrets.registry (user {USER}) for"
        f" {registry.address}/team/example:stable: wrong password?"
    ]
    assert "not-the-password" not in result.output
    assert [snapshot(host) for host in hosts] == before
    assert_nothing_failed(traffic)


def test_a_registry_that_is_down_is_one_line_and_changes_nothing(parts, remote):
    _, registry, hosts = parts
    before = [snapshot(host) for host in hosts]
    registry.pause()
    try:
        result, traffic = fab_under_load(hosts, remote, "deploy")
    finally:
        registry.resume()
    assert result.returncode == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"❌ registry {registry.address} cannot be reached"), line
    assert [snapshot(host) for host in hosts] == before
    assert_nothing_failed(traffic)
