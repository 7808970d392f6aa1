"""Render nginx configuration from Jinja templates (StrictUndefined).

A template in ``<inventory dir>/templates/`` overrides the bundled one of the same name
(the bundled folder itself is never taken for a user's, e.g. in this checkout).
"""

from __future__ import annotations

import re

import jinja2

from bluegreen.config import certificates
from bluegreen.config.inventory import COLORS, Host, Inventory
from bluegreen.errors import TemplateError
from bluegreen.facts import neighbours
from bluegreen.facts.traffic import Traffic
from bluegreen.files import bundled
from bluegreen.shell import nginx

BUNDLED = bundled("templates")
# Core mode's split: "<bucket> <percent>" (two digits each) where the bucket is the smaller:
# a smaller tens digit, or the same tens digit (\1) and a smaller ones digit.
BELOW = "|".join(
    [f"{t}[0-9] [{t + 1}-9][0-9]" for t in range(9)]
    + ["([0-9])(?:" + "|".join(f"{o} \\1[{o + 1}-9]" for o in range(9)) + ")"]
)
RETRY_AFTER = 60  # seconds, in the maintenance page's Retry-After header


def environment(inventory: Inventory) -> jinja2.Environment:
    user_dir = inventory.path.parent.resolve() / "templates"
    mine = [user_dir] if user_dir.is_dir() and user_dir != BUNDLED.resolve() else []
    search = [str(d) for d in (*mine, BUNDLED)]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(env: jinja2.Environment, name: str, **values: object) -> str:
    try:
        return env.get_template(name).render(**values)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"{e.filename or name}:{e.lineno}: {e.message}") from e
    except jinja2.UndefinedError as e:
        raise TemplateError(f"{name}: {e.message}") from e


def _common(inventory: Inventory) -> dict[str, object]:
    app = inventory.app.name
    return {
        "app": app,
        "app_id": app.replace("-", "_"),
        "live_path": nginx.live_path(app),
        "http_path": nginx.http_path(app),
        "state_path": nginx.state_path(app),
        "script_path": nginx.script_path(app),
        "current_path": nginx.current_path(app),
        "states_regex": re.escape(nginx.states_dir(app)),
        "below": BELOW,
        "access_log": nginx.access_log_path(app),
        "public_port": inventory.ports.public,
        "ports": {color: inventory.ports.of(color) for color in COLORS},
        "domains": inventory.app.domains,
        "listen": neighbours.listens(inventory),
        "http_port": certificates.HTTP_PORT,
        "https_port": certificates.HTTPS_PORT,
        "webroot": certificates.WEBROOT,
        "tls": _tls(inventory),
        "maintenance_page": nginx.maintenance_path(app),
        "retry_after": RETRY_AFTER,
        "proxy": inventory.app.proxy,
        "assets_url": inventory.app.assets and inventory.app.assets_prefix(),
        "assets_root": nginx.assets_path(app),
        "balancer": inventory.app.balancer,
        "drain_path": nginx.drain_path(app),
    }


def _tls(inventory: Inventory) -> dict[str, object]:
    """The site's TLS settings: mode, HSTS and where the host keeps certificate and key."""
    tls = inventory.app.tls
    paths = certificates.host_paths(inventory.app.name, tls.mode, tls.pair)
    certificate, key = paths or (None, None)
    return {"mode": tls.mode, "hsts": tls.hsts, "certificate": certificate, "key": key}


def site(env: jinja2.Environment, inventory: Inventory, switch_mode: str) -> str:
    """The server block on the public port, for ``reload``, ``file`` or ``core`` switching."""
    return render(env, "site.conf.j2", **_common(inventory), switch_mode=switch_mode)


def http(env: jinja2.Environment, inventory: Inventory, host: Host) -> str:
    """With TLS: port 80 (challenges, redirect); with ACME, a challenge this host does not
    hold is asked of its peers (``peers``)."""
    acme = inventory.app.tls.mode == "acme"
    found = peers(inventory, host) if acme else []
    return render(env, "http.conf.j2", **_common(inventory), peers=found)


def peers(inventory: Inventory, host: Host) -> list[str]:
    """Where else a challenge for ``host``'s domains may land, as nginx ``server`` addresses
    (IPv6 in brackets): the other hosts of the groups that list it (staging's hosts serve
    other names than production's); hosts no group lists are each other's peers."""

    def groups(name: str) -> set[str]:
        return {group for group, members in inventory.groups.items() if name in members}

    mine = groups(host.name)
    others = [h for h in inventory.hosts.values() if h.address != host.address]
    fleet = [h for h in others if (groups(h.name) & mine if mine else not groups(h.name))]
    return [f"[{h.address}]" if ":" in h.address else h.address for h in fleet]


def refuse(env: jinja2.Environment, ports: tuple[int, ...], apps: tuple[str, ...] = ()) -> str:
    """The host's default server on ``ports`` (80, 443): unknown names get a refusal, the
    health endpoint the host's state (503 while one of ``apps`` is drained)."""
    values = {"http_port": certificates.HTTP_PORT, "https_port": certificates.HTTPS_PORT}
    drains = [nginx.drain_path(app) for app in apps]
    return render(env, "refuse.conf.j2", ports=ports, drain_paths=drains, **values)


def script(env: jinja2.Environment, inventory: Inventory) -> str:
    """File mode: the njs module that reads the live color per request."""
    return render(env, "state.js.j2", **_common(inventory))


def state(traffic: Traffic) -> str:
    """File mode: the state file's one line."""
    return traffic.line() + "\n"


def live(env: jinja2.Environment, inventory: Inventory, traffic: Traffic) -> str:
    """Reload mode: the include that sends the traffic (one upstream, weighted when split)."""
    return render(
        env,
        "live.conf.j2",
        **_common(inventory),
        color=traffic.color,
        release=traffic.release,
        split=traffic.split,
        maintenance=traffic.maintenance,
        port=inventory.ports.of(traffic.color),
    )


def maintenance_page(env: jinja2.Environment, inventory: Inventory, message: str) -> str:
    """The page nginx answers with while maintenance is on; ``message`` is HTML-escaped."""
    return render(env, "maintenance.html.j2", **_common(inventory), message=message)


def traffic_program(env: jinja2.Environment, inventory: Inventory) -> str:
    """With metrics: the mtail program that counts the app's requests by color and status."""
    return render(env, "traffic.mtail.j2", **_common(inventory))
