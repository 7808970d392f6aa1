"""The published JSON Schema of hosts.yml: generated from the model, and every hosts.yml
the repository and its docs show is valid under it (check-jsonschema, as an editor sees it)."""

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from bluegreen.config import schema
from bluegreen.config.rules import TOP_KEYS
from bluegreen.local import init
from bluegreen.testing import demo

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / ".venv" / "bin" / "check-jsonschema"
INVENTORIES = [ROOT / "hosts.yml", ROOT / "example-process" / "hosts.yml"]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs" / "guides").glob("*.md"))]


def test_the_committed_schema_is_the_models() -> None:
    assert schema.PATH.read_text(encoding="utf-8") == schema.text(), (
        "hosts.schema.json differs from the model: python -m bluegreen.config.schema"
    )


def validate(schema_file: Path, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHECK), "--schemafile", str(schema_file), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def fragments() -> list[tuple[str, str]]:
    """The docs' yaml blocks that are (parts of) a hosts.yml: (where, text)."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            data = yaml.safe_load(match.group(1))
            if isinstance(data, dict) and data and set(data) <= set(TOP_KEYS):
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return found


def test_the_docs_show_hosts_yml_blocks() -> None:
    """The scan below finds the blocks it should (a regex gone wrong would find none)."""
    assert len(fragments()) >= 10


def fragment_schema(directory: Path) -> Path:
    """The schema without its required keys: a doc's block shows only the keys it explains."""
    relaxed = copy.deepcopy(schema.generate())
    relaxed.pop("required")
    relaxed["$defs"]["App"]["required"] = []
    path = directory / "fragment.schema.json"
    path.write_text(json.dumps(relaxed))
    return path


def test_every_hosts_yml_of_the_repository_and_docs_is_valid(tmp_path: Path) -> None:
    blocks = []
    for i, (where, text) in enumerate(fragments()):
        blocks.append(tmp_path / f"block{i}.yml")
        blocks[-1].write_text(f"# {where}\n{text}")
    plan = init.Plan(tmp_path / "init.yml", "shop", ".", init.BuildContext(), "/health", False)
    (tmp_path / "init.yml").write_text(init.render(plan))
    sandbox = demo.write_inventory(tmp_path / "sandbox.yml", tmp_path, ["sandbox1", "sandbox2"])

    whole = validate(schema.PATH, *INVENTORIES, tmp_path / "init.yml", sandbox)
    parts = validate(fragment_schema(tmp_path), *blocks)

    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert parts.returncode == 0, parts.stdout + parts.stderr


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("app: {name: shop, helth: {}}\nhosts: {w: a}\n", "$.app"),
        ("app: {name: shop}\nhosts: {w: {address: a, port: '22'}}\n", "$.hosts.w"),
        ("app: {name: shop}\nhosts: {w: a}\nports: {public: 70000}\n", "$.ports"),
        ("app: {name: My Shop}\nhosts: {w: a}\n", "$.app.name"),
        ("app: {name: shop, tls: yes}\nhosts: {w: a}\n", "$.app.tls"),
        ("app: {name: shop}\n", "$"),
    ],
)
def test_the_schema_refuses_what_load_refuses(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(text)

    checked = validate(schema.PATH, path)

    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert where in checked.stdout


def test_init_names_the_installed_schema_on_its_first_line(tmp_path: Path) -> None:
    plan = init.Plan(tmp_path / "hosts.yml", "shop", ".", init.BuildContext(), "/health", False)
    first = init.render(plan).splitlines()[0]

    assert first == f"# yaml-language-server: $schema={schema.PATH}"
    inside = init.schema_reference(ROOT / "deploy" / "hosts.yml", ROOT)
    assert inside == "../bluegreen/config/hosts.schema.json"  # a .venv in the repository
