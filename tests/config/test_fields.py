"""The typed checking (model + fields): found by comparing the old hand-written checks with
the new ones on 2,166 mutated files; each case here failed before (a crash or a value
silently turned into text)."""

from pathlib import Path

import pytest

from tests.config.test_inventory import load, load_error, write


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # was a TypeError traceback (Webhook() without url), not a one-line error
        ("notify: [null]", "notify[0].url: required"),
        ("notify: [{}]", "notify[0].url: required"),
        # were accepted as the build context "None", "1", "['a']"
        ("app: {name: e, path: null}", "app.path: expected a relative path"),
        ("app: {name: e, path: 1}", "app.path: expected a relative path"),
        ("app: {name: e, dockerfile: [a]}", "app.dockerfile: expected a relative path"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    if not text.startswith("app:"):
        text = f"app: {{name: e}}\n{text}"
    message = load_error(write(tmp_path, f"{text}\nhosts: {{w: a}}\n"))

    assert f"hosts.yml: {expected}" in message
    assert "\n" not in message


def test_null_is_the_default_of_an_optional_key(tmp_path: Path) -> None:
    text = (
        "app: {name: e, release: null, options: {memory: null}}\n"
        "hosts: {w: a}\nhooks: {before: null}\n"
    )
    inventory = load(write(tmp_path, text))

    assert (inventory.app.release, inventory.app.options.memory, inventory.hooks.before) == (
        None,
        None,
        None,
    )
