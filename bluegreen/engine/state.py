"""What one change works with: its options, its traffic steps, and each host's part."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, TypeVar

from bluegreen import facts
from bluegreen.config.inventory import AppProcess, Host
from bluegreen.errors import Refused
from bluegreen.facts.traffic import Split, Traffic
from bluegreen.transport.ssh import Remote


class Phase(Enum):
    """The phases of a change, in order; the closing summary times each by this name."""

    PREFLIGHT = "preflight"  # connect, facts, lock
    CHOOSE = "choose"  # each host's target color and release
    STAGE = "stage"  # source, build, start the target color
    RELEASE = "release"  # the release command, between build and start (when there is one)
    HEALTH = "health"
    LEAVE = "leave"  # out of the load balancer (health endpoint 503), then its drain wait
    SWITCH = "switch"
    VERIFY = "verify"  # through the public port, by release
    WATCH = "watch"  # the access log of the color that got traffic
    REJOIN = "rejoin"  # back into the load balancer, then its rejoin wait
    QUIESCE = "quiesce"  # app.processes: the old release's stop (their jobs finish)
    PROCESSES = "processes"  # app.processes: the new release's start
    SCHEDULE = "schedule"  # app.schedule: the new release's schedulers (or timers)
    REVERT = "revert"  # a failure after a switch: nginx back to what served
    UNDO = "undo"  # a failure: the containers this change started go again
    DRAIN = "drain"  # then stop (keep) the old color
    FINISH = "finish"  # history line and unlock


T = TypeVar("T")

# Where a host's part of a change ended; the history line, the summary and status say it.
Outcome = Literal["unchanged", "switched", "reverted", "already live", "failed", "needs attention"]

# A host whose revert failed: nginx may still serve the new color, so nothing was stopped or
# removed there; the operator puts it right (docs/guides/recovery.md).
NEEDS_ATTENTION: Outcome = "needs attention"

# Hosts worked on at once within a phase. Measured (bench/latency.py, 48 sandbox hosts, warm
# switch): 10 at a time 15.4 s, 24 at a time 12.6 s, all 48 at once 9.8 s; the connects of
# preflight wait on the network, not on this machine, so a larger fleet gains most.
PARALLEL = 50


@dataclass(frozen=True)
class Options:
    dry_run: bool = False  # read facts, print the commands, change nothing
    batch: str | None = None  # switch N hosts ("2") or a share ("25%") at a time
    parallel: int = PARALLEL  # hosts worked on at once within a phase
    force: bool = False  # go on despite the maintenance page or a resources shortage


@dataclass(frozen=True)
class Step:
    """One traffic move of a change: the target color's share, then watching it."""

    share: int = 100  # percent of the requests for the target color; the rest stay live
    watch: float = 0.0  # seconds to watch the target color afterwards (0: not watched)
    sticky: bool = False  # split by client address instead of per request


@dataclass
class Holds:
    """What this run holds on one host and must give back or act on at the end.

    Each field is set by one transition below, named after what happened; the phases that
    give back read them:
      REVERT  where ``nginx``: points nginx back (the ``replaced`` files get their old text)
      UNDO    where ``started``: stops the target color; where ``processes`` or ``launched``:
              every old process runs again, the new ones go
      REJOIN  where ``drained``: back into the load balancer (FINISH too, if cut off)
      FINISH  where ``lock``: gives it back; a switched host runs ``retire`` and ``prune``
    """

    lock: bool = False  # (maybe) this run's lock
    lock_since: float = 0.0  # when it was taken or last refreshed (locking.clock)
    started: bool = False  # the target color's container was started (or replaced)
    retire: str = ""  # drops what the start set aside, once the host ended switched
    nginx: bool = False  # nginx (possibly) points at the target
    replaced: list[str] = field(default_factory=list)  # config files the switch rewrote
    prune: str = ""  # drops the old TLS pairs, once the switch is verified
    drained: bool = False  # (maybe) out of the load balancer: its health endpoint says 503
    # app.processes: what the stop found of each (current | stopped | none | overlap), and
    # the names of those whose new release was started ("timers": the scheduled jobs' timers)
    processes: dict[AppProcess, str] = field(default_factory=dict)
    launched: set[str] = field(default_factory=set)

    # -- the transitions, in the order a change meets them ----------------------------

    def took_lock(self) -> None:
        """Preflight asked for the lock: maybe taken, so a run lost before it settles still
        gives it back."""
        self.lock = True

    def refreshed_lock(self, since: float) -> None:
        """The host set the lock's expiry from its clock at ``since`` (preflight, heartbeat)."""
        self.lock_since = since

    def without_lock(self) -> None:
        """The lock is not this run's (any more): given back at the finish, or another's."""
        self.lock = False

    def started_color(self, retire: str = "") -> None:
        """The target color runs because this run started it (``retire``: see the field)."""
        self.started, self.retire = True, retire

    def pointed_nginx(self) -> None:
        """The switch (or ACME's port 80 site) is writing nginx's files."""
        self.nginx = True

    def kept_nginx(self, before: bool) -> None:
        """The switch wrote nothing after all, or the host put its files back itself: nginx
        is as the steps ``before`` it left it (a canary's first step still needs a revert)."""
        self.nginx = before

    def new_pair(self, prune: str) -> None:
        """The switch puts a new TLS pair; the old ones go once it is verified."""
        self.prune = prune

    def rewrote(self, paths: list[str]) -> None:
        self.replaced = sorted({*self.replaced, *paths})

    def restored_files(self) -> None:
        """A revert put the replaced files back: nothing left to restore or prune."""
        self.replaced, self.prune = [], ""

    def left_balancer(self) -> None:
        self.drained = True

    def rejoined_balancer(self) -> None:
        self.drained = False

    def stopped_processes(self, found: dict[AppProcess, str]) -> None:
        self.processes = found

    def launched_processes(self, names: set[str]) -> None:
        self.launched |= names

    @property
    def moved_processes(self) -> bool:
        """UNDO has processes to put back."""
        return bool(self.processes or self.launched)


@dataclass
class HostRun:
    """One host's part of a change: its session, what it found, its target, what it holds
    there (``holds``) and how it ended (``outcome``)."""

    host: Host
    remote: Remote
    # what preflight found
    facts: facts.HostFacts = field(default_factory=facts.HostFacts)
    reached: bool = False  # its facts were read (else nothing is known of what it serves)
    unfinished: str = ""  # nginx serves other than its files say (a switch that did not finish)
    # color -> how its health path answered, probed with the facts (healthy ones only)
    early_health: dict[str, str] = field(default_factory=dict)
    mode: str = "reload"  # how this host's nginx switches: reload | file | core
    installed: dict[str, str | None] = field(default_factory=dict)  # config path -> md5 on host
    # its target
    color: str = ""
    release: str = ""
    share: int = 100  # the current step's share for the target color
    sticky: bool = False
    maintenance: bool = False  # the target has the maintenance page up (fab maintenance --on)
    # what this run holds there, and how it ended
    holds: Holds = field(default_factory=Holds)
    outcome: Outcome = "unchanged"
    bug: bool = False  # a step hit a bug (not a BluegreenError): no revert, no undo here
    attention: str = ""  # its revert failed: what the public port serves, what still runs
    recorded: dict[str, object] = field(default_factory=dict)  # more fields for its history line

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def target(self) -> Traffic:
        """What nginx is to serve: the target color alone, or a share of it beside the live one."""
        base = self.facts.traffic
        if self.share == 100 or base is None:
            return Traffic(self.color, self.release, maintenance=self.maintenance)
        split = Split(self.color, self.release, self.share, self.sticky)
        return Traffic(base.color, base.release, split, self.maintenance)

    @property
    def watched(self) -> bool:
        """The target color gets traffic it did not have (not a return to the live color)."""
        return self.share < 100 or self.color != self.facts.live_color


def batches(runs: list[T], size: str | None) -> list[list[T]]:
    """Split hosts into batches: all at once, N at a time ("2"), or a share ("25%")."""
    if not runs or not size:
        return [runs] if runs else []
    text = size.strip()
    try:
        count = math.ceil(len(runs) * float(text[:-1]) / 100) if text.endswith("%") else int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise Refused(f"--batch must be a number of hosts (2) or a share (25%), not {size!r}")
    return [runs[i : i + count] for i in range(0, len(runs), count)]
