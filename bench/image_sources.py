"""The benchmark's image-source part: deploy time of a new release (build included) for
``build: host`` (every host builds), ``build: local`` (one build on the operator's dockerd,
streamed over SSH) and ``image:`` (built and pushed beforehand, "in CI"; every host pulls the
digest), and the bytes each host received over SSH and from the registry.

Bytes are counted by iptables rules inside each host (port 22 in, registry port in).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

from bluegreen import sandbox
from bluegreen.testing import demo
from bluegreen.testing.artifacts import REGISTRY_PORT, OperatorDocker, Registry

SOURCES = ("host", "local", "image")
COUNT = (
    "for p in '--dport 22' '--sport {port}'; do"
    " iptables -C INPUT -p tcp $p 2>/dev/null || iptables -I INPUT -p tcp $p; done"
)


def received(host: sandbox.SandboxHost) -> tuple[int, int]:
    """(SSH bytes, registry bytes) received since the last call; the counters restart."""
    out = sandbox.run_in(host, "iptables -L INPUT -v -x -n -Z").stdout
    ssh = sum(int(line.split()[1]) for line in out.splitlines() if "dpt:22" in line)
    registry = sum(
        int(line.split()[1]) for line in out.splitlines() if f"spt:{REGISTRY_PORT}" in line
    )
    return ssh, registry


def measure(bench, counts: list[int], work: Path) -> list[dict[str, object]]:
    """One deploy of a new release per source and fleet size (one run; per-host medians)."""
    operator = OperatorDocker(work / "docker")
    registry = Registry(work / "registry", "bench", "bench-password")
    rows, saved = [], dict(os.environ)
    try:
        operator.start()
        registry.start()
        for host in bench.hosts(max(counts)):
            registry.trust(host)
            sandbox.run_in(host, COUNT.format(port=REGISTRY_PORT))
        os.environ.update(
            {**operator.env, **registry.env, "BENCH_REGISTRY_PASSWORD": "bench-password"}
        )
        for count in counts:
            bench.fresh(count, "file")  # v1 live, built on each host
            for source in SOURCES:
                rows.append(_one(bench, operator, registry, work, count, source))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        registry.stop()
        operator.stop()
    return rows


def _one(bench, operator, registry, work: Path, count: int, source: str) -> dict[str, object]:
    release = bench.new_release()[:12]
    names = [h.name for h in bench.hosts(count)]
    extra, ci_seconds = {"host": "", "local": "build: local"}.get(source, ""), 0.0
    inventory = work / f"hosts-{count}-{source}.yml"
    if source == "image":
        started = time.monotonic()
        archive = subprocess.run(
            ["git", "-C", str(bench.repo.path), "archive", "--format=tar", release],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        operator.docker(f"docker build -q -t example:{release} -", stdin=archive)
        registry.push(operator, f"example:{release}", "bench/example:main")
        ci_seconds = time.monotonic() - started
        extra = f"image: {registry.address}/bench/example:main"
    demo.write_inventory(inventory, bench.repo.path, names, extra, "switch_mode: file")
    if source == "image":
        secrets = (
            "secrets:\n  registry: {username: bench, password: 'env:BENCH_REGISTRY_PASSWORD'}\n"
        )
        inventory.write_text(inventory.read_text() + secrets)
    for host in bench.hosts(count):
        received(host)
    result = bench.fab(inventory, "deploy", "--ref", release)
    got = [received(host) for host in bench.hosts(count)]
    return {
        "hosts": count,
        "source": source,
        "deploy_seconds": result.seconds,
        "ci_build_and_push_seconds": ci_seconds,
        "ssh_bytes_per_host": statistics.median(ssh for ssh, _ in got),
        "registry_bytes_per_host": statistics.median(reg for _, reg in got),
        "registry_bytes_range": [min(reg for _, reg in got), max(reg for _, reg in got)],
    }


def table(rows: list[dict[str, object]]) -> str:
    out = [
        "| hosts | source | deploy (build included) | ratio to host builds | received over SSH"
        " per host | from the registry per host (fewest–most) |",
        "|---|---|---|---|---|---|",
    ]
    base = {row["hosts"]: row["deploy_seconds"] for row in rows if row["source"] == "host"}
    for row in rows:
        low, high = row["registry_bytes_range"]
        ci = (
            f" (+ {row['ci_build_and_push_seconds']:.1f} s build and push in CI)"
            if row["source"] == "image"
            else ""
        )
        out.append(
            f"| {row['hosts']} | {row['source']} | {row['deploy_seconds']:.2f} s{ci} "
            f"| {row['deploy_seconds'] / base[row['hosts']]:.2f} "
            f"| {row['ssh_bytes_per_host'] / 1e3:.0f} kB "
            f"| {row['registry_bytes_per_host'] / 1e3:.0f} kB"
            f" ({low / 1e3:.0f}–{high / 1e3:.0f}) |"
        )
    return "\n".join(out)
