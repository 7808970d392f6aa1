"""``bluegreen init``: a commented inventory for the app repository in the current folder.

With a Dockerfile the app runs as containers; without one (or with ``--runtime process``)
as systemd units, with a build and start command read from what the repository holds
(``bluegreen.local.detect``). The file is rendered from ``hosts.yml.j2`` (shipped beside
this module) and loaded with ``inventory.load`` before it is written, placeholder servers
included, so the user only edits it. Everything is checked before anything is written: a
refusal leaves the folder untouched.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

import jinja2
import yaml

from bluegreen.config import inventory as loader
from bluegreen.config.inventory import APP_NAME_MAX
from bluegreen.errors import InitError, InventoryError
from bluegreen.local.detect import Process, detect

FABFILE = (
    "from bluegreen.tasks import ns  # noqa: F401  (fab looks for a collection named fabfile)\n"
)
FABRIC_YAML = (
    "# Project config for fab, loaded because fabfile.py sits beside it.\n"
    "tasks:\n"
    "  executor_class: bluegreen.cli.fleet.FleetExecutor\n"
)
RUNTIMES = ("docker", "process")
STATE_DIR = ".bluegreen/"  # sandbox state and keys (bluegreen.sandbox.STATE_ROOT)
COMMENT_COLUMN = 29  # where the template's end-of-line comments start
# app.command when init cannot tell how the app starts: loads, and says what to do in the
# color's log when a deploy's health check fails
PLACEHOLDER = 'echo "fill in app.command in hosts.yml (how to start the app)" >&2; exit 1'


@dataclass(frozen=True)
class BuildContext:
    """Where ``docker build`` runs, as inventory.py names it: app.path and app.dockerfile."""

    path: str = "."  # relative to the repository's top
    dockerfile: str = "Dockerfile"  # relative to path


@dataclass(frozen=True)
class Plan:
    """What ``init`` writes, all checked: the inventory's values and the files."""

    inventory: Path
    name: str
    repo: str  # the repository's top, relative to the inventory's folder
    context: BuildContext  # with runtime process: the app's folder (path) only
    health: str
    fabfile: bool
    process: Process | None = None  # runtime: process, and how the app builds and starts


def app_name(folder: str) -> str:
    """The folder's name as an app name inventory.py accepts: a-z 0-9 _ -, a letter first,
    at most ``APP_NAME_MAX`` characters (it becomes container, image and nginx names)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", folder.lower())
    name = re.sub(r"^[^a-z]+", "", name)[:APP_NAME_MAX].rstrip("-_")
    return name or "app"


def repository_top(folder: Path) -> Path:
    """The top of the git repository holding ``folder`` (deploys upload its committed files)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        raise InitError("git is not installed on this machine (deploys upload commits)") from None
    if done.returncode:
        raise InitError(
            f"{folder} is not a git repository: bluegreen deploys commits of one"
            " (git init, commit your app and its Dockerfile, then bluegreen init)"
        )
    return Path(done.stdout.strip()).resolve()


def _dockerfiles(folder: Path) -> list[Path]:
    """Files named Dockerfile in ``folder`` and below that git tracks or does not ignore."""
    listed = subprocess.run(
        ["git", "-C", str(folder), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = sorted({n for n in listed.split("\0") if PurePosixPath(n).name == "Dockerfile"})
    return [folder / n for n in names if (folder / n).is_file()]


def build_context(folder: Path, top: Path, dockerfile: str | None = None) -> BuildContext:
    """The build context of the Dockerfile given, at ``folder``'s root, or the only one below
    it; the context is the Dockerfile's folder."""
    if dockerfile is not None:
        chosen = (folder / dockerfile).resolve()
        if not chosen.is_file():
            raise InitError(f"--dockerfile {dockerfile}: no such file in {folder}")
    elif (folder / "Dockerfile").is_file():
        chosen = (folder / "Dockerfile").resolve()
    else:
        found = _dockerfiles(folder)
        if not found:
            raise InitError(
                f"no Dockerfile in {folder} or below: bluegreen builds the app with"
                " docker build; add one (or name it with --dockerfile PATH)"
            )
        if len(found) > 1:
            names = ", ".join(str(f.relative_to(folder)) for f in found)
            raise InitError(f"several Dockerfiles ({names}): pick one with --dockerfile PATH")
        chosen = found[0].resolve()
    if not chosen.is_relative_to(top):
        raise InitError(f"--dockerfile {dockerfile}: outside the git repository {top}")
    relative = PurePosixPath(chosen.relative_to(top).as_posix())
    return BuildContext(path=str(relative.parent), dockerfile=relative.name)


def prepare(
    folder: Path,
    inventory: Path,
    health: str = "/",
    dockerfile: str | None = None,
    fabfile: bool = False,
    runtime: str | None = None,
    command: str | None = None,
    build_command: str | None = None,
) -> Plan:
    """Check everything ``write`` needs; an ``InitError`` names the first problem.

    ``runtime`` None: docker where a Dockerfile is (or is named), else process."""
    folder = folder.resolve()
    inventory = folder / inventory
    top = repository_top(folder)
    targets = [inventory, *((folder / "fabfile.py", folder / "fabric.yaml") if fabfile else ())]
    for target in targets:
        if target.exists():
            raise InitError(
                f"{target.name} already exists in {target.parent}: left untouched"
                " (edit it, or remove it to start again)"
            )
    if not re.fullmatch(r"/\S*", health):
        raise InitError(f"--health takes a URL path starting with '/', not {health!r}")
    runtime = runtime or _runtime(folder, dockerfile, command or build_command)
    if runtime not in RUNTIMES:
        raise InitError(f"--runtime takes {' or '.join(RUNTIMES)}, not {runtime!r}")
    repo = os.path.relpath(top, inventory.parent)
    name = app_name(folder.name)
    if runtime == "docker":
        if command or build_command:
            raise InitError("--command and --build-command are for --runtime process")
        plan = Plan(inventory, name, repo, build_context(folder, top, dockerfile), health, fabfile)
    else:
        if dockerfile is not None:
            raise InitError("--dockerfile is for --runtime docker (a process app has none)")
        found = detect(folder, command, build_command)
        context = BuildContext(path=str(PurePosixPath(folder.relative_to(top).as_posix())))
        plan = Plan(inventory, name, repo, context, health, fabfile, found)
    _check_loads(plan)
    return plan


def _runtime(folder: Path, dockerfile: str | None, commands: str | None) -> str:
    """docker when a Dockerfile is named or found (and no command was given), else process."""
    if commands:
        return "process"
    if dockerfile is not None or (folder / "Dockerfile").is_file() or _dockerfiles(folder):
        return "docker"
    return "process"


def _check_loads(plan: Plan) -> None:
    """The text ``write`` would write loads with the real loader (else nothing is written)."""
    text = render(plan)
    folder = plan.inventory.parent
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".yml", encoding="utf-8") as probe:
        probe.write(text)
        probe.flush()
        try:
            loader.load(probe.name)
        except InventoryError as error:
            problem = str(error).replace(probe.name, plan.inventory.name)
            raise InitError(f"the inventory init would write does not load: {problem}") from None


def _field(key: str, value: str, indent: int = 2) -> str:
    """``key: value`` as YAML (quoted where needed), padded to the comment column."""
    return f"{' ' * indent}{key}: {_scalar(value)}".ljust(COMMENT_COLUMN - 1) + " "


def _scalar(value: str) -> str:
    """``value`` as one YAML scalar (quoted where needed)."""
    return yaml.safe_dump(value, default_flow_style=True, width=1000).splitlines()[0]


def schema_reference(inventory: Path, top: Path) -> str:
    """Where an editor finds the JSON Schema of hosts.yml: the copy installed with this
    bluegreen (it checks the file, so it always agrees with it; nothing is published at a
    URL); relative to the inventory when both sit in one repository (a project .venv)."""
    shipped = Path(str(resources.files("bluegreen.config") / "hosts.schema.json")).resolve()
    if shipped.is_relative_to(top.resolve()):
        return os.path.relpath(shipped, inventory.parent.resolve())
    return str(shipped)


def render(plan: Plan) -> str:
    """The inventory's text, from the template shipped beside this module."""
    source = (resources.files("bluegreen") / "hosts.yml.j2").read_text(encoding="utf-8")
    template = jinja2.Template(source, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    top = plan.inventory.parent / plan.repo
    return template.render(
        schema=schema_reference(plan.inventory, top),
        field=_field,
        scalar=_scalar,
        name=plan.name,
        repo=plan.repo,
        path=plan.context.path,
        dockerfile=plan.context.dockerfile,
        health=plan.health,
        process=plan.process,
        placeholder=PLACEHOLDER,
    )


def ignore_state(top: Path) -> bool:
    """Add ``.bluegreen/`` to the repository's .gitignore; False when it is there already."""
    gitignore = top / ".gitignore"
    text = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if any(line.strip().strip("/") == STATE_DIR.strip("/") for line in text.splitlines()):
        return False
    separator = "\n" if text and not text.endswith("\n") else ""
    gitignore.write_text(f"{text}{separator}{STATE_DIR}\n", encoding="utf-8")
    return True


def write(plan: Plan) -> list[str]:
    """Write the planned files and the .gitignore line; one line per change, for the report."""
    plan.inventory.write_text(render(plan), encoding="utf-8")
    done = [
        f"wrote {plan.inventory.name}: app {plan.name}, {_what(plan)}, health path {plan.health}"
    ]
    if plan.fabfile:
        folder = plan.inventory.parent
        (folder / "fabfile.py").write_text(FABFILE, encoding="utf-8")
        (folder / "fabric.yaml").write_text(FABRIC_YAML, encoding="utf-8")
        done.append("wrote fabfile.py and fabric.yaml: plain `fab` runs bluegreen's tasks too")
    if ignore_state(repository_top(plan.inventory.parent)):
        done.append(f"added {STATE_DIR} to .gitignore (sandbox state and keys)")
    return done


def _what(plan: Plan) -> str:
    """How the app runs, for the report line."""
    if plan.process is None:
        context = plan.context.path
        if plan.context.dockerfile != "Dockerfile":
            context += f" ({plan.context.dockerfile})"
        return f"build context {context}"
    found = plan.process
    build = f"build `{found.build}`, " if found.build else ""
    start = f"start `{found.command}`" if found.command else "start: not found"
    return f"runtime process ({found.told_by}): {build}{start}"


def warnings(plan: Plan) -> list[str]:
    """What the user must fill in before the first deploy (empty when init could tell)."""
    if plan.process is None or plan.process.command is not None:
        return []
    return [
        f"{plan.process.why}: fill in app.command in {plan.inventory.name} (it must start the"
        " app listening on $HOST:$PORT), or run init again with --command 'exec ./server'"
        " [--build-command 'make build']"
    ]


def next_steps(plan: Plan) -> str:
    """What to do after init, in order."""
    inventory = plan.inventory.name
    if plan.process is None:
        check = "app.container_port (the app listens on $PORT)"
        bootstrap = "docker, nginx, git"
        commit = "commit your Dockerfile"
        sandbox = "bluegreen sandbox.up"
    else:
        check = "app.build_command, app.command (the app listens on $HOST:$PORT)"
        runtime = "the app's runtime" if plan.process.language else "no runtime: install it"
        bootstrap = f"nginx, {runtime}, no docker (needs systemd)"
        commit = "commit your app"
        sandbox = "bluegreen sandbox.up   # its hosts boot a real systemd"
    return (
        f"next:\n"
        f"  1. edit {inventory}: your servers under hosts: and groups: (web1, web2 are"
        f" placeholders);\n"
        f"     check {check} and app.health.path\n"
        f"  2. bluegreen -H prod bootstrap   # once per new server: {bootstrap}\n"
        f"  3. {commit}, then: bluegreen -H prod deploy\n"
        f"  (to try it locally first, as root: {sandbox})"
    )
