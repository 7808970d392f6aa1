"""Read-only probes of a host, in one round trip, parsed by a pure function.

State is derived from the host itself (the live include, container labels), never kept
in a second copy that could drift.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from shlex import quote

from bluegreen.config.inventory import COLORS, other
from bluegreen.facts import traffic
from bluegreen.facts.traffic import Split, Traffic
from bluegreen.shell import acme, docker, history, image, lock, nginx, process, resources

HISTORY_LINES = 20
# A release id: a commit's (git rev-parse --short=12, longer when ambiguous) or an image
# digest's first 12 hex digits. Ids read back from a host go into paths and commands.
RELEASE_ID = re.compile(r"[0-9a-f]{12,40}")


def release_id(text: object) -> bool:
    """``text`` is a release id (not something a host made up or a tampered file says)."""
    return isinstance(text, str) and RELEASE_ID.fullmatch(text) is not None


RESOURCES = (
    "mem_available",
    "disk_free",
    "app_disk_free",
    *(f"{what}_{color}" for what in ("memory", "image_size") for color in COLORS),
)  # enough to find the last verified release for a rollback


@dataclass(frozen=True)
class Container:
    status: str  # running | exited | created | restarting | ...
    release: str
    image_id: str = ""  # the image the container runs (sha256:...)

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class HostFacts:
    os_release: dict[str, str] = field(default_factory=dict)
    live_color: str | None = None
    live_release: str | None = None
    split: Split | None = None  # a share of the traffic going to the other color
    maintenance: bool = False  # nginx answers with the maintenance page (fab maintenance)
    drained: bool = False  # out of the load balancer: the health endpoint answers 503
    containers: dict[str, Container] = field(default_factory=dict)  # color -> container
    site_md5: str | None = None
    script_md5: str | None = None  # file mode's njs module
    http_md5: str | None = None  # with TLS: port 80's server (challenges, redirect)
    acme_names: tuple[str, ...] = ()  # the names of certbot's certificate for the app
    site_mode: str | None = None  # how the installed site switches: reload | file | core
    njs: bool = False  # nginx loads the njs module, so file mode is possible
    docker_bridge: str = ""  # yes | no (dockerd runs without its bridge network) | down
    systemd: str = ""  # runtime: process: yes | no (systemd is not the init); "" not asked
    image_present: bool = False
    image_id: str | None = None  # of the release's image, when it is on the host
    history: list[dict] = field(default_factory=list)  # the last records, oldest first
    lock: lock.LockInfo | None = None  # who holds the deploy lock, if anyone
    mark: lock.LockInfo | None = None  # the run that switched here and has not finished yet
    neighbours: list[str] = field(default_factory=list)  # other apps' site header lines
    refuse_md5: str | None = None  # the host's shared default server for unknown names
    refused: tuple[int, ...] = ()  # the ports it refuses them on (its header line)
    # the ports (IPv4) where a file we did not install has nginx's default_server
    foreign_defaults: frozenset[int] = frozenset()
    nginx_version: tuple[int, ...] = ()  # read with the default servers; () when not read

    @property
    def rejects_handshake(self) -> bool:
        """nginx knows ``ssl_reject_handshake`` (1.19.4+); an unread version is assumed new."""
        return not self.nginx_version or self.nginx_version >= (1, 19, 4)

    # color -> the bluegreen.app label of the container with our name ("" for none)
    owners: dict[str, str] = field(default_factory=dict)
    # bytes: mem_available, disk_free (docker's data root), app_disk_free, memory_<color>,
    # image_size_<color>; docker_root is that root's path (values that could not be read
    # are absent)
    resources: dict[str, int] = field(default_factory=dict)
    docker_root: str = ""
    # colors whose kept container is still set aside (``<app>-<color>-prev``): a deploy was
    # cut off (a partition, SIGKILL) before it could put it back or drop it
    aside: tuple[str, ...] = ()

    @property
    def traffic(self) -> Traffic | None:
        """What nginx serves now (None: nothing, or files we do not trust)."""
        if self.live_color is None or self.live_release is None:
            return None
        return Traffic(self.live_color, self.live_release, self.split, self.maintenance)

    @property
    def idle_color(self) -> str:
        """The color a deploy stages into: the one not live (blue on a fresh host)."""
        return other(self.live_color) if self.live_color else "blue"


def probe(
    app: str,
    app_dir: str,
    release: str | None = None,
    runtime: str = "docker",
    bridge: bool = False,
    certificate: bool = False,
    domains: bool = False,
) -> str:
    """One shell script printing ``key=value`` lines about the app on this host (with
    ``runtime: process`` its units stand for the containers, a built release directory for
    the image). Only what the change needs, as each tool started costs the host tens of ms:
    ``bridge``, whether dockerd has its bridge network (``network: bridge``); ``certificate``,
    the names of certbot's certificate (``tls: acme``); ``domains``, which ports have a
    default server we did not install (``nginx -T``); a ``release`` (a deploy: a new
    image), also its image and the resources a second color needs."""
    lines = [
        "grep -E '^(ID|VERSION_ID|ID_LIKE)=' /etc/os-release 2>/dev/null | sed 's/^/os_/'",
        f"printf 'live=%s\\n' \"$(head -n 1 {quote(nginx.live_path(app))} 2>/dev/null)\"",
        f"printf 'state=%s\\n' \"$(head -n 1 {quote(nginx.state_path(app))} 2>/dev/null)\"",
        f"printf 'current=%s\\n' \"$(readlink {quote(nginx.current_path(app))} 2>/dev/null)\"",
        f"printf 'site=%s\\n' \"$(md5sum {quote(nginx.site_path(app))} 2>/dev/null)\"",
        f"printf 'script=%s\\n' \"$(md5sum {quote(nginx.script_path(app))} 2>/dev/null)\"",
        f"printf 'http=%s\\n' \"$(md5sum {quote(nginx.http_path(app))} 2>/dev/null)\"",
        f"printf 'refuse=%s\\n' \"$(md5sum {quote(nginx.refuse_path())} 2>/dev/null)\"",
        f"if [ -e {quote(nginx.drain_path(app))} ]; then echo drained=yes; fi",
        f"printf 'refuse_head=%s\\n' \"$(head -n 1 {quote(nginx.refuse_path())} 2>/dev/null)\"",
        *([nginx.foreign_defaults_probe()] if domains else []),
        f"printf 'site_head=%s\\n' \"$(head -n 1 {quote(nginx.site_path(app))} 2>/dev/null)\"",
        nginx.njs_probe(),
        *([docker.bridge_probe()] if bridge else []),
        *([acme.names_probe(app)] if certificate else []),
        f"{{ {history.tail(app_dir, HISTORY_LINES)}; }} | sed 's/^/history=/'",
        f"printf 'lock_info=%s\\n' \"$({lock.show(app_dir)})\"",
        f"printf 'mark=%s\\n' \"$({lock.show_mark(app_dir)})\"",
    ]
    site = quote(nginx.site_path(app))
    lines.append(
        f'for f in {quote(nginx.CONF_DIR)}/conf.d/bluegreen-*.conf; do [ -f "$f" ] &&'
        f' [ "$f" != {site} ] && printf \'neighbour=%s\\n\' "$(head -n 1 "$f")"; done; true'
    )
    if runtime == "process":
        lines += process.probe(app, app_dir)
        return "\n".join(lines + ([process.built(app_dir, release)] if release else []))
    lines.append(docker.containers_probe(app))
    if release:
        lines += [resources.probe(app, app_dir)]
        lines += [docker.image_present(app, release), image.image_id(app, release)]
    return "\n".join(lines)


def pairs(output: str) -> dict[str, str]:
    """The ``key=value`` lines of a probe's output (other lines are ignored)."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def parse(output: str) -> HostFacts:
    lines = output.splitlines()
    values = pairs(output)
    site_mode = _words(values.get("site_head", "")).get("mode")
    if site_mode == "file":
        serving = traffic.parse(values.get("state", ""))
    elif site_mode == "core":
        serving = traffic.from_link(values.get("current", ""))
    else:
        serving = traffic.from_header(_words(values.get("live", "")))
    containers = {}
    for color in COLORS:
        status, _, rest = values.get(f"container_{color}", "").partition(" ")
        release, _, image_id = rest.strip().partition(" ")
        if status:  # a label (or link) that is no release id: the release is unknown
            release = release if release_id(release) else ""
            containers[color] = Container(status, release, image_id.strip())
    return HostFacts(
        os_release={k[3:]: v.strip('"') for k, v in values.items() if k.startswith("os_")},
        live_color=serving and serving.color,
        live_release=serving and serving.release,
        split=serving and serving.split,
        maintenance=bool(serving and serving.maintenance),
        drained=values.get("drained") == "yes",
        containers=containers,
        site_md5=_md5(values.get("site", "")),
        script_md5=_md5(values.get("script", "")),
        http_md5=_md5(values.get("http", "")),
        acme_names=acme.parse_names(values.get("acme_names", "")),
        site_mode=site_mode if site_mode in ("reload", "file", "core") else None,
        njs=values.get("njs") == "yes",
        docker_bridge=values.get("docker_bridge", ""),
        systemd=values.get("systemd", ""),
        image_present=values.get("image") == "present",
        image_id=values.get("image_id") or None,
        history=[_json(line[8:]) for line in lines if line.startswith("history=")],
        lock=lock.parse(values.get("lock_info", "")),
        mark=lock.parse(values.get("mark", "")),
        neighbours=[line[10:] for line in lines if line.startswith("neighbour=")],
        refuse_md5=_md5(values.get("refuse", "")),
        nginx_version=tuple(
            int(part)
            for part in values.get("nginx_version", "").rpartition("/")[2].split(".")
            if part.isdigit()
        ),
        refused=tuple(
            int(port)
            for port in _words(values.get("refuse_head", "")).get("ports", "").split(",")
            if port.isdigit()
        ),
        foreign_defaults=frozenset(
            port
            for line in lines
            if line.startswith("default_server=") and (port := _default_port(line[15:]))
        ),
        resources={
            key: int(value)
            for key, value in values.items()
            if key in RESOURCES and value.strip().isdigit()
        },
        docker_root=values.get("docker_root", ""),
        aside=tuple(color for color in COLORS if values.get(f"aside_{color}") == "yes"),
        owners={
            color: values[f"owner_{color}"].removeprefix("owner=").removesuffix("<no value>")
            for color in COLORS
            if values.get(f"owner_{color}", "").startswith("owner=")
        },
    )


def _json(text: str) -> dict:
    try:
        record = json.loads(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _md5(md5sum_line: str) -> str | None:
    return md5sum_line.split()[0] if md5sum_line.strip() else None


def _default_port(listen: str) -> int | None:
    """``listen 80 default_server;`` -> 80; None for IPv6 (ours listen on IPv4 only) or a
    unix socket."""
    words = listen.replace(";", " ").split()
    if len(words) < 2 or words[1].startswith(("[", "unix:")):
        return None
    port = words[1].rsplit(":", 1)[-1]
    return int(port) if port.isdigit() else None


def _words(line: str) -> dict[str, str]:
    """``# bluegreen a=1 b=2`` -> {"a": "1", "b": "2"}: the header lines bluegreen writes."""
    return dict(word.split("=", 1) for word in line.split() if "=" in word)
