"""The folders are the layers: every import points down (or within its own layer), and
nothing shipped imports the test harness (``bluegreen.testing``)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bluegreen"

# Lowest first. A module may import its own layer and the layers before it.
LAYERS = (
    ("bluegreen.errors", "bluegreen.files", "bluegreen.output"),
    ("bluegreen.config",),
    ("bluegreen.shell",),
    ("bluegreen.facts",),
    ("bluegreen.render",),
    ("bluegreen.transport",),
    ("bluegreen.local",),
    ("bluegreen.engine",),
    ("bluegreen.ops", "bluegreen.sandbox"),
    ("bluegreen.tasks",),
    ("bluegreen.cli",),
    ("bluegreen.testing",),  # the harness: tests and bench import it, nothing shipped does
)


def layer_of(module: str) -> int:
    for rank, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return rank
    if module == "bluegreen":
        return 0
    raise AssertionError(f"{module}: in no layer; add it to LAYERS in {__file__}")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST) -> set[str]:
    """Every bluegreen module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "bluegreen"}


def upward_imports(module: str, source: str) -> list[str]:
    rank = layer_of(module)
    tree = ast.parse(source)
    wrong = []
    for name in sorted(imported(tree)):
        # `from bluegreen.facts import HostFacts` names an object, not a module: judge the
        # longest prefix that is a module or package in the tree
        target = name
        while target.count(".") > 1 and not _exists(target):
            target = target.rsplit(".", 1)[0]
        if layer_of(target) > rank:
            wrong.append(f"{module} imports {target} (a higher layer)")
    return wrong


def _exists(module: str) -> bool:
    path = PACKAGE.parent / module.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down(path):
    assert upward_imports(module_name(path), path.read_text(encoding="utf-8")) == []


def test_the_check_fails_on_an_upward_import():
    """A shell builder that imported the engine (even inside a function), or an engine
    module that imported the harness, is reported; a downward import is not."""
    source = (
        "def f():\n    from bluegreen.engine import change\n"
        "from bluegreen.config import inventory\n"
    )
    assert upward_imports("bluegreen.shell.docker", source) == [
        "bluegreen.shell.docker imports bluegreen.engine.change (a higher layer)"
    ]
    assert upward_imports("bluegreen.engine.change", "import bluegreen.testing.load") == [
        "bluegreen.engine.change imports bluegreen.testing.load (a higher layer)"
    ]


def test_every_module_is_in_a_layer():
    for path in SOURCES:
        layer_of(module_name(path))
