"""Check a YAML value against a model type: msgspec does the checking, this names the key.

msgspec converts each value to its annotated type and enforces its limits (``Meta``); it
stops at the first problem with a message of its own words and no dict key in the path.
So the walk over a section's keys is ours: one message of one line, ``dotted.key: problem``,
"did you mean" for an unknown key, and the words the model gives (``Says``) or the limits
say ("an integer from 1 to 65535").
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import msgspec


class Invalid(Exception):
    """A problem at a dotted key; ``load`` prefixes the file name."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")


@dataclasses.dataclass(frozen=True)
class Says:
    """What a valid value looks like, in the user's words ("a hostname or IP address")."""

    text: str


@dataclasses.dataclass(frozen=True)
class Check:
    """A field's own check, run instead of msgspec: ``(value, dotted key) -> value``."""

    run: Callable[[Any, str], Any]


PathHook = Callable[[type, Any], Any]  # msgspec's dec_hook: makes a Path of a string


def check(value: Any, kind: Any, key: str, paths: PathHook) -> Any:
    """``value`` as the type ``kind``, or ``Invalid`` naming ``key``."""
    inner, meta = _unwrap(kind)
    own = next((m for m in meta if isinstance(m, Check)), None)
    if own is not None:
        return own.run(value, key)
    arms = typing.get_args(inner) if typing.get_origin(inner) in (Union, types.UnionType) else ()
    if type(None) in arms:
        if value is None:
            return None
        rest = [arm for arm in arms if arm is not type(None)]
        if len(rest) == 1:
            return check(value, rest[0], key, paths)
    if dataclasses.is_dataclass(inner):
        return record(value, inner, key, paths)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(key, f"expected {expected(kind)}, got {value!r}")
    try:
        return msgspec.convert(value, kind, strict=True, dec_hook=paths)
    except msgspec.ValidationError:
        raise Invalid(key, f"expected {expected(kind)}, got {value!r}") from None


def record(value: Any, cls: type, key: str, paths: PathHook, **given: Any) -> Any:
    """A section that becomes a ``cls``: its keys checked, the defaults for absent keys;
    ``given`` sets fields hosts.yml does not spell (a process's name: its key)."""
    data = mapping(value, key)
    check_keys(data, key, keys(cls), required(cls))
    return cls(**given, **values(data, cls, key, paths))


def values(data: Mapping[str, Any], cls: type, key: str, paths: PathHook) -> dict[str, Any]:
    """Each value of ``data`` checked against the type of ``cls``'s field of that name."""
    kinds = _hints(cls)
    return {name: check(item, kinds[name], f"{key}.{name}", paths) for name, item in data.items()}


def mapping(value: Any, key: str) -> dict:
    """A mapping; absent or empty (None) counts as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(key, f"expected a mapping, got {kind_of(value)}")
    return value


def check_keys(data: Mapping, key: str, allowed: Sequence[str], needed: Sequence[str] = ()) -> None:
    """Unknown keys (with the closest known one) and missing required ones."""
    dotted = f"{key}." if key else ""
    for name in data:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
            )
            raise Invalid(f"{dotted}{name}", f"unknown key ({hint})")
    for name in needed:
        if name not in data:
            raise Invalid(f"{dotted}{name}", "required")


@functools.cache
def keys(cls: type) -> tuple[str, ...]:
    """The keys hosts.yml may give a section: its fields but those load fills in."""
    return tuple(f.name for f in dataclasses.fields(cls) if not f.metadata.get("loaded"))


def required(cls: type) -> tuple[str, ...]:
    """The keys hosts.yml must give a section: its fields without a default."""
    missing = dataclasses.MISSING
    return tuple(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is missing and f.default_factory is missing and f.name in keys(cls)
    )


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _unwrap(kind: Any) -> tuple[Any, tuple[Any, ...]]:
    if typing.get_origin(kind) is Annotated:
        return kind.__origin__, kind.__metadata__
    return kind, ()


def expected(kind: Any) -> str:
    """The words for a valid value of ``kind``: its ``Says``, or what its limits say."""
    inner, meta = _unwrap(kind)
    for m in meta:
        if isinstance(m, Says):
            return m.text
    limits = {
        name: getattr(m, name)
        for m in meta
        if isinstance(m, msgspec.Meta)
        for name in ("ge", "gt", "le")
        if getattr(m, name) is not None
    }
    if typing.get_origin(inner) is Literal:
        return " or ".join(map(repr, typing.get_args(inner)))
    if inner is bool:
        return "true or false"
    if inner is Path:
        return "a path"
    what = "an integer" if inner is int else "a number"
    low = limits.get("ge", limits.get("gt"))
    if "le" in limits:
        return f"{what} from {low:g} to {limits['le']:g}"
    if low is not None:
        return f"{what} {'>=' if 'ge' in limits else '>'} {low:g}"
    return what if inner in (int, float) else f"a {getattr(inner, '__name__', inner)}"


def kind_of(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def paths_under(base: Path) -> PathHook:
    """msgspec's hook for ``Path`` fields: ``~`` expanded, relative to hosts.yml's folder."""

    def hook(kind: type, value: Any) -> Any:
        if kind is Path and isinstance(value, str) and value:
            return Path(os.path.abspath(base / Path(value).expanduser()))
        raise TypeError(f"not a {kind}")

    return hook
