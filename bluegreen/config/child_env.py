"""The environment of the local programs bluegreen starts (git, docker, skopeo): the
operator's, minus the variables that secrets are read from (``env:VAR``, a registry's
``password: env:VAR``), so no secret shows in their ``/proc/PID/environ`` (``ps e``)."""

from __future__ import annotations

import os

_hidden: set[str] = set()


def hide(name: str) -> None:
    """Keep the variable ``name`` (it holds a secret) from every program started later."""
    _hidden.add(name)


def for_children() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in _hidden}
