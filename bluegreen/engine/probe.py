"""Read a host: its facts in one round trip, corrected by what its public port really serves
(and, asked, how its colors answer their health check).

A switch whose session died between renaming nginx's include and reloading nginx leaves
the files and the served color apart; what the public port serves is what is live.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bluegreen import facts
from bluegreen.config.inventory import COLORS, Host, Inventory
from bluegreen.engine import checks
from bluegreen.errors import Refused
from bluegreen.transport.ssh import Remote


@dataclass(frozen=True)
class Observed:
    facts: facts.HostFacts
    output: str  # the probe's whole output (a lock answer, when one was asked for)
    unfinished: str = ""  # why the files and the served color disagree, if they do
    healthy: dict[str, str] = field(default_factory=dict)  # color -> its health answer


def read(
    remote: Remote,
    inventory: Inventory,
    host: Host,
    release: str | None = None,
    extra: str = "",
    health_of: tuple[str, ...] = (),
) -> Observed:
    """Facts (and the image of ``release``), plus ``extra`` commands in the same round trip
    (e.g. taking the lock: then the probe is not read-only).

    The request to the public port (and to each color in ``health_of``: the healthy ones'
    answers are kept) goes out on its own SSH channel while the facts command runs, so it
    adds no round trip (the public port's is read only when nginx serves one color)."""
    app = inventory.app
    bridge, certificate = host.network == "bridge", app.tls.mode == "acme"
    command = facts.probe(
        app.name, host.app_dir, release, app.runtime, bridge, certificate, bool(app.domains)
    )
    health, ports = inventory.app.health, inventory.ports
    at = checks.public(inventory)
    with ThreadPoolExecutor(max_workers=1 + len(health_of)) as pool:
        asked = pool.submit(checks.serving, remote, at, health.path, health.timeout)
        colors = {
            c: pool.submit(checks.health_once, remote, ports.of(c), health) for c in health_of
        }
        output = remote.run(
            f"{command}\n{extra}" if extra else command, what="facts", readonly=not extra
        )
        served = asked.result()
        healthy = {color: said for color, future in colors.items() if (said := future.result())}
    found = facts.parse(output)
    # a split: both colors answer, one answer proves nothing
    if found.split is not None or served is None or served == found.traffic:
        return Observed(found, output, healthy=healthy)
    files = found.traffic.describe() if found.traffic else "nothing"
    why = (
        f"nginx serves {served.describe()}, its files say {files}: an earlier switch did not finish"
    )
    live = dataclasses.replace(found, live_color=served.color, live_release=served.release)
    return Observed(live, output, why, healthy)


def check_color(color: str | None) -> None:
    """A ``--color`` option is blue, green or not given (checked before any connect)."""
    if color is not None and color not in COLORS:
        raise Refused(f"--color must be one of {', '.join(COLORS)}, not {color!r}")


def color_of(remote: Remote, inventory: Inventory, host: Host, color: str | None) -> str:
    """The container a one-container command is for: ``color``, or the host's live one."""
    which = color or read(remote, inventory, host).facts.live_color
    if which is None:
        raise Refused("nothing is live here; name a color with --color")
    return which
