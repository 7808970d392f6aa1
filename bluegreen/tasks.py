"""bluegreen's fab tasks: parse arguments, call the orchestration, set the exit code.

Hosts come from ``-H`` (inventory groups and hosts, comma-separated) or the inventory's
default group; one call runs one orchestration over all of them.

Each task imports only what it uses, inside its body: ``fab --list`` and ``fab switch``
then start without loading bootstrap, the image tools, the test rigs, ... (measured with
``python -X importtime``; start-up is most of a warm switch's CPU).
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from bluegreen.errors import BUG_EXIT, BluegreenError, BugFound

if TYPE_CHECKING:
    from bluegreen.config import inventory
    from bluegreen.engine.state import Options

# The defaults of config.bluegreen, set on the collection so that both `fab` (fabfile.py)
# and the `bluegreen` program (which loads no project config) have them.
# ``command``: the exact words after ``--`` (set by the executor, for ``exec``).
CONFIG = {"bluegreen": {"inventory": "hosts.yml", "hosts": [], "command": []}}
CHANGE_HELP = {
    "dry-run": "print each host's command plan (after a read-only probe); change nothing",
    "batch": "switch N hosts (e.g. 2) or a share (e.g. 25%) at a time; default all at once",
    "parallel": "hosts worked on at once within a phase (default 50)",
    "json": "print one JSON object per line: each step, then a summary (for CI and scripts)",
}
FORCE_HELP = {
    "force": "go on although a host is in maintenance (the switch takes the page down)",
}


def _run(
    c: Context,
    operation: Callable[..., bool],
    *args: object,
    events: bool = False,
    **kwargs: object,
) -> None:
    """Load the inventory, resolve hosts, run; a bad input is one line and exit code 2.
    ``events``: the log as JSON lines (``--json``)."""
    from bluegreen.config import inventory
    from bluegreen.output.events import JsonLog
    from bluegreen.output.log import Log

    settings = c.config.bluegreen
    try:
        inv = inventory.load(settings.inventory)
        hosts = inv.select(settings.hosts)
        kind = JsonLog if events else Log
        log = kind(width=max(len(h.name) for h in hosts), secrets=_secrets(inv, hosts))
        ok = operation(inv, hosts, *args, log, **kwargs)
    except BluegreenError as error:
        raise Exit(f"❌ {error}", code=2) from error
    except Exception as error:
        if not isinstance(error, BugFound):  # else its traceback was printed under its host
            traceback.print_exc()
        raise Exit(
            f"❌ a bug in bluegreen (exit code {BUG_EXIT}): please report it with the traceback"
            f" above ({error})",
            code=BUG_EXIT,
        ) from error
    if not ok:
        raise Exit(code=1)


def _secrets(inv: inventory.Inventory, hosts: list[inventory.Host]) -> set[str]:
    """Values the log masks: secrets, env_file values, and the registry password when it
    can be read (env values are plain settings, shown)."""
    values = set(inv.secret_values)
    if inv.secrets.registry is not None:
        with contextlib.suppress(BluegreenError):  # not needed by every task
            values.add(inv.secrets.registry.password())
    return values


def _number(option: str, value: object, default: float, cast: type = int) -> float:
    """A numeric option (given as text, so a typo is a clear error, not a traceback)."""
    if value is None:
        return default
    try:
        number = cast(value)
    except ValueError:
        number = -1
    if number <= 0:
        kind = "a whole number" if cast is int else "a number"
        flag = f"-{option}" if len(option) == 1 else f"--{option}"
        raise Exit(f"❌ {flag} takes {kind} above 0, not {value!r}", code=2)
    return number


def _options(
    dry_run: bool, batch: str | None, parallel: str | None, force: bool = False
) -> Options:
    from bluegreen.engine.state import PARALLEL, Options

    parallel_hosts = _number("parallel", parallel, PARALLEL)
    return Options(dry_run=dry_run, batch=batch, parallel=parallel_hosts, force=force)


@task(
    help={
        "ref": "git ref to deploy (default HEAD of the app's repository)",
        "canary": "move traffic in steps, e.g. 10,50 (percent), then 100; abort on errors",
        "hold": "seconds each canary step is held and watched (default 30)",
        "skip-release": "do not run the release command (app.release) this time",
        "force": "go on despite maintenance or too little free memory/disk on a host",
        **CHANGE_HELP,
    }
)
def deploy(
    c,
    ref="HEAD",
    canary=None,
    hold=None,
    skip_release=False,
    force=False,
    dry_run=False,
    batch=None,
    parallel=None,
    json=False,
):
    """Deploy REF to the idle color on every host, then switch the fleet to it."""
    from bluegreen.ops.deploy import deploy as run_deploy

    hold = _number("hold", hold, 30.0, float)
    options = _options(dry_run, batch, parallel, force)
    _run(
        c,
        run_deploy,
        ref,
        options=options,
        canary=canary,
        hold=hold,
        skip_release=skip_release,
        events=json,
    )


@task(help={**FORCE_HELP, **CHANGE_HELP})
def rollback(c, force=False, dry_run=False, batch=None, parallel=None, json=False):
    """Go back to the previous color and release on every host (instant: it is kept)."""
    from bluegreen.ops.serve import rollback as run_rollback

    options = _options(dry_run, batch, parallel, force)
    _run(c, run_rollback, options=options, events=json)


@task(help={"to": "blue or green", **FORCE_HELP, **CHANGE_HELP})
def switch(c, to, force=False, dry_run=False, batch=None, parallel=None, json=False):
    """Make a color live on every host, with the same health and serving checks as deploy."""
    from bluegreen.ops.serve import switch as run_switch

    options = _options(dry_run, batch, parallel, force)
    _run(c, run_switch, to, options=options, events=json)


@task(
    help={
        "green": "percent of the requests for green (1-99), when blue is live",
        "blue": "percent of the requests for blue (1-99), when green is live",
        "sticky": "by client address: one client always gets the same color",
        **CHANGE_HELP,
    }
)
def split(
    c, green=None, blue=None, sticky=False, dry_run=False, batch=None, parallel=None, json=False
):
    """Send a share of the requests to the color that is not live (both colors serve)."""
    if (green is None) == (blue is None):
        raise Exit("❌ give exactly one of --green N or --blue N", code=2)
    color, percent = ("green", green) if green is not None else ("blue", blue)
    if not str(percent).isdigit():
        raise Exit(f"❌ --{color} takes a whole percent from 1 to 99, not {percent!r}", code=2)
    from bluegreen.ops.split import split as run_split

    options = _options(dry_run, batch, parallel)
    _run(c, run_split, color, int(percent), sticky, options=options, events=json)


@task(help=CHANGE_HELP)
def promote(c, dry_run=False, batch=None, parallel=None, json=False):
    """Send all requests to the split's new color; drain and stop the old one."""
    from bluegreen.ops.split import promote as run_promote

    options = _options(dry_run, batch, parallel)
    _run(c, run_promote, options=options, events=json)


@task(help=CHANGE_HELP)
def abort(c, dry_run=False, batch=None, parallel=None, json=False):
    """End a split: all requests back to the live color; stop the other one."""
    from bluegreen.ops.split import abort as run_abort

    options = _options(dry_run, batch, parallel)
    _run(c, run_abort, options=options, events=json)


@task(
    help={
        "on": "put the maintenance page up: nginx answers 503, the containers keep running",
        "off": "take it down: nginx proxies to the live color again",
        "message": "the page's text (one line, at most 200 characters; HTML-escaped)",
        "dry-run": CHANGE_HELP["dry-run"],
    }
)
def maintenance(c, on=False, off=False, message=None, dry_run=False):
    """Put a maintenance page up (--on [--message TEXT]) or take it down (--off)."""
    from bluegreen.ops.maintenance import maintenance as maintenance_mode

    if on == off:
        raise Exit("❌ give exactly one of --on or --off", code=2)
    _run(c, maintenance_mode, on, message, options=_options(dry_run, None, None))


@task(
    help={
        "yes": "do not ask for confirmation (needed without a terminal, e.g. in CI)",
        "volumes": "also remove the app's named volumes (kept by default)",
        "history": "also remove the app's history on the hosts (kept by default)",
        "dry-run": CHANGE_HELP["dry-run"],
    }
)
def remove(c, yes=False, volumes=False, history=False, dry_run=False):
    """Take the app off its hosts: containers, images, nginx site, files (not other apps')."""
    import sys

    from bluegreen.ops.remove import remove as remove_app

    if not (yes or dry_run or sys.stdin.isatty()):
        raise Exit("❌ remove asks for confirmation: give --yes (there is no terminal)", code=2)

    def confirm(plan: str) -> bool:
        return yes or input(f"{plan}? [y/N] ").strip().lower() in ("y", "yes")

    _run(c, remove_app, confirm, volumes, not history, dry_run)


@task(
    help={
        "color": "blue or green (default: the live color of each host)",
        "n": "lines per host (default 50)",
        "follow": "keep streaming new lines until Ctrl-C",
        "process": "a process of app.processes (its hosts only), instead of a color",
    }
)
def logs(c, color=None, n=None, follow=False, process=None):
    """Show the app's container output from every host, prefixed by host."""
    from bluegreen.ops.logs import logs as app_logs

    _run(c, app_logs, color, _number("n", n, 50), follow, process=process)


@task(
    name="exec",
    help={
        "color": "blue or green (default: the live color of each host)",
        "once": "on the first selected host only",
        "new": "in a one-off container of the live image (docker run --rm), not the running one",
        "interactive": "with a terminal (a shell, a console), on exactly one host",
        "process": "beside a process of app.processes (its container or unit), on its hosts",
    },
)
def exec_task(c, color=None, once=False, new=False, interactive=False, process=None):
    """Run a command in the app's container on every host: fab exec -- CMD ARGS."""
    from bluegreen.ops.execute import execute

    argv = list(c.config.bluegreen.command)
    _run(c, execute, argv, color, once, new=new, interactive=interactive, process=process)


@task(help={"n": "how many records per host (default 10)"})
def history(c, n=None):
    """Show the last changes made on every host (who, what, from → to, result)."""
    from bluegreen.ops.history import show_history

    _run(c, show_history, _number("n", n, 10))


@task(name="status")
def lock_status_task(c):
    """Show who holds the deploy lock on every host."""
    from bluegreen.ops.locks import lock_status

    _run(c, lock_status)


@task(name="release")
def lock_release_task(c):
    """Break the deploy lock on every host (says whose lock it broke)."""
    from bluegreen.ops.locks import lock_release

    _run(c, lock_release)


@task(help={"json": "print JSON (schema in bluegreen/ops/status.py) instead of a table"})
def status(c, json=False):
    """Show, per host, the live color, each color's release and health, lock, last change."""
    from bluegreen.ops.status import status as status_of

    _run(c, status_of, json)


@task(
    help={
        "dry-run": "print each host's plan (after a read-only probe) and change nothing",
        "docker-group": "also add the login user to the docker group (root without sudo's log;"
        " not needed: every command runs with sudo -n)",
    }
)
def bootstrap(c, dry_run=False, docker_group=False):
    """Prepare fresh Ubuntu/Debian or Amazon Linux 2023 hosts for deploys (idempotent)."""
    from bluegreen.ops import bootstrap as bootstrap_hosts

    _run(c, bootstrap_hosts.bootstrap, dry_run, docker_group=docker_group)


@task(
    auto_shortflags=False,  # -h would read as --help, -f as fab's --config
    help={
        "health": "URL path that answers 200 when the app is up (default /)",
        "dockerfile": "the Dockerfile to build, when there are several (default: the one found)",
        "fabfile": "also write fabfile.py and fabric.yaml, so plain fab works here too",
        "runtime": "docker or process (default: docker where a Dockerfile is, else process)",
        "command": "runtime process: how the app starts (default: told by package.json, ...)",
        "build-command": "runtime process: run once per release before it starts",
    },
)
def init(
    c,
    health="/",
    dockerfile=None,
    fabfile=False,
    runtime=None,
    command=None,
    build_command=None,
):
    """Write a commented hosts.yml for the app repository in this folder; say what to edit."""
    from bluegreen.local import init as app_init

    name = c.config.bluegreen.inventory
    try:
        plan = app_init.prepare(
            Path.cwd(), Path(name), health, dockerfile, fabfile, runtime, command, build_command
        )
        done = app_init.write(plan)
    except BluegreenError as error:
        raise Exit(f"❌ {error}", code=2) from error
    print("\n".join(f"✅ {line}" for line in done))
    for line in app_init.warnings(plan):
        print(f"⚠️  {line}")
    print(app_init.next_steps(plan))


@task(
    name="up",
    help={
        "hosts": "how many simulated servers (default 2)",
        "systemd": "boot a real systemd on each (default: when the app has runtime: process)",
    },
)
def sandbox_up(c, hosts=None, systemd=False):
    """Start the local sandbox fleet (needs root) and an inventory of your app on it."""
    from bluegreen.sandbox import app

    count = _number("hosts", hosts, 2)
    try:
        lines = app.up_for(Path(c.config.bluegreen.inventory), count, systemd, say=print)
        print("\n".join(lines))
    except BluegreenError as error:
        raise Exit(f"❌ {error}", code=2) from error


@task(name="down", help={"cache": "also remove the cached systemd rootfs (kept by default)"})
def sandbox_down(c, cache=False):
    """Stop the sandbox fleet and remove everything it made (the rootfs cache stays)."""
    from bluegreen import sandbox

    sandbox.down()
    if cache:
        from bluegreen.sandbox import systemd_host

        systemd_host.remove_cache()


ns = Collection(
    deploy,
    rollback,
    switch,
    split,
    promote,
    abort,
    maintenance,
    remove,
    status,
    logs,
    exec_task,
    history,
    bootstrap,
    init,
)
ns.configure(CONFIG)
ns.add_collection(Collection("lock", lock_status_task, lock_release_task))
ns.add_collection(Collection("sandbox", sandbox_up, sandbox_down))
