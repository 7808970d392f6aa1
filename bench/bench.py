"""bluegreen's benchmark: dropped requests, switch latency, rollback, deploy scaling, load held.

    .venv/bin/python bench/bench.py [--switches 20] [--scaling 1,2,3,6] [--rounds 3]
                                    [--sources 1,6,12] [--cost-rounds 9]
                                    [--only sources|modes|instructions|streaming]

Brings up the sandbox fleet (needs root), runs every part against it with the real ``fab``
command line, prints Markdown tables and writes them as JSON to bench/results/. Numbers
from one run are compared with each other (ratios), because the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import image_sources as sources  # noqa: E402  (bench/image_sources.py, beside this file)
import instructions  # noqa: E402  (bench/instructions.py)
import report  # noqa: E402  (bench/report.py)
import sites  # noqa: E402  (bench/sites.py)
import streaming  # noqa: E402  (bench/streaming.py)

from bluegreen import sandbox  # noqa: E402
from bluegreen.config.inventory import Ports  # noqa: E402
from bluegreen.config.inventory import load as load_inventory  # noqa: E402
from bluegreen.config.profiles import PROFILES  # noqa: E402
from bluegreen.engine.state import Phase  # noqa: E402
from bluegreen.shell import nginx as nginx_commands  # noqa: E402
from bluegreen.shell import system  # noqa: E402
from bluegreen.testing import demo  # noqa: E402
from bluegreen.testing.load import KINDS, Load, first_and_last  # noqa: E402
from bluegreen.transport.ssh import Remote  # noqa: E402

WORK = sandbox.DEFAULT_STATE / "bench"
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)
OTHER = {"blue": "green", "green": "blue"}
# nginx_cost: app name -> (switch mode, public port); "plain" is reload mode's static proxy
COST_VARIANTS = {
    "plain": ("reload", 4100),
    "njs": ("file", 4101),
    "vmonly": ("file", 4102),
    "core": ("core", 4103),
}
TICKS = os.sysconf("SC_CLK_TCK")
# utime + stime of the host's nginx workers (the master's children), in clock ticks
WORKER_TICKS = (
    "for p in $(cat /proc/$(cat /run/nginx.pid)/task/*/children); do cut -d' ' -f14,15"
    " /proc/$p/stat; done | awk '{s += $1 + $2} END {print s}'"
)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def against(
    values: list[float], base: list[float], cost: Callable[[float, float], float]
) -> dict[str, float]:
    """Median, min and max of ``cost`` (a share, shown in %) of each value against its round's."""
    costs = [100 * cost(v, b) for v, b in zip(values, base, strict=True)]
    return {"median": median(costs), "min": min(costs), "max": max(costs)}


def worker_ticks(host: sandbox.SandboxHost) -> int:
    return int(sandbox.run_in(host, WORKER_TICKS).stdout)


def round_trips(output: str) -> list[int]:
    """SSH round trips per host, from fab's summary table."""
    return [int(m) for m in re.findall(r"^\S+ +\S+ +.*? (\d+)$", output, re.M)]


def phases(output: str) -> dict[str, float]:
    """The closing ``phases: stage 1.20 s, ...`` line of a change, by phase name."""
    line = next((ln for ln in output.splitlines() if ln.startswith("phases: ")), "")
    times = dict(
        part.rsplit(" ", 2)[:2] for part in line.removeprefix("phases: ").split(", ") if part
    )
    return {phase.value: float(times[phase.value]) for phase in Phase if phase.value in times}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.fleet = sandbox.up(3 if args.only == "modes" else max(args.scaling + args.sources))
        self.repo = demo.make_app_repo(WORK / "app")
        self.results: dict[str, object] = {}
        self.next_version = 10

    def hosts(self, count: int) -> list[sandbox.SandboxHost]:
        return self.fleet[:count]

    def inventory(self, count: int, mode: str, warm: bool = False) -> Path:
        names = [h.name for h in self.hosts(count)]
        return demo.write_inventory(
            WORK / f"hosts-{count}-{mode}{'-warm' if warm else ''}.yml",
            self.repo.path,
            names,
            app_extra="warm_standby: true" if warm else "",
            defaults_extra=f"switch_mode: {mode}",
        )

    def fresh(
        self, count: int, mode: str, tags: tuple[str, ...] = ("v1",), warm: bool = False
    ) -> Path:
        """Hosts emptied of the app, then the given releases deployed in turn."""
        for host in self.hosts(count):
            sandbox.run_in(host, RESET)
        inventory = self.inventory(count, mode, warm)
        for tag in tags:
            self.fab(inventory, "deploy", "--ref", tag)
        return inventory

    def fab(self, inventory: Path, *args: str) -> demo.FabResult:
        result = demo.fab(inventory, *args)
        if result.returncode != 0:
            raise SystemExit(f"fab {' '.join(args)} failed:\n{result.output}")
        return result

    def new_release(self) -> str:
        """A new commit of the example app (so its image must be built)."""
        self.next_version += 1
        demo._git(self.repo.path, "checkout", "-q", "v2", "--", "Dockerfile")  # a healthy one
        (self.repo.path / "VERSION").write_text(f"{self.next_version}.0.0")
        demo._git(self.repo.path, "commit", "-qam", f"v{self.next_version}")
        return demo._git(self.repo.path, "rev-parse", "HEAD")

    # -- 1 + 2 + 5a: dropped requests, switch latency, load held -------------------------

    def switches(self, mode: str, count: int = 3, warm: bool = False) -> dict[str, object]:
        inventory = self.fresh(count, mode, ("v1", "v2"), warm)
        targets = [(h.address, 4000) for h in self.hosts(count)]
        color = "green"
        per_switch, windows = [], []
        with Load(targets, kinds=KINDS, max_seconds=900) as load:
            time.sleep(1.0)
            for _ in range(self.args.switches):
                color = OTHER[color]
                t0 = load.mark()
                result = self.fab(inventory, "switch", "--to", color)
                t1 = load.mark()
                time.sleep(0.3)  # let late old-color answers show up in the samples
                firsts, lasts = [], []
                for target in targets:
                    samples = load.samples(target)
                    firsts.append(first_and_last(samples, color, after=t0)[0] or t1)
                    lasts.append(first_and_last(samples, OTHER[color], after=t0)[1] or t0)
                took = phases(result.stdout)
                per_switch.append(
                    {
                        "fab_seconds": t1 - t0,
                        "first_new": max(f - t0 for f in firsts),
                        "last_old": max(last - t0 for last in lasts),
                        # > 0: on some host the old color still answered after the new one did
                        "overlap": max(last - f for f, last in zip(firsts, lasts, strict=True)),
                        "old_after_fab_returned": max(last - t1 for last in lasts),
                        "beyond_connect": sum(took.values()) - took.get("preflight", 0.0),
                        "round_trips": max(round_trips(result.stdout)),
                    }
                )
                windows.append((t0, t1))
            time.sleep(1.0)
            idle = load.latencies(after=windows[-1][1] + 0.5)
        during = [d for t0, t1 in windows for d in load.latencies(after=t0, before=t1)]
        elapsed = load.elapsed()
        kinds = {}
        for kind in KINDS:
            stats = load.stats(kind)
            kinds[kind] = {
                "sent": stats.sent,
                "failed": stats.failed,
                "failed_per_switch": stats.failed / self.args.switches,
                "errors": dict(stats.errors),
            }
        return {
            "mode": f"{mode} + warm standby" if warm else mode,
            "hosts": count,
            "switches": self.args.switches,
            "kinds": kinds,
            "requests_per_second": load.stats().sent / elapsed,
            "latency_ms": {
                "idle_p50": 1000 * percentile(idle, 0.5),
                "idle_p99": 1000 * percentile(idle, 0.99),
                "switching_p50": 1000 * percentile(during, 0.5),
                "switching_p99": 1000 * percentile(during, 0.99),
            },
            "switch": {
                key: {
                    "median": median([s[key] for s in per_switch]),
                    "worst": max(s[key] for s in per_switch),
                }
                for key in per_switch[0]
            },
        }

    # -- 3: rollback, warm and cold ---------------------------------------------------------

    def rollbacks(self, count: int = 3) -> dict[str, object]:
        inventory = self.fresh(count, "file", ("v1", "v2"))
        hosts = self.hosts(count)
        times: dict[str, list[float]] = {"warm": [], "cold": []}
        for _ in range(self.args.rounds):
            for kind in ("cold", "warm"):
                live = self.fab(inventory, "status").stdout.splitlines()[1].split()[1]
                if kind == "warm":  # the previous color still running
                    for host in hosts:
                        sandbox.run_in(host, f"docker start example-{OTHER[live]} >/dev/null")
                times[kind].append(self.fab(inventory, "rollback").seconds)
        rtt = self.ssh_round_trip(hosts[0])
        return {
            "hosts": count,
            "warm_seconds": median(times["warm"]),
            "cold_seconds": median(times["cold"]),
            "ssh_round_trip_ms": 1000 * rtt,
        }

    def ssh_round_trip(self, host: sandbox.SandboxHost) -> float:
        """Median time of one command over an open SSH connection."""
        inv = demo.write_inventory(WORK / "rtt.yml", self.repo.path, [host.name])
        remote = Remote(load_inventory(inv).hosts[host.name])
        remote.open()
        samples = []
        for _ in range(20):
            started = time.monotonic()
            remote.run("true", readonly=True)
            samples.append(time.monotonic() - started)
        remote.close()
        return median(samples)

    # -- 4: deploy time against the number of hosts ----------------------------------------

    def scaling(self) -> list[dict[str, object]]:
        rows = []
        for count in self.args.scaling:
            inventory = self.fresh(count, "file")
            built, cached, trips, phase_times = [], [], [], []
            for _ in range(self.args.rounds):
                release = self.new_release()
                result = self.fab(inventory, "deploy", "--ref", release)
                built.append(result.seconds)
                result = self.fab(inventory, "deploy", "--ref", "v1")  # image present
                cached.append(result.seconds)
                trips.append(max(round_trips(result.stdout)))
                phase_times.append(phases(result.stdout))
            rows.append(
                {
                    "hosts": count,
                    "deploy_seconds_build_excluded": median(cached),
                    "deploy_seconds_build_included": median(built),
                    "round_trips_per_host": median(trips),
                    "phases_build_excluded": {
                        name: median([p.get(name, 0.0) for p in phase_times])
                        for name in phase_times[0]
                    },
                }
            )
        base = rows[0]["deploy_seconds_build_excluded"]
        for row in rows:
            row["ratio_to_1_host"] = row["deploy_seconds_build_excluded"] / base
        return rows

    # -- 5b: nginx as the bottleneck: each switch mode's per-request cost ------------------

    def nginx_cost(self) -> dict[str, object]:
        """wrk against our real templates, proxying to an nginx backend (nginx-bound).

        The variants run interleaved, round after round; each round's cost is taken against
        that round's plain proxying (the machine is shared), and so is nginx's CPU time per
        request (its workers' utime + stime), which contention disturbs less than req/s.
        """
        host = self.fleet[0]
        ports = Ports(public=4100, blue=4201, green=4202)
        sandbox.run_in(host, system.nginx_main(PROFILES["debian"]))  # as bootstrapped: pcre_jit
        files = {"/etc/nginx/conf.d/bench-backend.conf": sites.backends(ports)}
        for app, (mode, public) in COST_VARIANTS.items():
            app_ports = Ports(public=public, blue=ports.blue, green=ports.green)
            files |= sites.files(app, mode, app_ports, WORK)
        sandbox.run_in(host, "mkdir -p /etc/nginx/bluegreen")
        for path, text in files.items():
            sandbox.run_in(host, f"printf '%s' {shlex.quote(text)} > {path}")
        sandbox.run_in(host, nginx_commands.point_link("core", sites.TRAFFIC.link_name()))
        sandbox.run_in(host, "nginx -t && nginx -s reload")
        time.sleep(0.5)
        rates: dict[str, list[float]] = {app: [] for app in COST_VARIANTS}
        cpu: dict[str, list[float]] = {app: [] for app in COST_VARIANTS}
        for _ in range(self.args.cost_rounds):
            for app, (_, port) in COST_VARIANTS.items():
                before = worker_ticks(host)
                rate, count = self.wrk(f"http://{host.address}:{port}/")
                rates[app].append(rate)
                cpu[app].append(1e6 * (worker_ticks(host) - before) / TICKS / count)
        sandbox.run_in(host, "rm -rf " + " ".join(files) + " /etc/nginx/bluegreen/core.*")
        sandbox.run_in(host, "nginx -s reload")
        return {
            "rounds": self.args.cost_rounds,
            "variants": {
                app: {
                    "mode": mode,
                    "requests_per_second": rates[app],
                    "nginx_cpu_us_per_request": cpu[app],
                    "cost_percent": against(rates[app], rates["plain"], lambda r, p: 1 - r / p),
                    "cpu_cost_percent": against(cpu[app], cpu["plain"], lambda c, p: c / p - 1),
                }
                for app, (mode, _) in COST_VARIANTS.items()
            },
        }

    @staticmethod
    def wrk(url: str) -> tuple[float, int]:
        """Requests per second and requests sent of one wrk run."""
        out = subprocess.run(
            ["wrk", "-t2", "-c32", "-d3s", url], capture_output=True, text=True, check=True
        ).stdout
        sent = int(re.search(r"(\d+) requests in", out).group(1))
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), sent

    def run(self) -> dict[str, object]:
        self.results = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
        }
        if self.args.only != "modes":
            self.results["sources"] = sources.measure(self, self.args.sources, WORK / "sources")
        if self.args.only == "sources":
            return self.results
        modes = {
            "nginx_cost": self.nginx_cost(),
            "switches": [self.switches(mode) for mode in ("reload", "file", "core")],
        }
        if self.args.only == "modes":
            return self.results | modes
        modes["switches"] += [self.switches("file", warm=True), self.switches("core", warm=True)]
        self.results |= modes | {
            "rollback": self.rollbacks(),
            "scaling": self.scaling(),
        }
        return self.results


def tables(r: dict) -> str:
    """The results as the Markdown tables the README shows."""
    out = [f"Measured {r['date']} on {r['machine']} (sandbox hosts; medians).", ""]
    out += [sources.table(r["sources"]), ""] if "sources" in r else []
    if "switches" not in r:  # --only sources
        return "\n".join(out)
    if "rollback" not in r:  # --only modes
        return "\n".join([*out, modes_table(r)])
    out += [
        "| mode | client | sent | failed | failed per switch |",
        "|---|---|---|---|---|",
    ]
    for s in r["switches"]:
        for kind, k in s["kinds"].items():
            out.append(
                f"| {s['mode']} | {kind} | {k['sent']} | {k['failed']} "
                f"| {k['failed_per_switch']:.2f} |"
            )
    rtt = r["rollback"]["ssh_round_trip_ms"] / 1000
    out += [
        "",
        "| mode | fab switch | orchestration beyond connect | first new answer | overlap "
        "(worst) | old after fab returned (worst) | ssh round trips (share of time) "
        "| p50/p99 idle | p50/p99 switching | req/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r["switches"]:
        w, lat = s["switch"], s["latency_ms"]
        trips = w["round_trips"]["median"]
        out.append(
            f"| {s['mode']} | {w['fab_seconds']['median']:.2f} s "
            f"| {w['beyond_connect']['median']:.2f} s "
            f"| {w['first_new']['median']:.2f} s (worst {w['first_new']['worst']:.2f}) "
            f"| {1000 * w['overlap']['worst']:+.0f} ms "
            f"| {w['old_after_fab_returned']['worst']:+.2f} s "
            f"| {trips:.0f} ({100 * trips * rtt / w['fab_seconds']['median']:.0f} %) "
            f"| {lat['idle_p50']:.1f}/{lat['idle_p99']:.1f} ms "
            f"| {lat['switching_p50']:.1f}/{lat['switching_p99']:.1f} ms "
            f"| {s['requests_per_second']:.0f} |"
        )
    rb = r["rollback"]
    out += [
        "",
        f"Rollback of {rb['hosts']} hosts: warm {rb['warm_seconds']:.2f} s, cold "
        f"{rb['cold_seconds']:.2f} s (one SSH round trip: {rb['ssh_round_trip_ms']:.0f} ms).",
        "",
        "| hosts | deploy, image present | ratio to 1 host | deploy with build "
        "| ssh round trips per host | phases (image present) |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["scaling"]:
        ph = ", ".join(f"{k} {v:.2f}" for k, v in row["phases_build_excluded"].items())
        out.append(
            f"| {row['hosts']} | {row['deploy_seconds_build_excluded']:.2f} s "
            f"| {row['ratio_to_1_host']:.2f} | {row['deploy_seconds_build_included']:.2f} s "
            f"| {row['round_trips_per_host']:.0f} | {ph} |"
        )
    out += ["", modes_table(r)]
    return "\n".join(out)


def modes_table(r: dict) -> str:
    """The switch modes side by side: failed per switch, per-request cost, latency."""
    variants = r["nginx_cost"]["variants"]
    lines = [
        f"Switch modes side by side (per-request cost: wrk, 2 threads x 32 connections against"
        f" a `return 200` backend in the same nginx, {r['nginx_cost']['rounds']} interleaved"
        " rounds, each against that round's plain proxying; median [min, max]):",
        "",
        "| mode | failed per switch: new / keepalive-retry / keepalive | cost in req/s "
        "| cost in nginx CPU per request | p50/p99 switching |",
        "|---|---|---|---|---|",
    ]
    switches = {s["mode"]: s for s in r.get("switches", [])}
    for app, mode in (("plain", "reload"), ("njs", "file"), ("vmonly", None), ("core", "core")):
        v = variants[app]
        s = switches.get(mode)
        failed = (
            " / ".join(f"{k['failed_per_switch']:.2f}" for k in s["kinds"].values()) if s else "-"
        )
        lat = s["latency_ms"] if s else None
        p = f"{lat['switching_p50']:.1f}/{lat['switching_p99']:.1f} ms" if lat else "-"
        cost, cpu = v["cost_percent"], v["cpu_cost_percent"]
        name = {"plain": "reload (plain proxying)", "vmonly": "file: the njs call alone"}
        lines.append(
            f"| {name.get(app, mode)} | {failed} "
            f"| {cost['median']:.1f} % [{cost['min']:.1f}, {cost['max']:.1f}] "
            f"| {cpu['median']:.1f} % [{cpu['min']:.1f}, {cpu['max']:.1f}] "
            f"({median(v['nginx_cpu_us_per_request']):.1f} us) | {p} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=20, help="switches per mode (default 20)")
    parser.add_argument(
        "--scaling",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2, 3, 6],
        help="fleet sizes for deploy scaling (default 1,2,3,6)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="repeats per measurement")
    parser.add_argument(
        "--sources",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 6, 12],
        help="fleet sizes for the image sources part (default 1,6,12)",
    )
    parser.add_argument(
        "--cost-rounds", type=int, default=9, help="interleaved wrk rounds per switch mode"
    )
    parser.add_argument(
        "--only",
        choices=["sources", "modes", "instructions", "streaming"],
        help="run only this part",
    )
    args = parser.parse_args()
    if args.only == "instructions":  # no sandbox: a private nginx on loopback
        return instructions.main([])
    if args.only == "streaming":  # no sandbox: a private nginx on loopback
        return streaming.main([])
    bench = Bench(args)
    try:
        results = bench.run()
    finally:
        sandbox.down()
    report.publish(results, "latest.json", tables(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
