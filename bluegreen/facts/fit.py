"""The resources preflight of a deploy: does a second color fit on the host?

During a deploy both colors run at once (and always with ``warm_standby``), so the new
color needs as much memory as the live one uses — or its ``options.memory`` limit, when
set — and a build or pull needs disk for one more image of about the live one's size.
A pure judgement of the host's facts: the numbers, or None when it fits (or nothing is
known to judge by).
"""

from __future__ import annotations

import re

from bluegreen.facts import HostFacts

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([bkmg]?)", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size(text: str) -> int:
    """Docker's size notation (``512m``, ``1g``, ``1.5g``) in bytes."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def human(count: int) -> str:
    """Bytes for people, in MiB (as docker's own sizes, e.g. ``512m``, read)."""
    return f"{round(count / 1024**2)} MiB"


def shortage(
    host: str, found: HostFacts, color: str, memory: str | None, new_image: bool
) -> str | None:
    """Why starting ``color`` would not fit on ``host``: memory (``memory``: the app's
    ``options.memory``; else the live container's use is the estimate), then, when a new
    image comes (``new_image``: built or pulled), disk in docker's data root."""
    live = found.live_color
    values = found.resources
    use = values.get(f"memory_{live}") if live else None
    need = size(memory) if memory else use
    available = values.get("mem_available")
    if available is not None:  # a warm standby in the target color is stopped first
        available += values.get(f"memory_{color}", 0)
    force = "; --force to deploy anyway"
    if need is not None and available is not None and need > available:
        basis = "options.memory" if memory else f"what {live} uses now"
        return (
            f"host {host}: needs {human(need)} for {color} ({basis}),"
            f" {human(available)} available{force}"
        )
    image = values.get(f"image_size_{live}") if live else None
    free = values.get("disk_free")
    if new_image and image is not None and free is not None and image > free:
        where = found.docker_root or "docker's data root"
        return (
            f"host {host}: needs {human(image)} of disk for the {color} image (the size of"
            f" {live}'s), {human(free)} free in {where}{force}"
        )
    return None
