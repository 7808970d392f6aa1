"""Several apps on one server: what each of them holds (ports, names, containers), read
from the first line of their nginx sites, and the clashes a new app would make.

Apps with domains share 80/443 by ``server_name``; anything else (a color port, a public
port, a domain, a container name) belongs to one app. Pure: the facts probe reads the
lines, ``clashes`` judges them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.config import certificates
from bluegreen.config.inventory import COLORS, Inventory
from bluegreen.shell import docker


@dataclass(frozen=True)
class Site:
    """Another app's site on the host, as its header line describes it."""

    app: str
    listen: frozenset[int]  # the ports its server blocks listen on
    colors: frozenset[int]  # its blue and green ports
    domains: frozenset[str]  # empty: it answers any name on its own public port


def listens(inventory: Inventory) -> tuple[int, ...]:
    """The ports our site listens on: 80 (and 443 with TLS) for domains, else the public one."""
    if not inventory.app.domains:
        return (inventory.ports.public,)
    if inventory.app.tls.mode == "off":
        return (certificates.HTTP_PORT,)
    return certificates.HTTP_PORT, certificates.HTTPS_PORT


def parse(header: str) -> Site | None:
    """``# bluegreen site mode=file app=a listen=80,443 blue=4001 green=4002 domains=x,y``;
    None for a site too old to say (it is then not judged)."""
    words = dict(word.split("=", 1) for word in header.split() if "=" in word)
    try:
        return Site(
            app=words["app"],
            listen=frozenset(int(p) for p in words["listen"].split(",") if p),
            colors=frozenset(int(words[color]) for color in COLORS),
            domains=frozenset(d for d in words["domains"].split(",") if d and d != "-"),
        )
    except (KeyError, ValueError):
        return None


def ours(inventory: Inventory) -> Site:
    app, ports = inventory.app, inventory.ports
    return Site(
        app=app.name,
        listen=frozenset(listens(inventory)),
        colors=frozenset(ports.of(color) for color in COLORS),
        domains=frozenset(app.domains),
    )


def clashes(mine: Site, other: Site) -> list[str]:
    """What ``mine`` would take from ``other``, one phrase each (empty: they fit together)."""
    found = []
    for port in sorted(mine.colors & (other.colors | other.listen)):
        found.append(f"port {port} (ours: a color port)")
    for port in sorted(mine.listen & other.colors):
        found.append(f"port {port} (ours: where nginx listens; theirs: a color port)")
    shared = mine.listen & other.listen
    if shared and not (mine.domains and other.domains):  # only names can share a port
        ports = ", ".join(map(str, sorted(shared)))
        found.append(f"public port {ports} (only apps with domains share a port, by name)")
    for domain in sorted(mine.domains & other.domains):
        found.append(f"domain {domain}")
    return found


def check(inventory: Inventory, headers: list[str], owners: dict[str, str]) -> str | None:
    """Why this app cannot go on the host (other apps' site ``headers``; ``owners``: color
    -> the app label of the container that has our name), or None."""
    mine = ours(inventory)
    problems = []
    for header in headers:
        other = parse(header)
        if other is not None and other.app != mine.app and (found := clashes(mine, other)):
            problems.append(f"app {other.app} already has {', '.join(found)}")
    for color, owner in sorted(owners.items()):
        if owner != mine.app:
            whose = f"app {owner}'s" if owner else "not a bluegreen app's"
            problems.append(f"container {docker.container(mine.app, color)} exists and is {whose}")
    if not problems:
        return None
    return f"{mine.app} collides with what is on this host: {'; '.join(problems)}"


def refused(
    inventory: Inventory, headers: list[str], foreign: frozenset[int], rejects: bool = True
) -> tuple[int, ...]:
    """The ports (80, 443) where the host's shared default server refuses unknown names: each
    one that an app with domains (ours or another's ``headers``) listens on, the same for
    every app on the host, except where a site we did not install (``foreign``) is the
    default server, and 443 where nginx cannot reject a handshake (``rejects``: 1.19.4+).
    Empty for an app without domains: nothing of its changes."""
    if not inventory.app.domains:
        return ()
    sites = [site for header in headers if (site := parse(header)) is not None and site.domains]
    ports = set(listens(inventory)).union(*(site.listen for site in sites))
    names = {certificates.HTTP_PORT, certificates.HTTPS_PORT} - foreign
    if not rejects:
        names.discard(certificates.HTTPS_PORT)
    return tuple(sorted(ports & names))


def named(inventory: Inventory, headers: list[str]) -> tuple[str, ...]:
    """The apps on the host that answer by name (ours and others'), sorted: the shared
    default server's health endpoint follows each one's drain mark."""
    others = {site.app for header in headers if (site := parse(header)) and site.domains}
    mine = {inventory.app.name} if inventory.app.domains else set()
    return tuple(sorted(others | mine))
