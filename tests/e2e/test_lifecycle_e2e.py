"""The app's life cycle on two sandbox hosts (file mode), every change under load.

The tests run in file order and build on each other: the rollback target survives a
failed deploy (deploy v2, rollback, deploy a broken release, switch to the kept color at
once); env settings are shown, secrets masked.
"""

from __future__ import annotations

import pytest

from bluegreen.testing import sandbox as sb
from bluegreen.testing.demo import API_TOKEN, FabResult, fab, write_inventory
from bluegreen.testing.load import KINDS, Load

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
FRESH_HOST = (
    "docker rm -f $(docker ps -aq --filter label=bluegreen.app=example) >/dev/null 2>&1;"
    " docker volume rm -f example-data >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)
INSPECT = '{{.Id}} {{index .Config.Labels "bluegreen.release"}} {{.State.Status}}'


@pytest.fixture(scope="module")
def fleet(sandbox, app_repo, tmp_path_factory):
    """The two hosts emptied of the app; an inventory in file mode."""
    inventory = write_inventory(
        tmp_path_factory.mktemp("lifecycle") / "hosts.yml",
        app_repo.path,
        HOSTS,
        defaults_extra="switch_mode: file",
    )
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    yield inventory, hosts, app_repo
    for host in hosts:
        sb.run_in(host, FRESH_HOST)


def under_load(hosts, inventory, *args: str) -> tuple[FabResult, Load]:
    """``fab *args`` while every host's public port is under load (3 client kinds)."""
    with Load([(h.address, 4000) for h in hosts], max_seconds=120) as load:
        result = fab(inventory, *args)
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    return result, load


def assert_no_failures(load: Load) -> None:
    for kind in KINDS:  # file mode: no reload, so no kind may see a failure
        stats = load.stats(kind)
        assert stats.sent > 20 and stats.failed == 0, load.report()


def container(host, color: str) -> list[str]:
    """[id, release label, state] of the app's container of ``color``."""
    return sb.run_in(host, f"docker inspect -f '{INSPECT}' example-{color}").stdout.split()


def images(host) -> str:
    return sb.run_in(host, "docker images -q --no-trunc | sort").stdout


def test_a_failed_deploy_keeps_the_rollback_target_and_switching_to_it_is_instant(fleet):
    inventory, hosts, repo = fleet
    releases = repo.releases
    assert fab(inventory, "deploy", "--ref", "v1").returncode == 0
    for args in (("deploy", "--ref", "v2"), ("rollback",)):
        result, load = under_load(hosts, inventory, *args)
        assert result.returncode == 0, result.output
        assert_no_failures(load)
    kept = {h.name: container(h, "green") for h in hosts}
    assert all(k[1:] == [releases["v2"], "exited"] for k in kept.values()), kept

    result, load = under_load(hosts, inventory, "deploy", "--ref", "broken")
    assert result.returncode == 1, result.output
    assert "example-green (" + releases["v2"] + ") is back, exited" in result.stdout
    assert_no_failures(load)
    for host in hosts:  # the very same container, under its name, nothing set aside
        assert container(host, "green") == kept[host.name], host.name
        names = sb.run_in(host, "docker ps -a --format '{{.Names}}' | sort").stdout.split()
        assert names == ["example-blue", "example-green"], host.name
    before = {h.name: images(h) for h in hosts}

    result, load = under_load(hosts, inventory, "switch", "--to", "green")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert "build" not in result.stdout and "is gone" not in result.stdout
    for host in hosts:
        assert container(host, "green")[:2] == kept[host.name][:2], host.name  # started, same
        assert container(host, "green")[2] == "running"
        assert images(host) == before[host.name], host.name  # nothing built or pulled
    assert load.stats().releases.get(releases["v2"], 0) > 0

    result, load = under_load(hosts, inventory, "rollback")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    for host in hosts:
        assert container(host, "blue")[1:] == [releases["v1"], "running"], host.name


def test_settings_are_shown_and_secrets_masked_and_kept_off_command_lines(fleet, tmp_path):
    _, hosts, repo = fleet
    inventory = write_inventory(
        tmp_path / "hosts.yml", repo.path, HOSTS, defaults_extra="switch_mode: file",
        env="BIND: 127.0.0.1",
    )  # fmt: skip
    plan = fab(inventory, "deploy", "--ref", "v2", "--dry-run")
    assert plan.returncode == 0, plan.output
    assert "would check http://127.0.0.1:4002/health" in plan.stdout  # a setting: not masked
    assert "***" not in plan.stdout and API_TOKEN not in plan.output

    result, load = under_load(hosts, inventory, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert API_TOKEN not in result.output
    for host in hosts:
        env = sb.run_in(host, "stat -c %a /srv/example/green.env; cat /srv/example/green.env")
        mode, *lines = env.stdout.splitlines()
        assert mode == "600" and f"API_TOKEN={API_TOKEN}" in lines and "BIND=127.0.0.1" in lines
        inspect = sb.run_in(host, "docker inspect -f '{{.Args}} {{.Path}}' example-green")
        assert API_TOKEN not in inspect.stdout
