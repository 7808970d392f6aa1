"""Fixtures of the end-to-end tests: a real fleet of sandbox hosts (needs root)."""

import pytest

from bluegreen import sandbox as sandbox_module
from bluegreen.testing import demo
from tests.e2e import support

FLEET_SIZE = 3


@pytest.fixture(scope="session")
def sandbox() -> list[sandbox_module.SandboxHost]:
    """Three fresh hosts (sandbox1..3, <subnet>.11..13) for the whole session, down at the end.

    State is under .bluegreen/sandbox (cwd): key id_ed25519, known hosts
    known_hosts, login user root. A test that rebuilds the fleet must
    update this list in place (fleet[:] = sandbox.up(...)).
    In CI a missing prerequisite fails the run instead of skipping the e2e tests.
    """
    support.require_sandbox_tools()
    fleet = sandbox_module.up(FLEET_SIZE)
    yield fleet
    sandbox_module.down()


@pytest.fixture(scope="session")
def repo(tmp_path_factory) -> demo.AppRepo:
    """The example app with v1, v2, broken, and one release per injected fault."""
    return support.make_fault_repo(tmp_path_factory.mktemp("faults") / "repo")


@pytest.fixture
def fleet(sandbox, repo, tmp_path):
    """(inventory, hosts, releases): three hosts serving v1 (blue, reload mode), for the
    fault, SSH and interrupt tests; afterwards every host is whole again. Modules with a
    fleet of their own (deploy, fleet) override this fixture."""
    hosts = [h for h in sandbox if h.name in support.HOSTS]
    yield support.start_fleet(hosts, repo, tmp_path), hosts, repo.releases
    for host in hosts:
        support.restore(host)


@pytest.fixture(scope="session")
def app_repo(tmp_path_factory) -> demo.AppRepo:
    """v1 and v2 of the example app, and a broken release whose health never passes."""
    return demo.make_app_repo(tmp_path_factory.mktemp("app") / "repo")


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory):
    """The wheel built from this checkout, installed in a fresh venv outside it (once per
    session, for every test of the installed package)."""
    from tests.e2e import wheel

    return wheel.install(tmp_path_factory.mktemp("wheel"))
