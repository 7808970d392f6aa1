"""bluegreen's fab tasks: parse arguments, call the orchestration, set the exit code.

Hosts come from ``-H`` (inventory groups and hosts, comma-separated) or the inventory's
default group; one call runs one orchestration over all of them.
"""

from __future__ import annotations

from collections.abc import Callable

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from bluegreen import inventory, orchestration, sandbox
from bluegreen.executor import RemoteError
from bluegreen.log import Log
from bluegreen.source import SourceError
from bluegreen.status import status as status_of
from bluegreen.templates import TemplateError

USER_ERRORS = (
    inventory.InventoryError,
    SourceError,
    TemplateError,
    orchestration.Refused,
    RemoteError,
)


def _run(c: Context, operation: Callable[..., bool], *args: object) -> None:
    """Load the inventory, resolve hosts, run; a bad input is one line and exit code 2."""
    settings = c.config.get("bluegreen", {})
    try:
        inv = inventory.load(settings.get("inventory", "hosts.yml"))
        hosts = inv.select(settings.get("hosts"))
        log = Log(width=max(len(h.name) for h in hosts), secrets=_secrets(inv, hosts))
        ok = operation(inv, hosts, *args, log)
    except USER_ERRORS as error:
        raise Exit(f"❌ {error}", code=2) from error
    if not ok:
        raise Exit(code=1)


def _secrets(inv: inventory.Inventory, hosts: list[inventory.Host]) -> set[str]:
    return {value for host in hosts for value in inv.env_for(host).values()}


@task(help={"ref": "git ref to deploy (default HEAD of the app's repository)"})
def deploy(c, ref="HEAD"):
    """Deploy REF to the idle color on every host, then switch the fleet to it."""
    _run(c, orchestration.deploy, ref)


@task
def rollback(c):
    """Go back to the previous color and release on every host (instant: it is kept)."""
    _run(c, orchestration.rollback)


@task(help={"to": "blue or green"})
def switch(c, to):
    """Make a color live on every host, with the same health and serving checks as deploy."""
    _run(c, orchestration.switch, to)


@task
def status(c):
    """Show, per host, the live color and each color's release, state and health."""
    _run(c, status_of)


@task(name="up", help={"hosts": "how many simulated servers (default 2)"})
def sandbox_up(c, hosts=2):
    """Start the local sandbox fleet (network namespaces, sshd, nginx, dockerd; needs root)."""
    sandbox.up(int(hosts))


@task(name="down")
def sandbox_down(c):
    """Stop the sandbox fleet and remove everything it made."""
    sandbox.down()


ns = Collection(deploy, rollback, switch, status)
ns.add_collection(Collection("sandbox", sandbox_up, sandbox_down))
