"""Where a benchmark's results go: printed as Markdown, kept as JSON in bench/results/."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(results: dict, file_name: str, tables: str) -> None:
    """Write ``results`` to bench/results/``file_name`` and print ``tables``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / file_name).write_text(json.dumps(results, indent=2))
    print(tables)
    print(f"\nwritten to {RESULTS / file_name}")
