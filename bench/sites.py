"""The switch modes' sites as nginx files, rendered from bluegreen's real render.

Shared by the wrk cost (bench.py, on a sandbox host) and the instruction count
(instructions.py, on a private nginx): both must measure what a host really runs.
"""

from __future__ import annotations

from pathlib import Path

from bluegreen import render
from bluegreen.config.inventory import App, Inventory, Ports
from bluegreen.facts.traffic import Traffic

TRAFFIC = Traffic("blue", "bench")
CONSTANT_NJS = "function live(r) { return 'blue bench'; }\nexport default {live};\n"
VMONLY = "vmonly"  # file mode's njs call alone: a function that returns a constant


def backends(ports: Ports) -> str:
    """The two colors' backends, in the same nginx: ``return 200`` (nginx is the bottleneck)."""
    return "".join(
        f"server {{ listen 127.0.0.1:{p}; access_log off; return 200 'ok'; }}\n"
        for p in (ports.blue, ports.green)
    )


def files(app: str, mode: str, ports: Ports, where: Path) -> dict[str, str]:
    """Path -> text of ``app``'s site in ``mode`` serving ``TRAFFIC`` (core: its link too,
    which the caller points with ``nginx.point_link``)."""
    inv = Inventory(path=where / "x.yml", app=App(name=app), ports=ports, hosts={}, groups={})
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
