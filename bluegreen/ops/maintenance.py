"""``fab maintenance --on [--message TEXT]`` / ``--off``: nginx answers 503 with a small
page (and ``Retry-After``) instead of proxying; the containers keep running.

Maintenance is part of what nginx serves (``Traffic.maintenance``): one more word on the
state line in file mode (renamed, no reload), one more map in the live include in reload
mode (tested and reloaded). So it runs as a change of its own through the engine — under
the lock, recorded in history, verified through the public port, put back on failure —
and a switch made with ``--force`` while it is on takes the page down with it.
"""

from __future__ import annotations

import unicodedata

from bluegreen import render
from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine.change import Change
from bluegreen.engine.operation import Operation, Stages, names, no_split
from bluegreen.engine.state import HostRun, Options, Phase
from bluegreen.errors import Refused
from bluegreen.output.log import Log

MESSAGE_LIMIT = 200  # characters
DEFAULT_MESSAGE = "We are making things better and will be back shortly."


def check_message(message: str) -> None:
    """A message is one short line of text (it goes into the page, HTML-escaped)."""
    if len(message) > MESSAGE_LIMIT:
        raise Refused(
            f"--message is {len(message)} characters long; at most {MESSAGE_LIMIT} are allowed"
        )
    control = next((c for c in message if unicodedata.category(c) in ("Cc", "Cf")), None)
    if control is not None:
        raise Refused(
            f"--message contains the control character {control!r}; give one line of plain text"
        )
    if not message.strip():
        raise Refused("--message is empty; leave it out for the default text")


def maintenance(
    inventory: Inventory,
    hosts: list[Host],
    on: bool,
    message: str | None,
    log: Log,
    options: Options | None = None,
) -> bool:
    """Put the maintenance page up (``on``) or take it down, on every host."""
    if message is not None:
        if not on:
            raise Refused("--message goes with --on")
        check_message(message)
    verb = "on" if on else "off"
    log.line(f"maintenance {verb} for {inventory.app.name} on {names(hosts)}")
    change = Change(inventory, log, "maintenance", options)
    if on:
        change.switcher.page = render.maintenance_page(
            change.switcher.jinja, inventory, message or DEFAULT_MESSAGE
        )
    return change.run(hosts, Maintenance(change, on, message))


class Maintenance(Operation):
    """The page up or down on each host: only the switch changes, no container."""

    def __init__(self, change: Change, on: bool, message: str | None) -> None:
        self.change, self.on, self.message = change, on, message

    def choose(self, run: HostRun) -> None:
        served = run.facts.traffic
        if served is None:
            raise Refused("nothing is live here, so there is no site to put a page on")
        no_split(run)
        verb = "on" if self.on else "off"
        run.color, run.release, run.maintenance = served.color, served.release, self.on
        run.recorded["maintenance"] = verb
        if served.maintenance == self.on and self.message is None:
            run.outcome = "already live"
            self.change.log.ok(run.name, f"maintenance is already {verb}")

    def stages(self) -> Stages:
        return ((Phase.STAGE, self.nothing),)

    def undo(self, run: HostRun) -> None:
        self.nothing(run)

    def nothing(self, run: HostRun) -> None:
        """Maintenance starts and stops no container."""
