"""``build: local`` under ``runtime: process``: the release's tree built on the operator's
machine and shipped as one tarball, for hosts that reach no package registry.

The commit's files are exported into a private temporary directory, ``app.build_command``
(e.g. ``npm ci --omit=dev``) runs there with this machine's tools and registry access, and
the whole directory (dependencies included) becomes the archive every host unpacks: the
hosts only run what was built here, so all of them run the same bytes.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bluegreen.config import child_env
from bluegreen.config.inventory import App
from bluegreen.errors import SourceError

BUILD_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Tree:
    archive: bytes  # tar.gz of the built directory
    files: int
    seconds: float  # how long build_command ran


def _build_command(app: App, folder: Path) -> None:
    """Run ``app.build_command`` in ``folder``; its failure is the last lines of its output."""
    try:
        done = subprocess.run(
            ["sh", "-c", app.build_command or "true"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            env=child_env.for_children(),
        )
    except subprocess.TimeoutExpired:
        raise SourceError(f"local build: no end in {BUILD_TIMEOUT:g} s") from None
    if done.returncode:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        shown = "\n".join(f"  {line}" for line in tail)
        raise SourceError(f"local build failed (exit {done.returncode}):\n{shown}")


def build(app: App, source: bytes) -> Tree:
    """Unpack ``source`` (a ``git archive``), run the build command in it, pack the result."""
    with tempfile.TemporaryDirectory(prefix="bluegreen-tree-") as folder:
        root = Path(folder)
        with tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as tar:
            tar.extractall(root, filter="data")
        started = time.monotonic()
        _build_command(app, root)
        seconds = time.monotonic() - started
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as tar:
            tar.add(root, arcname=".")
            files = sum(1 for member in tar.getmembers() if member.isfile())
        return Tree(out.getvalue(), files, seconds)
