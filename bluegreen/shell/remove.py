"""Taking an app off a host (``fab remove``): everything bluegreen installed for it, and
nothing of another app's. Its history and named volumes stay unless asked.

Every name is the app's own: its containers (``<app>-<color>``, set-aside ones too), its
image repository, its units, its nginx files; the TLS pairs by the same 12-character
fingerprint pattern as ``tls.prune``, so app ``a`` never matches app ``a-b``'s files. The
host's shared default server goes only when no other app on it answers by name.
"""

from __future__ import annotations

from shlex import quote

from bluegreen.config.certificates import TLS_DIR
from bluegreen.config.inventory import COLORS, App
from bluegreen.config.model import Metrics
from bluegreen.shell import acme, docker, history, metrics, nginx, process

PRESENT = "present=yes"


def present(app: str, app_dir: str, then: str = "") -> str:
    """Prints ``present=yes`` and runs ``then`` (taking the lock) when the app's site is on
    the host, or its directory holds more than a history (what a removal keeps); else
    nothing is run, so nothing changes."""
    kept = quote(history.path(app_dir).rsplit("/", 1)[1])
    files = f"find {quote(app_dir)} -mindepth 1 -maxdepth 1 ! -name {kept} 2>/dev/null"
    site = quote(nginx.site_path(app))
    found = f"echo {PRESENT}; {then}" if then else f"echo {PRESENT}"
    return f'if [ -e {site} ] || [ -n "$({files})" ]; then {found}; fi'


def _runtime(app: App) -> list[str]:
    """Stop and remove both colors, the workers and scheduled jobs (and the images, or the
    units)."""
    name = app.name
    if app.runtime == "process":
        units = " ".join(quote(process.unit(name, color)) for color in COLORS)
        template = quote(f"{process.UNIT_DIR}/{process.template(name)}")
        return [
            f"systemctl disable --now {units} >/dev/null 2>&1 || true",
            *_worker_units(name),
            f"rm -f {template} && systemctl daemon-reload",
            f"systemctl reset-failed $units {quote(process.unit(name, '*'))} >/dev/null 2>&1"
            " || true",
            *_system_user(app),
        ]
    names = [docker.container(name, c) for c in COLORS] + [docker.aside(name, c) for c in COLORS]
    repository = quote(name)
    label = docker.LABEL
    return [
        f"docker rm -f {' '.join(quote(n) for n in names)} >/dev/null 2>&1 || true",
        # workers, set-aside ones and schedulers (docs/guides/workers.md), named or not in
        # hosts.yml any more: they run the app's images, so they go first
        f"docker ps -aq --filter label={label}.app={quote(name)} --filter label={label}.process"
        " | xargs -r docker rm -f >/dev/null",
        # by tag: an image another app's tag also names (the same build) stays for it
        f"docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' {repository}"
        " | grep -v ':<none>$' | xargs -r docker rmi >/dev/null",
    ]


def _worker_units(name: str) -> list[str]:
    """The units of the app's workers and its scheduled jobs' timers and services
    (``bluegreen-<app>-<name>.*``), found by their first line: the name alone would match
    app ``<app>-b``'s too. Their release links are in the app's directory."""
    header = quote(f"^# bluegreen app={name} (process|schedule)=")
    globbed = f"bluegreen-{name}-*.service bluegreen-{name}-*.timer"  # the name: [a-z0-9_-]
    where = process.UNIT_DIR
    return [
        f"units=$(cd {where} && grep -lsE {header} {globbed} || true)",
        'if [ -n "$units" ]; then systemctl disable --now $units >/dev/null 2>&1 || true;'
        f" (cd {where} && rm -f $units); fi",
    ]


def _metrics(name: str, settings: Metrics) -> list[str]:
    """The app's files in node_exporter's textfile directory (those naming this app:
    ``bluegreen-a-lock.prom`` may be app ``a-lock``'s state), and its mtail program, which
    mtail forgets on a restart (systemd) or a SIGHUP (started by bootstrap without one)."""
    directory = settings.textfile_dir
    files = " ".join(
        quote(f"{directory}/{f}") for f in (metrics.state_file(name), metrics.lock_file(name))
    )
    program, pidfile = quote(metrics.program_path(name)), metrics.PIDFILE.format(name="mtail")
    label = quote(f'app="{name}"')
    return [
        f"grep -lsF {label} {files} | xargs -r rm -f",
        f"if [ -e {program} ]; then rm -f {program}; systemctl try-restart mtail 2>/dev/null"
        f' || {{ [ -s {pidfile} ] && kill -HUP "$(cat {pidfile})"; }} || true; fi',
    ]


def _system_user(app: App) -> list[str]:
    """The app's own system user (after its units stopped); a user ``options.user`` names
    is the operator's and stays."""
    if app.options.user:
        return []
    user = quote(process.system_user(app.name))
    kept = quote(
        f"kept the system user {process.system_user(app.name)}: a process still runs as it"
    )
    return [f"if id -u {user} >/dev/null 2>&1; then userdel {user} || echo {kept}; fi"]


def _volumes(app: App) -> list[str]:
    """The app's named volumes (``name:/path``; host directories are never removed), or
    with ``runtime: process`` its state directory."""
    if app.runtime == "process":
        return [f"rm -rf {quote('/var/lib/' + process.state_directory(app.name))}"]
    named = [v.split(":", 1)[0] for v in app.volumes if not v.startswith("/")]
    return [f"docker volume rm {' '.join(quote(v) for v in named)}"] if named else []


def _nginx(name: str) -> list[str]:
    """The app's site and switch files; the shared default server when no other app on the
    host answers by name; then test and reload."""
    files = [
        nginx.site_path(name),
        nginx.http_path(name),
        nginx.live_path(name),
        nginx.state_path(name),
        nginx.script_path(name),
        nginx.current_path(name),
        nginx.drain_path(name),
        nginx.maintenance_path(name),
    ]
    prev = " ".join(quote(f"{f}.prev") for f in files)
    listed = " ".join(quote(f) for f in (*files, nginx.access_log_path(name)))
    pairs = quote(f"{name}-{'?' * 12}.*")
    named = "'^# bluegreen site .* domains=[^-]'"
    return [
        f"rm -f {listed} {prev}",
        f"rm -rf {quote(nginx.states_dir(name))}",
        f"find {quote(TLS_DIR)} -maxdepth 1 -name {pairs} -delete 2>/dev/null || true",
        f"if ! grep -qs {named} {nginx.CONF_DIR}/conf.d/bluegreen-*.conf; then"
        f" rm -f {quote(nginx.refuse_path())}; fi",
        "nginx -t && nginx -s reload",
    ]


def _certificates(app: App) -> list[str]:
    """``tls: acme``: certbot's lineage of the app (named after it) and its CA bundle, once
    nginx no longer names them; the shared webroot and renewal timer stay."""
    if app.tls.mode != "acme":
        return []
    return [
        f"certbot delete --non-interactive --cert-name {quote(app.name)} >/dev/null 2>&1 || true",
        f"rm -f {quote(acme.ca_path(app.name))}",
    ]


def remove(
    app: App,
    app_dir: str,
    release_lock: str,
    volumes: bool,
    keep_history: bool,
    settings: Metrics | None = None,
) -> str:
    """The whole removal, one command (``set -e``); ``release_lock`` gives the lock back
    before the app's directory goes (with ``keep_history`` only the history stays).
    ``settings``: the inventory's ``metrics:`` (none: where its files would be by default)."""
    # nginx first: no request goes to the app once its containers stop
    steps = ["set -e", *_nginx(app.name), *_certificates(app), *_runtime(app)]
    steps += _metrics(app.name, settings or Metrics())
    steps += _volumes(app) if volumes else []
    d = quote(app_dir)
    if keep_history:
        kept = quote(history.path(app_dir).rsplit("/", 1)[1])
        steps.append(
            f"if [ -d {d} ]; then find {d} -mindepth 1 -maxdepth 1 ! -name {kept}"
            " ! -name .lock -exec rm -rf {} +; fi"
        )
        steps.append(release_lock)
    else:
        steps += [release_lock, f"rm -rf {d}"]
    return "\n".join(steps)
