"""The documentation: the site builds strictly, its generated reference matches the code,
and every command the README and the docs show in a shell block exists."""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bluegreen.cli.program import program
from bluegreen.config import inventory
from bluegreen.tasks import ns

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = Path(sys.executable).with_name("mkdocs")


def _reference():
    spec = importlib.util.spec_from_file_location("reference", ROOT / "scripts" / "reference.py")
    module = sys.modules["reference"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _reference()


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_site_builds_strictly(tmp_path):
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    for page in ("reference/hosts-yml", "reference/commands", "reference/json"):
        assert (tmp_path / "site" / page / "index.html").is_file()


def test_a_broken_link_or_an_orphan_page_fails_the_build(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs)
    with (docs / "index.md").open("a") as page:
        page.write("\n[a link](nowhere.md) [an anchor](getting-started.md#no-such-heading)\n")
    (docs / "orphan.md").write_text("# Orphan\n")  # a page that nav does not list
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["docs_dir"] = str(docs)
    config["hooks"] = [str(ROOT / "scripts" / "reference.py")]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    result = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    for problem in ("nowhere.md", "no-such-heading", "orphan.md"):
        assert problem in result.stderr


# --- the hosts.yml reference against the loader -----------------------------------------------

MINIMAL = {
    "app": {"name": "shop"},
    "defaults": {"group": "prod"},
    "groups": {"prod": ["web1"]},
    "hosts": {"web1": {"address": "203.0.113.10"}},
}
# What a key's example needs beside it to load (other keys, files it names).
CONTEXT = {
    "app.command": {"app": {"runtime": "process"}},
    "app.build_command": {"app": {"runtime": "process", "command": "exec ./app"}},
    "app.tls": {"app": {"domains": ["shop.example.com"]}},
    "app.tls.acme": {
        "app": {"domains": ["shop.example.com"], "tls": {"acme": {"email": "ops@example.com"}}}
    },
    "app.tls.hsts": {
        "app": {"domains": ["shop.example.com"], "tls": {"acme": {"email": "ops@example.com"}}}
    },
    "groups.*": {"hosts": {"web2": {"address": "203.0.113.11"}}},
    "app.processes.*.": {"app": {"processes": {"worker": {"command": "exec ./worker"}}}},
    "app.schedule.*.": {"app": {"schedule": {"worker": {"command": "./tick", "every": 10}}}},
    "app.schedule.*.every": {"app": {"schedule": {"worker": {"command": "./tick"}}}},
    "app.schedule.*.cron": {"app": {"schedule": {"worker": {"command": "./tick"}}}},
    "secrets.registry": {
        "secrets": {"registry": {"username": "deployer", "password": "env:REGISTRY_PASSWORD"}}
    },
}
# Keys whose example needs a real certificate for the domains (tests/config covers them).
NEEDS_CERTIFICATE = ("app.tls.files",)


def _set(data: dict, dotted: str, value: object) -> None:
    """Put ``value`` at ``dotted`` (``*``: a name of ours, ``[]``: one item of a list)."""
    parts = dotted.replace("[]", ".[]").split(".")
    star = {"hosts": "web1", "groups": "all", "app": "worker"}.get(parts[0], "NAME")
    *path, last = parts
    for i, part in enumerate(path):
        inner: list | dict = [] if parts[i + 1] == "[]" else {}
        if part == "[]":
            data.append(inner)
            data = inner
        else:
            data = data.setdefault(star if part == "*" else part, inner)
    if last == "[]":
        data.append(value)
    else:
        data[star if last == "*" else last] = value


def _leaf_examples() -> list[reference.Key]:
    return [
        key
        for key in reference.keys(reference.inventory_schema())
        if key.example is not None and not key.dotted.startswith(NEEDS_CERTIFICATE)
    ]


@pytest.mark.parametrize("key", _leaf_examples(), ids=lambda key: key.dotted)
def test_every_documented_key_and_example_loads(key, tmp_path, monkeypatch):
    """The reverse of generating the reference from the model: each key it documents, set to
    its example, is accepted by the real loader (which refuses unknown keys)."""
    data = copy.deepcopy(MINIMAL)
    prefix = max((k for k in CONTEXT if key.dotted.startswith(k)), key=len, default=None)
    for section, values in CONTEXT.get(prefix, {}).items():
        data.setdefault(section, {}).update(copy.deepcopy(values))
    if key.dotted == "notify[].format":  # an item needs its url
        data["notify"] = [{"url": "https://ci.example.com/hook", "format": key.example}]
    else:
        _set(data, key.dotted, copy.deepcopy(key.example))
    for private in (".env.production", "secrets/api_key", "pebble.minica.pem"):
        path = tmp_path / private
        path.parent.mkdir(exist_ok=True)
        path.write_text("A=1\n" if private.startswith(".env") else "value\n")
        path.chmod(0o600)
    monkeypatch.setenv("SHOP_DATABASE_URL", "postgres://db/shop")
    monkeypatch.setenv("REGISTRY_PASSWORD", "hunter2")
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(data))
    inventory.load(tmp_path / "hosts.yml")


def test_a_key_the_loader_refuses_is_refused_by_the_check_above(tmp_path):
    data = copy.deepcopy(MINIMAL)
    _set(data, "app.health.pathh", "/up")
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(data))
    with pytest.raises(inventory.InventoryError, match="app.health.pathh"):
        inventory.load(tmp_path / "hosts.yml")


def test_a_published_schema_reads_as_the_derived_one(monkeypatch):
    """What a schema generator (pydantic, msgspec) writes: $defs and $ref, enums, a null
    type, examples: the walk the reference makes once the model publishes its schema."""
    schema = {
        "$defs": {
            "Health": {
                "type": "object",
                "description": "How health is checked.",
                "properties": {
                    "path": {"type": "string", "default": "/health", "description": "a path"}
                },
            },
            "App": {
                "type": "object",
                "description": "The app.",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "description": "the app", "examples": ["shop"]},
                    "source": {"enum": ["upload", "git"], "default": "upload"},
                    "image": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "drain": {"type": ["number", "null"], "description": "seconds"},
                    "health": {"$ref": "#/$defs/Health"},
                },
            },
        },
        "type": "object",
        "properties": {"app": {"$ref": "#/$defs/App"}},
    }
    monkeypatch.setattr(reference, "NOTES", {"app.source": "s", "app.image": "i"})
    monkeypatch.setattr(reference, "DEFAULTS", {})
    monkeypatch.setattr(reference, "EXAMPLES", {})
    rows = {key.dotted: key for key in reference.keys(schema)}
    assert list(rows) == [
        "app", "app.name", "app.source", "app.image", "app.drain", "app.health",
        "app.health.path",
    ]  # fmt: skip
    assert rows["app.name"].required and rows["app.name"].example == "shop"
    assert rows["app.source"].kind == 'one of "upload", "git"'
    assert rows["app.image"].kind == rows["app.drain"].kind.replace("number", "string")
    assert rows["app.image"].kind == "string or null"
    assert rows["app.health.path"].default == "/health"
    assert rows["app.health"].description == "How health is checked."


def test_a_key_without_a_description_fails_the_reference(monkeypatch):
    schema = {"type": "object", "properties": {"app": {"type": "object", "properties": {
        "name": {"type": "string", "description": "the app"},
        "colour": {"type": "string"},
    }}}}  # fmt: skip
    monkeypatch.setattr(reference, "NOTES", {"app": "The app."})
    monkeypatch.setattr(reference, "DEFAULTS", {})
    monkeypatch.setattr(reference, "EXAMPLES", {})
    with pytest.raises(reference.ReferenceError, match="without a description.*app.colour"):
        reference.keys(schema)


def test_a_note_for_a_key_the_code_lacks_fails_the_reference(monkeypatch):
    monkeypatch.setattr(reference, "NOTES", {**reference.NOTES, "app.colour": "gone"})
    with pytest.raises(reference.ReferenceError, match="app.colour"):
        reference.keys(reference.inventory_schema())


def test_the_reference_lists_every_field_of_the_model():
    documented = {key.dotted for key in reference.keys(reference.inventory_schema())}
    app = {name for name in reference.field_names(inventory.App) if name != "env_file_values"}
    host = {name for name in reference.field_names(inventory.Host) if name != "name"}
    expected = {f"app.{name}" for name in app} | {f"hosts.*.{name}" for name in host}
    assert expected <= documented


def fresh_tasks():
    """The tasks' collection as loaded anew: Invoke's ``get_arguments`` consumes a task's
    help, and other tests call it on the shared one."""
    return runpy.run_path(str(ROOT / "bluegreen" / "tasks.py"))["ns"]


def test_every_task_and_option_is_in_the_commands_page():
    tasks = fresh_tasks()
    page = reference.commands_page(tasks)
    assert reference.commands_page(tasks) == page  # reading the help leaves it there
    for name in tasks.task_names:
        assert f"## `{name}`" in page
        for argument in reference.options_of(tasks[name]):
            name = argument.names[0]
            assert f"`{'-' if len(name) == 1 else '--'}{name}`" in page


def test_an_option_without_help_fails_the_reference():
    tasks = fresh_tasks()
    tasks["history"].help = {}
    with pytest.raises(reference.ReferenceError, match="history -n"):
        reference.commands_page(tasks)


# --- commands shown in the README and the docs ------------------------------------------------

SHELL_BLOCK = re.compile(r"^```(?:sh|bash|console)\n(.*?)^```", re.S | re.M)
FLAGS_WITH_VALUE = {"-H", "--hosts", "--inventory", "-i", "-f", "--config"}


def shell_lines(path: Path) -> list[str]:
    lines = []
    for block in SHELL_BLOCK.findall(path.read_text()):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _commands() -> list[tuple[str, str]]:
    return [(str(p.relative_to(ROOT)), line) for p in _pages() for line in shell_lines(p)]


def _task_options(name: str) -> set[str]:
    return {
        f"-{n}" if len(n) == 1 else f"--{n}"
        for a in reference.options_of(ns[name])
        for n in a.names
    }


def _core_options() -> set[str]:
    return {f"-{n}" if len(n) == 1 else f"--{n}" for a in program.core_args() for n in a.names}


def check_bluegreen(words: list[str]) -> None:
    """``bluegreen|fab [core options] TASK [task options] [TASK ...]``: tasks and options
    exist."""
    words = words[1:]
    task = None
    while words:
        word = words.pop(0)
        if word == "--":
            return
        flag = word.split("=")[0]
        if word.startswith("-"):
            allowed = _core_options() if task is None else _task_options(task) | {"--help"}
            assert flag in allowed, f"{flag} is no option of {task or 'the program'}"
            if task is None and flag in FLAGS_WITH_VALUE and "=" not in word:
                words.pop(0)
        elif task is None or word in ns.task_names:
            assert word in ns.task_names, f"{word!r} is no task"
            task = word


@pytest.mark.parametrize("where, line", _commands(), ids=lambda v: v[:60])
def test_every_command_shown_exists(where, line):
    words = shlex.split(line)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words.pop(0)
    program_name = words[0]
    if program_name in ("bluegreen", "fab", ".venv/bin/fab"):
        check_bluegreen(words)
    elif program_name == "bash":
        assert (ROOT / words[1]).is_file(), f"{where}: {words[1]} does not exist"
    elif program_name.startswith(".venv/bin/"):
        script = next((w for w in words[1:] if w.endswith(".py")), None)
        if script:
            assert (ROOT / script).is_file(), f"{where}: {script} does not exist"


def test_the_readme_shows_the_test_command_ci_runs():
    """.ci/run runs scripts/test.sh; the README must show that very command, and the demo
    and the benchmark."""
    readme = shell_lines(ROOT / "README.md")
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/demo.sh" in readme
    assert ".venv/bin/python bench/bench.py" in readme


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


@pytest.mark.parametrize(
    "line, problem",
    [
        ("bluegreen -H prod deplyo", "'deplyo' is no task"),
        ("bluegreen -H prod deploy --reff v1", "--reff is no option of deploy"),
        ("bluegreen --inventry x.yml status", "--inventry is no option of the program"),
    ],
)
def test_a_wrong_command_is_caught(line, problem):
    with pytest.raises(AssertionError, match=problem):
        check_bluegreen(shlex.split(line))


YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def _inventories() -> list[tuple[str, str]]:
    """Every YAML block the README and the docs show that is a whole hosts.yml."""
    found = []
    for page in _pages():
        for block in YAML_BLOCK.findall(page.read_text()):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and {"app", "hosts"} <= data.keys():
                found.append((str(page.relative_to(ROOT)), block))
    return found


@pytest.mark.parametrize("where, text", _inventories(), ids=lambda v: v[:40])
def test_every_whole_hosts_yml_shown_loads(where, text, tmp_path):
    (tmp_path / "hosts.yml").write_text(text)
    inventory.load(tmp_path / "hosts.yml")


def test_the_readme_shows_a_whole_hosts_yml():
    assert any(where == "README.md" for where, _ in _inventories())


def test_every_link_in_the_readme_exists():
    """The README is outside the site (mkdocs does not check it): its links into docs/."""
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    local = [link for link in links if "://" not in link]
    assert local
    for link in local:
        assert (ROOT / link).exists(), f"README.md links to {link}, which does not exist"


def test_the_exit_codes_documented_are_those_the_code_uses():
    """Every ``Exit(code=...)`` the program raises has a row in the reference, and every row
    but 0 is raised somewhere."""
    source = "\n".join(
        path.read_text()
        for path in (ROOT / "bluegreen").rglob("*.py")
        if "shell" not in path.parts and "testing" not in path.parts
    )
    constants = dict(re.findall(r"^([A-Z_]+) = (\d+)\b", source, re.M))
    used = {constants.get(code, code) for code in re.findall(r"\bcode=(\d+|[A-Z_]+)", source)}
    documented = {code for code, _ in reference.EXIT_CODES}
    assert used == documented - {"0"}


def test_the_json_reference_lists_what_the_code_writes():
    assert set(reference.emitted_events()) == {"line", "step", "row", "summary"}
    assert {"verdict", "hosts", "phases"} <= set(reference.summary_fields())
    page = reference.json_page()
    for field in reference.summary_fields():
        assert f"| `{field}` |" in page


def test_a_summary_field_without_a_description_fails_the_reference(monkeypatch):
    monkeypatch.setattr(reference, "summary_fields", lambda: ["verdict", "mood"])
    with pytest.raises(reference.ReferenceError, match="summary field mood"):
        reference.json_page()


def test_the_readme_names_every_dependency():
    """The README's requirements list what ``pip install bluegreen`` brings, all of it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.match(r"[A-Za-z0-9_.-]+", spec).group(0) for spec in project["dependencies"]]
    readme = (ROOT / "README.md").read_text().lower()
    assert names
    for name in names:
        assert name.lower() in readme, f"README.md: the requirements do not name {name}"
