"""The state metrics of one app on one host, as Prometheus text for node_exporter's textfile
collector: what serves, which release each color runs, how it switches, the last change.

Pure: fab renders this after every change (``commands.metrics`` writes it atomically in the
finish step's round trip), so the file changes only when fab changed something and no
daemon of ours runs on the host. Traffic (requests, latency) comes from mtail instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bluegreen.config.inventory import COLORS
from bluegreen.facts.traffic import Traffic

RESULTS = ("switched", "already live", "unchanged", "reverted", "failed")


@dataclass(frozen=True)
class State:
    """What one host serves after a change, and how that change ended."""

    app: str
    host: str  # the inventory's name for it
    traffic: Traffic | None  # None: nothing serves, or unknown (a failed switch not put back)
    releases: Mapping[str, str] = field(default_factory=dict)  # color -> its container's release
    mode: str = "reload"  # reload | file | core
    operation: str = ""  # deploy | rollback | switch | split | ...
    result: str = "unchanged"  # one of RESULTS
    changed_at: float = 0.0  # epoch seconds


def _escape(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _number(value: float) -> str:
    """Every digit (``:g`` would round a timestamp to six), no ``.0`` on whole numbers."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def shares(traffic: Traffic | None) -> dict[str, int]:
    """Percent of the requests each color gets (0 for both when nothing serves)."""
    if traffic is None:
        return dict.fromkeys(COLORS, 0)
    split = traffic.split
    taken = split.percent if split else 0
    result = dict.fromkeys(COLORS, 0)
    result[traffic.color] = 100 - taken
    if split:
        result[split.color] = taken
    return result


def render(state: State) -> str:
    """The state file's text (every family, HELP and TYPE lines, one trailing newline)."""

    def at(**more: str) -> str:
        return _labels(app=state.app, host=state.host, **more)

    known = state.traffic is not None
    live = state.traffic.color if state.traffic else ""
    families = [
        _family(
            "bluegreen_up",
            "gauge",
            "1 when fab knows what serves (0: nothing, or a failed switch left it unknown).",
            [(at(), int(known))],
        ),
        _family(
            "bluegreen_live_color",
            "gauge",
            "1 for the live color (the one a split does not take), 0 for the other.",
            [(at(color=color), int(color == live)) for color in COLORS] if known else [],
        ),
        _family(
            "bluegreen_traffic_share_percent",
            "gauge",
            "Percent of the requests nginx sends to each color.",
            [(at(color=c), share) for c, share in shares(state.traffic).items()] if known else [],
        ),
        _family(
            "bluegreen_release_info",
            "gauge",
            "The release each color's container runs (1 per color that has one).",
            [
                (at(color=color, release=state.releases[color]), 1)
                for color in COLORS
                if state.releases.get(color)
            ],
        ),
        _family(
            "bluegreen_maintenance",
            "gauge",
            "1 while nginx answers with the maintenance page (fab maintenance --on).",
            [(at(), int(state.traffic.maintenance))] if known else [],
        ),
        _family(
            "bluegreen_switch_mode_info",
            "gauge",
            "How this host's nginx switches: reload, or file or core (no reload).",
            [(at(mode=state.mode), 1)],
        ),
        _family(
            "bluegreen_last_change_timestamp_seconds",
            "gauge",
            "When fab's last change on this host ended (a new value: a switch annotation).",
            [(at(), state.changed_at)],
        ),
        _family(
            "bluegreen_last_change_result",
            "gauge",
            "1 for how fab's last change on this host ended, 0 for the other results.",
            [(at(operation=state.operation, result=r), int(r == state.result)) for r in RESULTS],
        ),
    ]
    return "".join(families)


def lock(app: str, host: str, held: bool) -> str:
    """The lock file's text: whether a change holds this app's lock on the host now."""
    return _family(
        "bluegreen_lock_held",
        "gauge",
        "1 while a fab change holds the app's lock on this host.",
        [(_labels(app=app, host=host), int(held))],
    )


def certificate(app: str, host: str) -> str:
    """The certificate expiry sample, without its value: the host appends the value it reads
    from the certificate (``commands.metrics.write``)."""
    return (
        "# HELP bluegreen_certificate_expiry_timestamp_seconds When the site's certificate"
        " expires.\n# TYPE bluegreen_certificate_expiry_timestamp_seconds gauge\n"
        f"bluegreen_certificate_expiry_timestamp_seconds{_labels(app=app, host=host)}"
    )
