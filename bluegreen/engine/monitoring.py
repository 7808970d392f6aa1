"""A change's part in the state metrics (``metrics:`` in the inventory): the textfile
directory checked and the lock marked held at preflight, the host's new state written at
the finish; each folded into the round trip that step makes anyway."""

from __future__ import annotations

import time

from bluegreen import facts
from bluegreen.config import certificates
from bluegreen.config.inventory import Inventory
from bluegreen.engine import report
from bluegreen.engine.state import HostRun
from bluegreen.errors import Refused
from bluegreen.facts import metrics
from bluegreen.shell import lock
from bluegreen.shell import metrics as textfile


def preflight(inventory: Inventory, run: HostRun, token: str) -> str:
    """Commands after taking the lock: is the directory usable, and (ours now) lock held."""
    if inventory.metrics is None:
        return ""
    directory, app = inventory.metrics.textfile_dir, inventory.app.name
    held = textfile.write(directory, textfile.lock_file(app), metrics.lock(app, run.name, True))
    return f"{textfile.ready(directory)}\n{lock.ours(run.host.app_dir, token)} && {held}"


def check(inventory: Inventory, output: str) -> None:
    """Refuse the host (before anything changed) when the directory is not usable."""
    if inventory.metrics is None or facts.pairs(output).get("metrics_dir") != "no":
        return
    raise Refused(
        f"metrics.textfile_dir {inventory.metrics.textfile_dir}: does not exist and cannot be"
        " created, or is not writable (fab bootstrap makes it; or fix metrics: in"
        f" {inventory.path.name})"
    )


def state(run: HostRun, app: str, operation: str) -> metrics.State:
    """What the host serves now, as the closing report judges it."""
    traffic = report.serving(run) if report.known(run) else None  # no share beats a wrong one
    releases = {color: c.release for color, c in run.facts.containers.items() if c.release}
    if run.holds.started and run.release:
        releases[run.color] = run.release
    return metrics.State(
        app=app,
        host=run.name,
        traffic=traffic,
        releases=releases,
        mode=run.mode,
        operation=operation,
        result=run.outcome,
        changed_at=round(time.time(), 3),
    )


def finish(inventory: Inventory, run: HostRun, operation: str) -> str:
    """Commands for the finish step: the new state file, and the lock no longer held."""
    if inventory.metrics is None:
        return ""
    directory, app = inventory.metrics.textfile_dir, inventory.app.name
    paths = certificates.host_paths(app, inventory.app.tls.mode, inventory.app.tls.pair)
    text = metrics.render(state(run, app, operation))
    if paths:
        text += metrics.certificate(app, run.name)
    return "; ".join(
        [
            textfile.write(directory, textfile.state_file(app), text, paths[0] if paths else None),
            textfile.write(directory, textfile.lock_file(app), metrics.lock(app, run.name, False)),
        ]
    )
