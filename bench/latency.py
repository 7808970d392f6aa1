"""The floor ratio, real-world latency, and the fleet-size table of a warm switch.

    BLUEGREEN_SANDBOX=N .venv/bin/python bench/latency.py [--pairs 8] [--delay 0.05]
                                                         [--sizes 3,12,24,48]

- **floor**: ``fab switch`` (3 hosts, file mode, warm standby) against bench/floor.py (plain
  Fabric: one connection and one command per host, then one HTTP check per host), timed in
  one interleaved series of pairs; wall time and CPU of each process.
- **latency**: the same pairs with ``--delay`` added each way between this machine and
  every host (bluegreen/testing/relay.py: SSH and the floor's HTTP check go through it), a
  measured round trip through the relay, and deploy, switch and rollback times with their
  SSH round trips per host.
- **sizes**: a warm switch of N hosts for each N, with its controller CPU per host and
  the ``--parallel`` it ran with.

Writes bench/results/latency.json and prints Markdown tables. Needs root (the sandbox).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import report  # noqa: E402  (bench/report.py, beside this file)

from bluegreen import sandbox  # noqa: E402
from bluegreen.testing import demo, relay  # noqa: E402

WORK = sandbox.DEFAULT_STATE / "latency"
FLOOR = PROJECT / "bench" / "floor.py"
STATE_FILE = "/etc/nginx/bluegreen/example.state"
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)
OTHER = {"blue": "green", "green": "blue"}


@dataclass(frozen=True)
class Timed:
    seconds: float
    cpu: float  # user + system of the process (and its children)
    output: str = ""


def timed(command: Callable[[], subprocess.CompletedProcess | demo.FabResult]) -> Timed:
    """Wall time and CPU of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = command()
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"failed:\n{result.stdout}{result.stderr}")
    return Timed(seconds, cpu, result.stdout)


def round_trips(output: str) -> int:
    """The most SSH round trips of any host, from fab's summary table."""
    return max(int(m) for m in re.findall(r"^\S+ +\S+ +.*? (\d+)$", output, re.M))


def phases(output: str) -> str:
    return next((ln for ln in output.splitlines() if ln.startswith("phases: ")), "")[8:]


def median(values: list[float]) -> float:
    return statistics.median(values)


class Fleet:
    """The example app, warm standby, file mode, on the first ``count`` sandbox hosts."""

    def __init__(self, hosts: list[sandbox.SandboxHost], repo: demo.AppRepo) -> None:
        self.hosts = hosts
        self.repo = repo
        for host in hosts:
            sandbox.run_in(host, RESET)
        self.inventory = demo.write_inventory(
            WORK / f"hosts-{len(hosts)}.yml",
            repo.path,
            [h.name for h in hosts],
            app_extra="warm_standby: true",
            defaults_extra="switch_mode: file",
        )
        self.fab("deploy", "--ref", "v1")
        self.fab("deploy", "--ref", "v2")
        self.refresh()
        self.ssh = [f"{h.address}:22" for h in hosts]
        self.http = [f"{h.address}:4000" for h in hosts]
        self.known_hosts = sandbox.DEFAULT_STATE / "known_hosts"

    def fab(self, *args: str, inventory: Path | None = None, parallel: int = 0) -> Timed:
        more = ("--parallel", str(parallel)) if parallel and args[0] != "status" else ()
        return timed(lambda: demo.fab(inventory or self.inventory, *args, *more))

    def refresh(self) -> None:
        """The live color and each color's release, as the first host's status says."""
        out = demo.fab(self.inventory, "status", "--json").stdout
        first = json.loads(out[out.index("{") :])["hosts"][0]
        self.live = first["live"]
        self.releases = {color: c["release"] for color, c in first["colors"].items() if c}

    def other_tag(self) -> str:
        """The example app's tag (v1, v2) that is not live."""
        live = self.releases[self.live]
        return next(tag for tag in ("v1", "v2") if self.repo.releases[tag] != live)

    @contextlib.contextmanager
    def delayed(self, delay: float) -> Iterator[float]:
        """SSH and the public ports behind relays; yields one measured SSH round trip."""
        addresses = [h.address for h in self.hosts]
        with relay.relayed_fleet(addresses, delay, ports=(22, 4000)) as relays:
            saved = self.inventory, self.ssh, self.http, self.known_hosts
            self.inventory = relay.relayed_inventory(
                self.inventory, WORK / f"relayed-{len(self.hosts)}.yml", relays, self.known_hosts
            )
            self.known_hosts = WORK / f"relayed-{len(self.hosts)}.known_hosts"
            self.ssh = [f"127.0.0.1:{relays[(a, 22)].port}" for a in addresses]
            self.http = [f"127.0.0.1:{relays[(a, 4000)].port}" for a in addresses]
            try:
                yield relay.round_trip(relays[(addresses[0], 22)])
            finally:
                self.inventory, self.ssh, self.http, self.known_hosts = saved

    def flip(self) -> str:
        """The color to switch to next (the one not live); counted as live from now."""
        self.live = OTHER[self.live]
        return self.live

    def switch(self) -> Timed:
        return self.fab("switch", "--to", self.flip())

    def floor(self) -> Timed:
        color = self.flip()
        key = sandbox.DEFAULT_STATE / "id_ed25519"
        command = [
            sys.executable, str(FLOOR), "--state", STATE_FILE,
            "--line", f"{color} {self.releases[color]}", "--color", color,
            "--key", str(key), "--known-hosts", str(self.known_hosts),
            *(f"{s}={h}" for s, h in zip(self.ssh, self.http, strict=True)),
        ]  # fmt: skip
        return timed(lambda: subprocess.run(command, capture_output=True, text=True, timeout=120))


def pairs(fleet: Fleet, count: int) -> dict[str, object]:
    """``count`` interleaved (fab switch, floor) pairs; medians and the ratio's median."""
    fab, floor = [], []
    for _ in range(count):
        fab.append(fleet.switch())
        floor.append(fleet.floor())
    ratios = [f.seconds / b.seconds for f, b in zip(fab, floor, strict=True)]
    return {
        "pairs": count,
        "fab_switch_seconds": median([t.seconds for t in fab]),
        "floor_seconds": median([t.seconds for t in floor]),
        "ratio_median": median(ratios),
        "ratio_spread": [min(ratios), max(ratios)],
        "fab_switch_cpu": median([t.cpu for t in fab]),
        "floor_cpu": median([t.cpu for t in floor]),
        "fab_round_trips": round_trips(fab[-1].output),
        "fab_phases": phases(fab[-1].output),
    }


def changes(fleet: Fleet, rounds: int) -> dict[str, object]:
    """Deploy (image present), switch and rollback: median time, round trips, phases."""
    result = {}
    for name, args in (
        ("deploy", lambda: ("deploy", "--ref", fleet.other_tag())),
        ("switch", lambda: ("switch", "--to", OTHER[fleet.live])),
        ("rollback", lambda: ("rollback",)),
    ):
        runs = []
        for _ in range(rounds):
            runs.append(fleet.fab(*args()))
            fleet.refresh()
        result[name] = {
            "seconds": median([t.seconds for t in runs]),
            "cpu": median([t.cpu for t in runs]),
            "round_trips": round_trips(runs[-1].output),
            "phases": phases(runs[-1].output),
        }
    return result


def sizes(repo: demo.AppRepo, counts: list[int], rounds: int) -> list[dict[str, object]]:
    """A warm switch of N hosts for each N (one fleet of the largest N, its first N hosts);
    the largest also with ``--parallel`` N/2 and N, to choose the default from."""
    fleet_hosts = sandbox.up(max(counts))
    rows = []
    for count in counts:
        fleet = Fleet(fleet_hosts[:count], repo)
        tries = [0] if count < max(counts) else [0, count // 2, count]
        for parallel in tries:
            runs = [
                fleet.fab("switch", "--to", fleet.flip(), parallel=parallel) for _ in range(rounds)
            ]
            cpu = median([t.cpu for t in runs])
            rows.append(
                {
                    "hosts": count,
                    "parallel": parallel or "default",
                    "switch_seconds": median([t.seconds for t in runs]),
                    "cpu_seconds": cpu,
                    "cpu_ms_per_host": 1000 * cpu / count,
                    "phases": phases(runs[-1].output),
                    "round_trips": round_trips(runs[-1].output),
                }
            )
    first = rows[0]
    for row in rows:
        row["ratio_to_first"] = row["switch_seconds"] / first["switch_seconds"]
        extra = row["hosts"] - first["hosts"]
        # what each host beyond the first fleet's adds (start-up and imports excluded)
        more = (row["cpu_seconds"] - first["cpu_seconds"]) / extra if extra else None
        row["cpu_ms_per_added_host"] = 1000 * more if more is not None else None
    return rows


def tables(r: dict) -> str:
    out = [f"Measured {r['date']} on {r['machine']} (sandbox hosts; medians).", ""]
    out += [
        "| delay each way | fab switch | floor | ratio (median of pairs, spread) "
        "| CPU fab / floor | SSH round trips per host | one round trip through the relay |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["floor"]:
        out.append(
            f"| {1000 * row['delay']:.0f} ms | {row['fab_switch_seconds']:.2f} s "
            f"| {row['floor_seconds']:.2f} s | {row['ratio_median']:.2f} "
            f"({row['ratio_spread'][0]:.2f}–{row['ratio_spread'][1]:.2f}) "
            f"| {row['fab_switch_cpu']:.2f} / {row['floor_cpu']:.2f} s "
            f"| {row['fab_round_trips']} (floor: 1) "
            f"| {1000 * row['relay_round_trip']:.0f} ms |"
        )
    if "changes" in r:
        delay = 1000 * r["changes_delay"]
        out += [
            "",
            f"| {delay:.0f} ms each way, 3 hosts | time | CPU | SSH round trips per host "
            "| phases |",
            "|---|---|---|---|---|",
        ]
        for name, row in r["changes"].items():
            out.append(
                f"| {name} | {row['seconds']:.2f} s | {row['cpu']:.2f} s "
                f"| {row['round_trips']} | {row['phases']} |"
            )
    if r.get("sizes"):
        out += [
            "",
            "| hosts | --parallel | warm switch | ratio to the first | controller CPU "
            "| CPU per host | CPU per added host | phases |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in r["sizes"]:
            added = row["cpu_ms_per_added_host"]
            out.append(
                f"| {row['hosts']} | {row['parallel']} | {row['switch_seconds']:.2f} s "
                f"| {row['ratio_to_first']:.2f} | {row['cpu_seconds']:.2f} s "
                f"| {row['cpu_ms_per_host']:.0f} ms | {f'{added:.0f} ms' if added else '–'} "
                f"| {row['phases']} |"
            )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8, help="(fab, floor) pairs (default 8)")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds each way (0.05)")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each change")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",") if n],
        default=[],
        help="fleet sizes for the warm-switch table, e.g. 3,12,24,48 (default: none)",
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    # An installed wheel has its bytecode; an editable checkout under PYTHONDONTWRITEBYTECODE
    # (set on this machine) would compile bluegreen at every fab start, unlike Fabric itself.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(PROJECT / "bluegreen")])
    repo = demo.make_app_repo(WORK / "app")
    results: dict[str, object] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": subprocess.run(["uname", "-nm"], capture_output=True, text=True).stdout.strip(),
    }
    try:
        fleet = Fleet(sandbox.up(3), repo)
        rows = [pairs(fleet, args.pairs) | {"delay": 0.0, "relay_round_trip": 0.0}]
        with fleet.delayed(args.delay) as rtt:
            rows.append(pairs(fleet, args.pairs) | {"delay": args.delay, "relay_round_trip": rtt})
            results["changes"] = changes(fleet, args.rounds)
            results["changes_delay"] = args.delay
        results["floor"] = rows
        if args.sizes:
            results["sizes"] = sizes(repo, args.sizes, args.rounds)
    finally:
        sandbox.down()
    report.publish(results, "latency.json", tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
