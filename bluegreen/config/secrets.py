"""Secret values: read from the operator's environment or a private (0600) file.

Messages name the variable, the file and the line, never a value.
"""

from __future__ import annotations

import os
from pathlib import Path

from bluegreen.config import child_env
from bluegreen.config.fields import Invalid
from bluegreen.config.values import ENV_NAME, SECRET_SOURCE


def source(text: str, key: str, base: Path) -> str:
    """A checked ``env:VAR`` (hidden from the programs bluegreen starts), or ``file:`` with
    the path made absolute against hosts.yml's folder."""
    found = SECRET_SOURCE.fullmatch(text)
    if found is None:
        raise Invalid(key, "expected env:VAR or file:PATH (never the value itself)")
    if found.group(1):
        child_env.hide(found.group(2))  # kept from the processes fab starts (ps e)
        return text
    return f"file:{os.path.abspath(base / Path(found.group(4)).expanduser())}"


def value(source: str, key: str) -> str:
    """A secret's value, read from the operator's environment or a private file."""
    kind, _, where = source.partition(":")
    if kind == "env":
        secret = os.environ.get(where)
        if not secret:
            raise Invalid(key, f"{where} is not set in your environment")
        return secret
    path = private_file(Path(where), key)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Invalid(key, f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    if not text.strip():
        raise Invalid(key, f"{path} is empty")
    return text.removesuffix("\n")


def private_file(path: Path, key: str) -> Path:
    """A secret's file: it must exist and be readable by its owner only (0600)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        raise Invalid(key, f"{path}: file not found") from None
    except OSError as e:
        raise Invalid(key, f"{path}: cannot read: {e.strerror}") from None
    if mode & 0o077:
        raise Invalid(key, f"{path} is accessible by group/others (mode {mode:04o}); chmod 600 it")
    return path


def env_file(path: Path, key: str) -> dict[str, str]:
    """KEY=VALUE lines, like ``docker run --env-file``; the file must be private (0600)."""
    try:
        lines = private_file(path, key).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise Invalid(key, f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    pairs = {}
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            name, equals, setting = line.partition("=")
            if not equals or not ENV_NAME.fullmatch(name.strip()):
                raise Invalid(key, f"{path}:{number}: expected NAME=value")
            pairs[name.strip()] = setting
    return pairs
