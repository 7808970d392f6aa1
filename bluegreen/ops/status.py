"""What serves where: per host, the live color and any split of the traffic, each color's
release, state and health, the lock and the last change. A table for people (colored on a
terminal), or JSON.

JSON schema (``fab status --json``), one object per host in ``hosts``. ``split`` is set
while ``percent`` % of the requests go to ``color`` (the one that is not ``live``; the
rest go to ``live``), as read from nginx's files on the host::

    {"host": str, "reachable": bool, "error": str | null,
     "live": "blue" | "green" | null, "switch_mode": "reload" | "file" | "core" | null,
      "maintenance": bool, "drained": bool,
     "split": {"color": "blue" | "green", "release": str, "percent": 1..99,
               "sticky": bool} | null,
     "colors": {"blue" | "green": {"release": str, "state": str,
                                   "health": "healthy" | "unhealthy" | null,
                                   "image": "sha256:..." | null} | null},
     "lock": {"holder", "pid", "operation", "started", "expires"} | null,
     "last_change": {"time", "operator", "operation", "release", "from", "to",
                     "result", "seconds"} | null,
     "tls": {"valid": bool, "error": str | null, "issuer": str | null, "names": [str],
             "expires": ISO time | null, "days_left": int | null} | null,
     "unknown_names": {"refused": [80 | 443], "default_elsewhere": [80 | 443]} | null,
     "needs_attention": str | null,
     "processes": {NAME: {"release": str, "state": str, "since": str}},
     "schedule": {JOB: {"schedule": str, "last": ISO time | null, "next": ISO time | null,
                        "release": str | null}}}

``tls`` is null for an app without ``app.tls``; else the certificate served for the first
domain (``valid``: verified against that name as a deploy verifies it). ``unknown_names`` is
null for an app without ``domains``; else the ports where bluegreen's default server refuses
names nobody deployed, and those where a site bluegreen did not install is the default.
``needs_attention`` is set while the host's last change (one that was not refused and not
a no-op) could not put it back: what its public port served then and what still runs
(docs/guides/recovery.md); also while a change that switched the host never finished
there (it lost the host: its mark is left, see ``shell/lock.mark``); ``status`` then
exits 1.
``processes`` holds the host's ``app.processes`` that ever ran there (``since``: when the
running one started). ``schedule`` holds the scheduled jobs this host runs (``app.schedule``
with this ``host``): ``schedule`` says ``every N s`` or ``cron ...``, ``last`` and ``next``
the runs (UTC), ``release`` the release of the last run (null: none yet).
"""

from __future__ import annotations

import dataclasses
import json
import time

from bluegreen.config import certificates
from bluegreen.config.inventory import COLORS, Host, Inventory
from bluegreen.engine import checks, locking, probe
from bluegreen.engine.runner import Session, read_each
from bluegreen.engine.state import NEEDS_ATTENTION
from bluegreen.facts import HostFacts, pairs
from bluegreen.facts import schedule as jobs
from bluegreen.output.log import Log
from bluegreen.shell import schedule, workers

ANSI = {"blue": "\033[1;34m", "green": "\033[1;32m", "reset": "\033[0m"}


def read_status(inventory: Inventory, hosts: list[Host], log: Log) -> list[dict]:
    """One record per host (in order), following the schema above."""
    records = {host.name: _unreachable(host.name) for host in hosts}
    once = dataclasses.replace(inventory.app.health, attempts=1)  # a status probe never waits

    def read(run: Session) -> None:
        found = probe.read(run.remote, inventory, run.host).facts
        colors: dict[str, dict | None] = {}
        for color in COLORS:
            container = found.containers.get(color)
            health = None
            if container is not None and container.running:
                try:
                    checks.wait_healthy(run.remote, inventory.ports.of(color), once)
                    health = "healthy"
                except checks.CheckFailed:
                    health = "unhealthy"
            colors[color] = container and {
                "release": container.release,
                "state": container.status,
                "health": health,
                "image": container.image_id or None,
            }
        tls = _tls(run, inventory)
        processes = _processes(run, inventory)
        scheduled = _schedule(run, inventory)
        lock = found.lock and dataclasses.asdict(found.lock)
        if lock:
            lock.pop("token")
        records[run.name] = {
            "host": run.name,
            "reachable": True,
            "error": None,
            "live": found.live_color,
            "switch_mode": found.site_mode,
            "maintenance": found.maintenance,
            "drained": found.drained,
            "split": found.split and dataclasses.asdict(found.split),
            "colors": colors,
            "lock": lock,
            "last_change": found.history[-1] if found.history else None,
            "tls": tls,
            "unknown_names": _names(found) if inventory.app.domains else None,
            "needs_attention": unsettled(found) or attention(found.history),
            "processes": processes,
            "schedule": scheduled,
        }

    result = read_each(hosts, read, log)
    for name, error in result.failed.items():
        records[name]["error"] = str(error).removeprefix(f"{name}: ")
    return list(records.values())


NO_CHANGE = ("unchanged", "already live")  # results of runs that changed nothing


def attention(history: list[dict]) -> str | None:
    """What the last change said the host serves when it could not put the host back; None
    when that change (the newest that changed something) ended well."""
    done = [record for record in history if record.get("result") not in NO_CHANGE]
    if not done or done[-1].get("result") != NEEDS_ATTENTION:
        return None
    return str(done[-1].get("serves") or "unknown")


def unsettled(found: HostFacts) -> str | None:
    """A change that switched the host and never finished there (it lost the host, so it
    could not record that the host needs attention): its mark says so."""
    lost = locking.abandoned(found)
    return lost and locking.unconfirmed(lost)


def _processes(run: Session, inventory: Inventory) -> dict:
    """Each of the host's processes: its release, state and since when (one round trip,
    only for an inventory with processes on this host)."""
    command = workers.probe(inventory.app, run.host)
    if not command:
        return {}
    found = pairs(run.remote.run(command, what="processes", readonly=True))
    records = {}
    for name, value in found.items():
        state, release, since = [*value.split(" ", 2), "", ""][:3]
        records[name.removeprefix("process_")] = {
            "release": release,
            "state": state,
            "since": since,
        }
    return records


def _schedule(run: Session, inventory: Inventory) -> dict:
    """The scheduled jobs this host runs: schedule, last and next run, the last run's
    release (one round trip, only on a host that runs a job)."""
    command = schedule.probe(inventory.app, run.host)
    if not command:
        return {}
    output = run.remote.run(command, what="schedule", readonly=True)
    return jobs.read(inventory.app.schedule, output, time.time())


def _names(found: HostFacts) -> dict:
    """Where names nobody deployed are refused, and where another site is the default."""
    ports = {certificates.HTTP_PORT, certificates.HTTPS_PORT}
    return {
        "refused": list(found.refused),
        "default_elsewhere": sorted(found.foreign_defaults & ports),
    }


def _tls(run: Session, inventory: Inventory) -> dict | None:
    """The certificate the host serves for the first domain: checked as a deploy checks it,
    and read unverified when that fails (to say what is wrong with it)."""
    at = checks.public(inventory)
    if at.tls is None:
        return None
    path, error = inventory.app.health.path, None
    try:
        der = at.get(run.remote, path, 5.0).certificate
    except (OSError, ConnectionError) as problem:
        error = str(problem) or type(problem).__name__
        unverified = dataclasses.replace(at.tls, verify=False, fingerprint=None)
        try:
            der = dataclasses.replace(at, tls=unverified).get(run.remote, path, 5.0).certificate
        except (OSError, ConnectionError):
            der = None
    cert = der and certificates.served(der)
    return {
        "valid": error is None,
        "error": error,
        "issuer": cert.issuer if cert else None,
        "names": list(cert.names) if cert else [],
        "expires": cert.expires.isoformat() if cert else None,
        "days_left": cert.days_left() if cert else None,
    }


def _unreachable(name: str) -> dict:
    return {"host": name, "reachable": False, "error": "not read", "live": None,
            "switch_mode": None, "maintenance": False, "drained": False, "split": None,
            "colors": dict.fromkeys(COLORS), "lock": None, "last_change": None,
            "tls": None, "needs_attention": None, "processes": {},
            "schedule": {}}  # fmt: skip


def status(inventory: Inventory, hosts: list[Host], as_json: bool, log: Log) -> bool:
    """Print the fleet's status; False when a host could not be read or needs attention."""
    records = read_status(inventory, hosts, log)
    if as_json:
        log.line(json.dumps({"hosts": records}, indent=2))
    else:
        log.table(table(records), paint=_paint if log.colored else None)
    return all(record["reachable"] and not record["needs_attention"] for record in records)


def _paint(column: int, cell: str) -> str:
    """The live color in its color, on a terminal."""
    name = cell.strip()
    return f"{ANSI[name]}{cell}{ANSI['reset']}" if column == 1 and name in ANSI else cell


def table(records: list[dict]) -> list[list[str]]:
    tls = any(r.get("tls") for r in records)
    rows = [["host", "live", "split", "switch", "blue", "green", "lock", "last change", "images"]]
    rows[0] += ["tls"] * tls
    names = any(r.get("unknown_names") for r in records)
    rows[0] += ["unknown names"] * names
    processes = any(r.get("processes") for r in records)
    rows[0] += ["processes"] * processes
    scheduled = any(r.get("schedule") for r in records)
    rows[0] += ["scheduled jobs"] * scheduled
    for r in records:
        split = r["split"]
        share = split and f"{split['color']} {split['percent']}%" + " sticky" * split["sticky"]
        live = (r["live"] or "-") + (" MAINTENANCE" if r.get("maintenance") else "")
        live += " DRAINED" if r.get("drained") else ""  # out of the load balancer
        live += " NEEDS ATTENTION" if r.get("needs_attention") else ""
        cells = [r["host"], live, share or "-", r["switch_mode"] or "-"]
        for name in COLORS:
            c = r["colors"][name]
            cells.append(f"{c['release']} {c['state']} {c['health'] or '-'}" if c else "-")
        cells.append(f"{r['lock']['holder']} ({r['lock']['operation']})" if r["lock"] else "-")
        last = r["last_change"]
        cells.append(
            f"{last.get('time', '?')} {last.get('operation', '?')} {last.get('result', '?')}"
            if last
            else "-"
        )
        cells.append(_images(r["colors"]))
        if tls:
            cells.append(_tls_cell(r.get("tls")))
        if names:
            cells.append(_names_cell(r.get("unknown_names")))
        if processes:
            cells.append(_processes_cell(r.get("processes") or {}))
        if scheduled:
            cells.append(_schedule_cell(r.get("schedule") or {}))
        extra = tls + names + processes + scheduled
        rows.append(cells if r["reachable"] else [r["host"], "unreachable", *["-"] * (7 + extra)])
    return rows


def _images(colors: dict) -> str:
    """Each color's image id (12 hex digits, as ``docker images`` shows them)."""
    ids = [
        f"{name}:{c['image'].removeprefix('sha256:')[:12]}"
        for name in COLORS
        if (c := colors[name]) and c.get("image")
    ]
    return " ".join(ids) or "-"


def _processes_cell(processes: dict) -> str:
    """``worker 1a2b3c4d5e6f running since 2026-12-06T20:01:02``, one per process."""
    cells = [f"{name} {p['release']} {p['state']} since {p['since'] or '-'}"
             for name, p in processes.items()]  # fmt: skip
    return "; ".join(cells) or "-"


def _schedule_cell(scheduled: dict) -> str:
    """``tick every 10 s last 2026-12-06T20:01:00+00:00 (1a2b3c4d5e6f) next ...``, one per
    job."""
    cells = [f"{name} {j['schedule']} last {j['last'] or '-'} ({j['release'] or '-'})"
             f" next {j['next'] or '-'}" for name, j in scheduled.items()]  # fmt: skip
    return "; ".join(cells) or "-"


def _names_cell(names: dict | None) -> str:
    """``refused 80,443``; a port where another site is the default says so; NOT refused:
    the host was deployed by a bluegreen without the default server (deploy again)."""
    if not names:
        return "-"
    said = [f"refused {','.join(map(str, names['refused']))}"] if names["refused"] else []
    said += [f"{port}: another site's default" for port in names["default_elsewhere"]]
    return "; ".join(said) or "NOT refused"


def _tls_cell(tls: dict | None) -> str:
    """``ok CA, a.example, 89 days`` (or the reason it does not verify)."""
    if not tls or not tls["issuer"]:
        return f"no certificate: {tls['error']}" if tls else "-"
    what = f"{tls['issuer']}, {' '.join(tls['names'])}, {tls['days_left']} days"
    return f"ok {what}" if tls["valid"] else f"INVALID ({tls['error']}) {what}"
