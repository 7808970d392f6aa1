"""How an app without a Dockerfile is built and started, told by the files it holds.

``bluegreen init`` writes what this finds into a ``runtime: process`` inventory: a
``build_command`` run once per release in its directory on the server, and a ``command``
that starts the app listening on ``$HOST:$PORT``. Node is told by ``package.json`` (its
lockfile picks the package manager, its ``start`` script or ``main`` the command), Python by
``requirements.txt`` or ``pyproject.toml`` (a venv in the release) and a known entry file.
What cannot be told stays ``None``, and init says what to fill in.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

from bluegreen.errors import InitError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: console scripts are not looked for
    tomllib = None

YARN, PNPM = "yarn install --frozen-lockfile", "pnpm install --frozen-lockfile"
# lockfile -> (manager, install with dev dependencies, install for production only)
NODE_MANAGERS = (
    ("package-lock.json", "npm", "npm ci", "npm ci --omit=dev"),
    ("npm-shrinkwrap.json", "npm", "npm ci", "npm ci --omit=dev"),
    ("yarn.lock", "yarn", YARN, f"{YARN} --production"),
    ("pnpm-lock.yaml", "pnpm", PNPM, f"{PNPM} --prod"),
)
NODE_WITHOUT_LOCKFILE = ("npm", "npm install", "npm install --omit=dev")
NODE_PRUNE = {"npm": "npm prune --omit=dev", "yarn": "", "pnpm": "pnpm prune --prod"}
NODE_ENTRIES = ("server.js", "index.js", "app.js", "main.js")
PYTHON_ENTRIES = ("app.py", "main.py", "server.py", "run.py")
VENV = "python3 -m venv .venv"
PIP = ".venv/bin/pip install --quiet --disable-pip-version-check"
KINDS = "package.json, requirements.txt or pyproject.toml"


@dataclass(frozen=True)
class Process:
    """How a ``runtime: process`` app is built and started (None: init could not tell)."""

    build: str | None
    command: str | None
    told_by: str  # what it was told by, for the report: "node: package.json, yarn.lock"
    needs: str  # what the servers and this machine need to build and run it
    why: str = ""  # with no command: why init could not tell
    language: str | None = None  # app.language: the runtime bootstrap installs (node, python)
    local: bool = False  # build: local (npm on this machine; the hosts get only nodejs)


def detect(folder: Path, command: str | None = None, build: str | None = None) -> Process:
    """The build and start commands of the app in ``folder``; ``command`` and ``build``
    (init's options) win over what the files say."""
    found = [kind for kind in (_node(folder), _python(folder)) if kind is not None]
    chosen = next((kind for kind in found if kind.command), found[0] if found else None)
    if chosen is None:
        nothing = f"no {KINDS}"
        chosen = Process(None, None, nothing, "what your command needs on the servers",
                         f"{nothing} here")  # fmt: skip
    if command is None and build is None:
        return chosen
    told = "your options" if chosen.command is None else f"{chosen.told_by}, your options"
    return dataclasses.replace(
        chosen,
        build=build if build is not None else chosen.build,
        command=command if command is not None else chosen.command,
        told_by=told,
    )


def _node(folder: Path) -> Process | None:
    manifest = folder / "package.json"
    if not manifest.is_file():
        return None
    try:
        package = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InitError(f"{manifest}: not valid JSON ({error})") from None
    if not isinstance(package, dict):
        raise InitError(f"{manifest}: not a JSON object")
    scripts = package.get("scripts") if isinstance(package.get("scripts"), dict) else {}
    lock, manager, install, production = next(
        ((lock, *rest) for lock, *rest in NODE_MANAGERS if (folder / lock).is_file()),
        (None, *NODE_WITHOUT_LOCKFILE),
    )
    if scripts.get("build"):  # building needs the dev dependencies; they go afterwards
        steps = [install, f"{manager} run build", NODE_PRUNE[manager]]
        build = " && ".join(step for step in steps if step)
    else:
        build = production
    told = "node: package.json" + (f", {lock}" if lock else "")
    needs = f"nodejs on the servers (bootstrap installs it), {manager} on this machine"
    command, why = _node_start(folder, package, scripts, manager)
    return Process(build, command, told, needs, why, language="node", local=True)


def _node_start(folder: Path, package: dict, scripts: dict, manager: str) -> tuple[str | None, str]:
    """(command, why none): node itself where the start script only runs a file (one
    process less, and systemd's stop signal reaches the app), else the start script."""
    start = scripts.get("start")
    if isinstance(start, str) and start.strip():
        plain = re.fullmatch(r"node\s+([\w./-]+)", start.strip())
        return (f"exec node {plain.group(1)}" if plain else f"exec {manager} start"), ""
    main = package.get("main")
    if isinstance(main, str) and (folder / main).is_file():
        return f"exec node {main}", ""
    entry = next((name for name in NODE_ENTRIES if (folder / name).is_file()), None)
    if entry:
        return f"exec node {entry}", ""
    files = ", ".join(NODE_ENTRIES)
    return None, f"package.json has no start script or main, and there is no {files}"


def _python(folder: Path) -> Process | None:
    if (folder / "requirements.txt").is_file():
        build, told = f"{VENV} && {PIP} -r requirements.txt", "python: requirements.txt"
    elif (folder / "pyproject.toml").is_file():
        build, told = f"{VENV} && {PIP} .", "python: pyproject.toml"
    else:
        return None
    needs = "python3 and python3-venv on the servers (bootstrap installs them)"
    script = _project_script(folder / "pyproject.toml")
    entry = next((name for name in PYTHON_ENTRIES if (folder / name).is_file()), None)
    if script:
        command, why = f"exec .venv/bin/{script}", ""
    elif entry:
        command, why = f"exec .venv/bin/python {entry}", ""
    else:
        files = ", ".join(PYTHON_ENTRIES)
        command, why = None, f"no [project.scripts] entry and no {files}"
    return Process(build, command, told, needs, why, language="python")


def _project_script(pyproject: Path) -> str | None:
    """The one console script a pyproject.toml declares (several: init cannot choose)."""
    if tomllib is None or not pyproject.is_file():
        return None
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InitError(f"{pyproject}: not valid TOML ({error})") from None
    scripts = project.get("scripts") if isinstance(project, dict) else None
    if isinstance(scripts, dict) and len(scripts) == 1:
        (name,) = scripts
        return name if re.fullmatch(r"[\w.-]+", name) else None
    return None
