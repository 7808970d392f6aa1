"""The switch modes' sites as nginx files, rendered from bluegreen's real render.

Shared by the wrk cost (bench.py, on a sandbox host) and the instruction count
(instructions.py, on a private nginx): both must measure what a host really runs.
"""

from __future__ import annotations

import re
from pathlib import Path

from bluegreen import render
from bluegreen.config.inventory import App, Inventory, Ports, Proxy
from bluegreen.facts.traffic import Traffic

TRAFFIC = Traffic("blue", "bench")
CONSTANT_NJS = "function live(r) { return 'blue bench'; }\nexport default {live};\n"
VMONLY = "vmonly"  # file mode's njs call alone: a function that returns a constant
# Where a private nginx on loopback serves a site's public server: its 127.0.0.1 server is
# the one bluegreen's checks ask (with the release headers); a host's public server listens
# on every address instead, which a bench must not.
PUBLIC = "127.0.0.2"


def backends(ports: Ports) -> str:
    """The two colors' backends, in the same nginx: ``return 200`` (nginx is the bottleneck)."""
    return "".join(
        f"server {{ listen 127.0.0.1:{ports.of(c)}; access_log off; return 200 '{c}'; }}\n"
        for c in ("blue", "green")
    )


def relocated(text: str, root: Path) -> str:
    """``text`` with the host's nginx paths moved under the private prefix ``root`` (as deep
    as /etc/nginx: core mode's realpath() walks every component), its public port on
    ``PUBLIC``."""
    text = text.replace("/etc/nginx/", f"{root}/").replace("/var/log/nginx/", f"{root}/")
    return re.sub(r"^( *listen )(\d+;)", rf"\g<1>{PUBLIC}:\2", text, flags=re.M)


def files(
    app: str, mode: str, ports: Ports, where: Path, proxy: Proxy | None = None
) -> dict[str, str]:
    """Path -> text of ``app``'s site in ``mode`` serving ``TRAFFIC`` (core: its link too,
    which the caller points with ``nginx.point_link``)."""
    site = App(name=app, proxy=proxy or Proxy())
    inv = Inventory(path=where / "x.yml", app=site, ports=ports, hosts={}, groups={})
    env = render.environment(inv)
    out = {f"/etc/nginx/conf.d/bluegreen-{app}.conf": render.site(env, inv, mode)}
    if app == VMONLY:
        out[f"/etc/nginx/bluegreen/{app}.js"] = CONSTANT_NJS
    elif mode == "file":
        out[f"/etc/nginx/bluegreen/{app}.js"] = render.script(env, inv)
        out[f"/etc/nginx/bluegreen/{app}.state"] = render.state(TRAFFIC)
    elif mode == "reload":
        out[f"/etc/nginx/bluegreen/{app}.live.conf"] = render.live(env, inv, TRAFFIC)
    return out
