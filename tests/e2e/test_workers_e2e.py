"""app.processes on three sandbox hosts: a real Redis queue, the example app's worker on
sandbox1 (web and worker) and sandbox3 (``web: false``: the worker alone, no color, no nginx
site), sandbox2 with the web alone; a producer enqueuing jobs and HTTP load throughout.

The tests run in file order and build on each other: v1 is live with its workers; deploy
v2 while a 5 s job runs; roll back; a release whose worker cannot start is put back. Each
asserts 0 failed requests, no job lost or run twice, no moment where workers of two
releases consumed at once, and which release processed the jobs enqueued afterwards. The
last tests do the same with ``runtime: process`` on a host booting a real systemd
(example-process/worker.py as a unit).
"""

from __future__ import annotations

import itertools
import json
import time

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing import demo
from bluegreen.testing.queue import Ledger, Producer, Redis
from tests.e2e import support
from tests.e2e.test_process_e2e import make_repo
from tests.e2e.test_process_e2e import write_inventory as process_inventory

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2", "sandbox3"]
WEB = ["sandbox1", "sandbox2"]
SYSTEMD = 6  # the systemd host's index: apart from the session's hosts and test_process's
WORKERS = ["sandbox1", "sandbox3"]
ALL_KINDS = ("new", "keepalive-retry", "keepalive")
STOP_TIMEOUT = 20
CHANGES = itertools.count()  # each change's jobs have their own ids
LONG = 5  # seconds of the job that runs while the deploy stops its worker
EVERY = 5  # seconds between the slots of the scheduled job
RELEASES = (*demo.RELEASES, ("noworker", "4.0.0", "ENV WORKER_CRASH=1\n"))
CLEAN = (
    "docker rm -f example-blue example-green example-worker example-worker-prev"
    " >/dev/null 2>&1; rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example;"
    " nginx -s reload"
)


@pytest.fixture(scope="module")
def redis(sandbox):
    """Redis on the sandbox bridge (the hosts reach it there), its port per instance."""
    with Redis(sb.BRIDGE_ADDRESS, 17000 + sb.INSTANCE) as server:
        yield server


@pytest.fixture(scope="module")
def systemd_redis(sandbox):
    """The systemd host's own Redis (the Docker hosts' workers still consume the other)."""
    with Redis(sb.BRIDGE_ADDRESS, 17100 + sb.INSTANCE) as server:
        yield server


@pytest.fixture(scope="module")
def fleet(sandbox, redis, tmp_path_factory):
    """(inventory, hosts, releases): v1 live on three hosts, its worker on two."""
    folder = tmp_path_factory.mktemp("workers")
    repo = demo.make_app_repo(folder / "repo", RELEASES)
    processes = (
        f"processes:\n  worker: {{command: exec sh /app/worker.sh, hosts: [{', '.join(WORKERS)}],"
        f" stop_timeout: {STOP_TIMEOUT}, health: test -f /app/VERSION}}\n"
        "  mailer: {command: exec sh /app/worker.sh mail mailevents, hosts: [sandbox1],"
        " overlap: true}\n"
        f"schedule:\n  tick: {{command: sh /app/worker.sh tick, every: {EVERY}, host: sandbox2}}\n"
    )
    inventory = demo.write_inventory(
        folder / "hosts.yml",
        repo.path,
        HOSTS,
        app_extra=processes,
        env=f"REDIS_HOST: {redis.address}, REDIS_PORT: '{redis.port}'",
        host_extra={"sandbox3": "web: false"},
    )
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, CLEAN)
    result = demo.fab(inventory, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    yield inventory, hosts, repo.releases
    for host in hosts:
        sb.run_in(host, CLEAN)


def drained(redis: Redis, jobs: list[str], timeout: float = 30) -> Ledger:
    """The ledger once every job in ``jobs`` ended at least once (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        ledger = Ledger(redis.events())
        if all(ledger.processed(jobs).values()) or time.monotonic() > deadline:
            return ledger
        time.sleep(0.2)


def change(fleet, redis: Redis, *args: str, marker: str | None = None):
    """``fab *args`` under HTTP load while jobs are enqueued (a 5 s job when ``marker``
    appears in fab's output), and 2 s more of jobs after it; returns (fab, load, ledger,
    jobs enqueued after fab ended, numbers)."""
    inventory, hosts, _ = fleet
    web = [host for host in hosts if host.name in WEB or host.name == sb.host_name(SYSTEMD)]
    with support.load(web) as load, Producer(redis, f"{args[0]}{next(CHANGES)}-") as producer:
        time.sleep(1)
        run = support.Fab(inventory, *args)
        if marker:
            run.wait_for(lambda lines: any(marker in line for line in lines))
            redis.command("LPUSH", "jobs", f"long:{LONG}")
        code = run.finish()
        after = len(producer.sent)
        time.sleep(2)
    jobs = producer.sent + (["long"] if marker else [])
    ledger = drained(redis, jobs)
    counts = ledger.processed(jobs)
    numbers = {
        "failed": {kind: load.stats(kind).failed for kind in ALL_KINDS},
        "requests": sum(load.stats(kind).sent for kind in ALL_KINDS),
        "enqueued": len(jobs),
        "processed": sum(1 for n in counts.values() if n),
        "lost": sum(1 for n in counts.values() if n == 0),
        "duplicated": sum(1 for n in counts.values() if n > 1),
        "overlapping": ledger.overlaps(),
    }
    print(f"\nfab {' '.join(args)} (exit {code}):\n{run.output}\n{load.report()}\n{numbers}")
    if numbers["overlapping"]:
        print("worker lifetimes (version, host, up, down):", *ledger.lifetimes(), sep="\n")
    return run, code, load, ledger, producer.sent[after:], numbers


def assert_clean(load, numbers) -> None:
    for kind in ALL_KINDS:
        assert load.stats(kind).sent > 10 and load.stats(kind).failed == 0, load.report()
    assert (numbers["lost"], numbers["duplicated"], numbers["overlapping"]) == (0, 0, []), numbers


def worker_states(inventory) -> dict[str, dict]:
    status = demo.fab(inventory, "status", "--json")
    assert status.returncode == 0, status.output
    return {h["host"]: h["processes"] for h in json.loads(status.stdout)["hosts"]}


def test_the_first_deploy_starts_the_workers_where_the_inventory_says(fleet):
    inventory, hosts, releases = fleet
    states = worker_states(inventory)
    assert list(states["sandbox2"]) == ["schedule-tick"]  # the scheduled job's host
    worker_only = next(host for host in hosts if host.name == "sandbox3")
    found = sb.run_in(
        worker_only, "ls /etc/nginx/conf.d; docker ps -a --format '{{.Names}}'"
    ).stdout.split()
    assert found == ["example-worker"]  # no color, no site of ours
    plan = demo.fab(inventory, "deploy", "--ref", "v2", "--dry-run")
    assert plan.returncode == 0, plan.output
    assert f"docker stop -t {STOP_TIMEOUT} example-worker" in plan.stdout
    assert "--name example-schedule-tick" in plan.stdout
    history = demo.fab(inventory, "history", "-n", "1")
    assert f"worker={releases['v1']}" in history.stdout, history.output
    ran = demo.fab(inventory, "exec", "--process", "worker", "--", "cat", "/app/VERSION")
    assert ran.returncode == 0 and ran.stdout.count("| 1.0.0") == len(WORKERS), ran.output
    logs = demo.fab(inventory, "logs", "--process", "worker", "-n", "5")
    assert logs.returncode == 0, logs.output
    assert {name for name in WORKERS if f"worker 1.0.0: up on {name}" in logs.stdout} == {*WORKERS}
    for name in WORKERS:
        worker = states[name]["worker"]
        assert (worker["release"], worker["state"]) == (releases["v1"], "running")
        assert worker["since"]


def test_deploy_lets_the_running_job_finish_then_v2_workers_take_the_queue(fleet, redis):
    inventory, hosts, releases = fleet
    run, code, load, ledger, after, numbers = change(
        fleet, redis, "deploy", "--ref", "v2", marker="health:"
    )
    assert code == 0, run.output
    assert_clean(load, numbers)
    long_job = [e for e in ledger.events if e.job == "long"]
    assert [e.what for e in long_job] == ["start", "end"]
    assert {e.version for e in long_job} == {"1.0.0"}
    assert long_job[1].time - long_job[0].time >= LONG
    stops = [line for line in run.lines if "processes: stopped worker in" in line]
    assert len(stops) == len(WORKERS), run.output
    print("worker stop times:", [line.split(" in ")[-1].strip() for line in stops])
    assert after and {ledger.version_of(job) for job in after} == {"2.0.0"}
    states = worker_states(inventory)
    assert {states[name]["worker"]["release"] for name in WORKERS} == {releases["v2"]}
    # overlap: true (the mailer): the new one came up before the old one went down
    mailers = Ledger(redis.events("mailevents")).lifetimes()
    print("mailer lifetimes (overlap: true):", *mailers, sep="\n")
    assert [life[:2] for life in mailers] == [("1.0.0", "sandbox1"), ("2.0.0", "sandbox1")]
    assert mailers[1][2] < mailers[0][3]


def test_rollback_returns_the_workers_to_v1(fleet, redis):
    inventory, hosts, releases = fleet
    run, code, load, ledger, after, numbers = change(fleet, redis, "rollback")
    assert code == 0, run.output
    assert_clean(load, numbers)
    assert after and {ledger.version_of(job) for job in after} == {"1.0.0"}
    states = worker_states(inventory)
    assert {states[name]["worker"]["release"] for name in WORKERS} == {releases["v1"]}


def test_a_worker_that_cannot_start_puts_web_and_workers_back_on_v1(fleet, redis):
    inventory, hosts, releases = fleet
    run, code, load, ledger, after, numbers = change(fleet, redis, "deploy", "--ref", "noworker")
    assert code != 0
    assert "worker did not stay up for 2 s" in run.output
    assert "crashing as asked (WORKER_CRASH)" in run.output
    assert "processes: worker back on the old release" in run.output
    assert_clean(load, numbers)
    assert {support.served(host)[1] for host in hosts if host.name in WEB} == {releases["v1"]}
    assert after and {ledger.version_of(job) for job in after} == {"1.0.0"}
    states = worker_states(inventory)
    for name in WORKERS:
        worker = states[name]["worker"]
        assert (worker["release"], worker["state"]) == (releases["v1"], "running")


@pytest.fixture(scope="module")
def systemd_fleet(systemd_redis, tmp_path_factory):
    """(inventory, [host], releases): example-process v1 and its worker on a systemd host."""
    folder = tmp_path_factory.mktemp("process-workers")
    releases = make_repo(folder / "repo")
    extra = (
        f"processes: {{worker: {{command: exec .venv/bin/python worker.py,"
        f" stop_timeout: {STOP_TIMEOUT}}}}}\n"
        f"schedule: {{tick: {{command: exec .venv/bin/python worker.py tick, every: {EVERY}}}}}\n"
    )
    env = f"REDIS_HOST: {systemd_redis.address}, REDIS_PORT: '{systemd_redis.port}', "
    inventory = process_inventory(folder / "hosts.yml", folder / "repo", extra, SYSTEMD, env)
    with support.systemd_host(SYSTEMD) as host:
        for step in (("bootstrap",), ("deploy", "--ref", "v1")):
            result = demo.fab(inventory, *step)
            assert result.returncode == 0, result.output
        yield inventory, [host], releases


def slot_table(redis: Redis, host: str) -> list[tuple[int, int, str]]:
    """(slot, times it ran, versions) of the scheduled job on ``host``, first to last slot."""
    ticks = [e for e in redis.events() if e.what == "tick" and e.host == host]
    counts = Ledger(ticks).slots(EVERY)
    versions: dict[int, list[str]] = {}
    for e in ticks:
        slot = int(e.job) if e.job != "-" else int(e.time // EVERY)
        versions.setdefault(slot, []).append(e.version)
    table = [
        (n, counts[n], " ".join(versions.get(n, []))) for n in range(min(counts), max(counts) + 1)
    ]
    print(f"\nslots of the scheduled job on {host} (slot, runs, version):")
    for row in table:
        print(*row)
    return table


def wait_for_slots(redis: Redis, host: str, count: int) -> None:
    """Let the job run until ``count`` slots are on record (a fast change can end sooner)."""
    deadline = time.monotonic() + (count + 1) * EVERY
    while time.monotonic() < deadline:
        ticks = [e for e in redis.events() if e.what == "tick" and e.host == host]
        slots = Ledger(ticks).slots(EVERY)
        if slots and max(slots) - min(slots) + 1 >= count:
            return
        time.sleep(0.5)


def assert_each_slot_ran_once_on_the_live_release(redis: Redis, host: str) -> None:
    wait_for_slots(redis, host, 5)
    table = slot_table(redis, host)
    assert len(table) >= 5
    assert [row for row in table if row[1] != 1] == [], "a slot ran twice or never"
    changes = [v for i, (_, _, v) in enumerate(table) if i == 0 or table[i - 1][2] != v]
    assert changes == ["1.0.0", "2.0.0", "1.0.0"], changes  # v1, deploy v2, rollback


def test_the_scheduled_job_ran_once_per_slot_on_one_host_on_the_live_release(fleet, redis):
    assert {e.host for e in redis.events() if e.what == "tick"} == {"sandbox2"}
    assert_each_slot_ran_once_on_the_live_release(redis, "sandbox2")


def test_process_runtime_the_worker_unit_follows_deploy_and_rollback(systemd_fleet, systemd_redis):
    redis = systemd_redis
    inventory, (host,), releases = systemd_fleet
    unit = "bluegreen-pyexample-worker.service"
    props = sb.run_in(host, f"systemctl show -p KillMode -p KillSignal -p ActiveState {unit}")
    assert props.stdout.split() == ["KillMode=mixed", "KillSignal=15", "ActiveState=active"]
    run, code, load, ledger, after, numbers = change(
        systemd_fleet, redis, "deploy", "--ref", "v2", marker="health:"
    )
    assert code == 0, run.output
    assert_clean(load, numbers)
    long_job = [e for e in ledger.events if e.job == "long"]
    assert [(e.what, e.version) for e in long_job] == [("start", "1.0.0"), ("end", "1.0.0")]
    assert long_job[1].time - long_job[0].time >= LONG
    assert after and {ledger.version_of(job) for job in after} == {"2.0.0"}
    link = sb.run_in(host, "readlink /srv/pyexample/worker.release").stdout.strip()
    assert link == f"/srv/pyexample/releases/{releases['v2']}"
    run, code, load, ledger, after, numbers = change(systemd_fleet, redis, "rollback")
    assert code == 0, run.output
    assert_clean(load, numbers)
    assert after and {ledger.version_of(job) for job in after} == {"1.0.0"}
    worker = worker_states(inventory)[host.name]["worker"]
    assert (worker["release"], worker["state"]) == (releases["v1"], "active")
    time.sleep(EVERY)  # one more slot after the rollback
    assert_each_slot_ran_once_on_the_live_release(redis, host.name)
