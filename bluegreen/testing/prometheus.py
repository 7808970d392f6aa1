"""A real Prometheus for tests: scrapes sandbox hosts' node_exporter and mtail every second,
listens on the sandbox bridge, keeps its data in a temp dir; queried over its HTTP API.
Also: the PromQL of a Grafana dashboard, with Grafana's variables filled in."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bluegreen import sandbox

SCRAPE = 1.0  # seconds between scrapes
# Grafana's variables as a test fills them in: every app, windows a few scrapes long
VARIABLES = {"$__rate_interval": "6s", "$__interval": "1m", "$app": ".+"}


def config(targets: list[str], scrape: float = SCRAPE) -> str:
    """prometheus.yml: one job, every target, a label ``exporter`` by port."""
    static = json.dumps([{"targets": targets}])
    return (
        f"global: {{scrape_interval: {scrape:g}s, evaluation_interval: {scrape:g}s}}\n"
        f"scrape_configs:\n  - job_name: bluegreen\n    static_configs: {static}\n"
    )


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


class Prometheus:
    """``with Prometheus(targets, directory) as prom: prom.query(...)``: started, stopped."""

    def __init__(self, targets: list[str], directory: Path) -> None:
        self.directory = directory
        self.address = sandbox.BRIDGE_ADDRESS
        self.port = _free_port(self.address)
        (directory / "prometheus.yml").write_text(config(targets))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def __enter__(self) -> Prometheus:
        log = (self.directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={self.directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address={self.address}:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"prometheus did not start: {self.log_tail()}")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        text = (self.directory / "prometheus.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _get(self, path: str, **params: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.load(reply)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """An instant query's result: [{"metric": {...}, "value": [time, "text"]}, ...]."""
        return self._get("/api/v1/query", query=expr)["result"]

    def values(self, expr: str, label: str) -> dict[str, float]:
        """An instant query's values by one label."""
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}

    def targets_up(self) -> dict[str, float]:
        return self.values("up", "instance")

    def label_values(self, label: str) -> list[str]:
        """Every value of ``label`` (what Grafana's ``label_values`` variables list)."""
        return self._get(f"/api/v1/label/{label}/values")


def dashboard_queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target (rows' panels too) and annotation, with
    Grafana's variables filled in (``VARIABLES``)."""

    def filled(expr: str) -> str:
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        return expr

    def panels(items: list[dict]) -> Iterator[dict]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"panel {panel['title']!r} {target['refId']}", filled(target["expr"])
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            yield f"annotation {annotation['name']!r}", filled(annotation["expr"])
