"""Docker CLI commands: one image per release, one container per color."""

from __future__ import annotations

from shlex import quote

from bluegreen.config.inventory import COLORS, Host, Ports
from bluegreen.shell.wrap import quiet

LABEL = "bluegreen"


def image(app: str, release: str) -> str:
    return f"{app}:{release}"


def container(app: str, color: str) -> str:
    return f"{app}-{color}"


def aside(app: str, color: str) -> str:
    """The name the color's kept container (the rollback target) has while a new release
    is staged in its place."""
    return f"{container(app, color)}-prev"


def containers_probe(app: str) -> str:
    """One ``docker container inspect`` of the app's four names (the colors and their kept
    containers set aside), printing ``container_<color>=<status> <release> <image id>`` and
    ``owner_<color>=owner=<bluegreen.app label>`` per color and ``aside_<color>=yes``: each
    docker call costs a host ~25 ms, so the facts make one."""
    fields = '{{.Name}}|{{.State.Status}}|{{index .Config.Labels "bluegreen.release"}}'
    fields += '|{{.Image}}|{{index .Config.Labels "bluegreen.app"}}'
    names = [container(app, color) for color in COLORS] + [aside(app, c) for c in COLORS]
    cases = [
        f'{quote("/" + container(app, color))}) echo "container_{color}=$status $release $image";'
        f' echo "owner_{color}=owner=$owner";;'
        for color in COLORS
    ] + [f"{quote('/' + aside(app, color))}) echo aside_{color}=yes;;" for color in COLORS]
    return (
        f"docker container inspect -f {quote(fields)} {' '.join(quote(n) for n in names)}"
        " 2>/dev/null | while IFS='|' read -r name status release image owner;"
        f' do case "$name" in {" ".join(cases)} esac; done; true'
    )


def env_file(app_dir: str, color: str) -> str:
    return f"{app_dir}/{color}.env"


def stdin_to(path: str) -> str:
    """Write stdin to ``path`` (quoted) whole or not at all: a failed write (a full disk)
    removes its half-written ``.new`` and fails."""
    return f"{{ cat > {path}.new && mv -f {path}.new {path} || {{ rm -f {path}.new; false; }}; }}"


def build(app: str, release: str, context: str, dockerfile: str) -> str:
    """Build the release image; the last lines of a failed build reach the operator."""
    build = (
        # --force-rm: a failed step's container is removed too, so nothing is left behind
        f"docker build --force-rm --label {LABEL}.release={quote(release)}"
        f" -t {quote(image(app, release))}"
        f" -f {quote(context + '/' + dockerfile)} {quote(context)}"
    )
    return quiet(build)


def run(
    app: str,
    color: str,
    release: str,
    host: Host,
    ports: Ports,
    container_port: int,
    settings: str = "",
) -> str:
    """Start the release as the color's container; env comes from stdin into a 0600 file.

    The container it replaces is set aside (stopped, renamed), not removed, so a failed
    deploy can put it back (``restore``). The env file is written from stdin so values never
    appear in process arguments or logs. ``settings``: volumes and options (``container``).
    """
    name = quote(container(app, color))
    envf = quote(env_file(host.app_dir, color))
    color_port = ports.of(color)
    if host.network == "host":
        # the host's own network: the app must bind loopback, or the color port is public
        network = f"--network host -e HOST=127.0.0.1 -e PORT={color_port}"
    else:
        network = f"-e PORT={container_port} -p 127.0.0.1:{color_port}:{container_port}"
    return (
        f"umask 077 && mkdir -p {quote(host.app_dir)}"
        f" && {stdin_to(envf)}"
        f" && {set_aside(app, color)}"
        f" && docker run -d --pull never --name {name} --restart unless-stopped"
        f" --label {LABEL}.app={quote(app)} --label {LABEL}.color={color}"
        f" --label {LABEL}.release={quote(release)}"
        f" --env-file {envf} {network}{' ' + settings if settings else ''}"
        f" {quote(image(app, release))} >/dev/null"
    )


def set_aside(app: str, color: str) -> str:
    """Stop the color's container and rename it aside; one set aside before is dropped (the
    container under the color's name is always the one a switch or rollback uses)."""
    name, kept = quote(container(app, color)), quote(aside(app, color))
    return (
        f"{{ docker rm -f {kept} >/dev/null 2>&1 || true; }}"
        f" && {{ ! docker container inspect {name} >/dev/null 2>&1"
        f" || {{ docker stop {name} >/dev/null && docker rename {name} {kept}; }}; }}"
    )


def restore(app: str, color: str, running: bool) -> str:
    """Undo a staged release: remove its container and give the set-aside one its name back
    (started again when it ran before, as a warm standby does)."""
    name, kept = quote(container(app, color)), quote(aside(app, color))
    start = f" && docker start {name} >/dev/null" if running else ""
    return (
        f"docker rm -f {name} >/dev/null 2>&1;"
        f" if docker container inspect {kept} >/dev/null 2>&1;"
        f" then docker rename {kept} {name}{start}; fi"
    )


def discard_aside(app: str, color: str) -> str:
    """After a deploy ended switched, the container set aside for it is no longer needed."""
    return f"docker rm -f {quote(aside(app, color))} >/dev/null 2>&1 || true"


def image_present(app: str, release: str) -> str:
    """Prints ``image=present`` when the release's image is on the host, else ``image=``."""
    image_name = quote(image(app, release))
    return f"docker image inspect {image_name} >/dev/null 2>&1 && echo image=present || echo image="


def bridge_probe() -> str:
    """Prints ``docker_bridge=yes``, ``=no`` (dockerd runs with --bridge=none: ``-p`` is
    silently ignored) or ``=down`` (docker does not answer)."""
    return (
        "if nets=$(docker network ls --format '{{.Name}}' 2>/dev/null); then"
        " printf '%s\\n' \"$nets\" | grep -qx bridge && echo docker_bridge=yes"
        " || echo docker_bridge=no; else echo docker_bridge=down; fi"
    )


def start(app: str, color: str) -> str:
    return f"docker start {quote(container(app, color))} >/dev/null"


def stop(app: str, color: str) -> str:
    """Stop but keep the container, so rollback to it is instant (docker waits the
    container's own ``--stop-timeout``, ``app.stop_timeout``, before killing it)."""
    return f"docker stop {quote(container(app, color))} >/dev/null"


def drain(app: str, colors: list[str], seconds: float, wait: str) -> str:
    """Let in-flight requests finish (``seconds``, then the ``wait`` command: busy
    connections), then stop (keep) the colors that no longer serve."""
    stops = "; ".join(stop(app, color) for color in colors)
    return f"sleep {seconds:g}; {wait}; {stops}"


def logs(app: str, color: str, lines: int = 20, follow: bool = False) -> str:
    follow_flag = " --follow" if follow else ""
    return f"docker logs --tail {int(lines)}{follow_flag} {quote(container(app, color))} 2>&1"
