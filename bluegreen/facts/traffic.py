"""Where nginx sends requests: the live color, and optionally a share for the other color.

One value, written to the host (file mode: the state file's one line; reload mode: the
live include's header and weighted upstream) and read back from it by ``facts``: the
host's files are the only copy. The state line is whitelisted as strictly here as in the
njs module that reads it per request (``templates/state.js.j2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "<live> <release>" or "<live> <release> <other> <other release> <percent>[ sticky]",
# either one followed by " maintenance" while the maintenance page is up
STATE = re.compile(
    r"(blue|green) ([A-Za-z0-9._-]{1,64})"
    r"(?: (blue|green) ([A-Za-z0-9._-]{1,64}) ([1-9][0-9]?)( sticky)?)?( maintenance)?"
)


@dataclass(frozen=True)
class Split:
    """``percent`` of the requests go to ``color`` (not the live one); the rest stay live."""

    color: str
    release: str
    percent: int  # 1..99
    sticky: bool = False  # by client address: one client always gets the same color


@dataclass(frozen=True)
class Traffic:
    color: str  # the live color: all traffic, or what a split does not take
    release: str
    split: Split | None = None
    maintenance: bool = False  # nginx answers 503 with the maintenance page instead

    @property
    def releases(self) -> dict[str, str]:
        """color -> release, for every color that gets requests."""
        split = {self.split.color: self.split.release} if self.split else {}
        return {self.color: self.release, **split}

    def line(self) -> str:
        """The state file's line (file mode), parsed back by ``parse``."""
        line = f"{self.color} {self.release}"
        if (s := self.split) is not None:
            line += f" {s.color} {s.release} {s.percent}" + (" sticky" if s.sticky else "")
        return line + (" maintenance" if self.maintenance else "")

    def link_name(self) -> str:
        """Core mode: the state's directory name, its percent two digits for nginx's maps."""
        words = self.line().split(" ")
        if self.split is not None:
            words[4] = f"{self.split.percent:02d}"
        return ",".join(words)

    def describe(self) -> str:
        """For people: ``blue r1`` or ``blue r1 90 % + green r2 10 % (sticky)``."""
        text = f"{self.color} {self.release}"
        if (s := self.split) is not None:
            sticky = " (sticky)" if s.sticky else ""
            text += f" {100 - s.percent} % + {s.color} {s.release} {s.percent} %{sticky}"
        return text + (" (maintenance page up)" if self.maintenance else "")


def parse(line: str) -> Traffic | None:
    """A state line, or None when it is not exactly one of the two whitelisted forms."""
    match = STATE.fullmatch(line.strip())
    if match is None:
        return None
    color, release, other, other_release, percent, sticky, maintenance = match.groups()
    if other is None:
        return Traffic(color, release, maintenance=bool(maintenance))
    if other == color:
        return None
    split = Split(other, other_release, int(percent), bool(sticky))
    return Traffic(color, release, split, bool(maintenance))


def from_link(target: str) -> Traffic | None:
    """Core mode: the state named by the ``current`` link's target (``.../blue,r1``)."""
    words = target.rsplit("/", 1)[-1].split(",")
    if len(words) >= 5 and words[4].startswith("0"):
        words[4] = words[4][1:]
    return parse(" ".join(words))


def from_header(words: dict[str, str]) -> Traffic | None:
    """Reload mode: the live include's header words (``live= release= other= ...``)."""
    parts = [words.get("live", ""), words.get("release", "")]
    if "other" in words:
        parts += [words["other"], words.get("other_release", ""), words.get("percent", "")]
        if words.get("sticky") == "yes":
            parts.append("sticky")
    if words.get("maintenance") == "on":
        parts.append("maintenance")
    return parse(" ".join(parts))
