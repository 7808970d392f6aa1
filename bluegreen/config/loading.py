"""Read hosts.yml: the file, its YAML (duplicate keys refused), then ``rules.inventory``.

Every problem is one ``InventoryError`` line: ``file: dotted.key: problem``.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from bluegreen.config import rules
from bluegreen.config.fields import Invalid, kind_of
from bluegreen.config.model import Inventory
from bluegreen.errors import InventoryError


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which PyYAML would silently drop."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # complex keys are rare and rejected later as bad names
            if (key_node.tag, key_node.value) in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                )
            seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep)


def load(path: str | Path) -> Inventory:
    """Read and validate an inventory file; every problem is an ``InventoryError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(f"{path}: file not found ({os.path.abspath(path)})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InventoryError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        data = yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InventoryError(
            f"{where}: YAML syntax error: {getattr(e, 'problem', None) or e}"
        ) from None
    if data is None:
        raise InventoryError(f"{path}: empty file (expected at least app: and hosts:)")
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: expected a mapping at the top level, got {kind_of(data)}")
    try:
        return rules.inventory(data, Path(os.path.abspath(path)))
    except Invalid as e:
        raise InventoryError(f"{path}: {e}") from None
