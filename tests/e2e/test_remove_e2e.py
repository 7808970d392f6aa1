"""``fab remove``: two apps with domains and TLS on the same two sandbox hosts (as in
test_apps_e2e); ``shop`` is removed while ``blog`` is under HTTPS load. blog keeps serving
(its files untouched, the shared default server kept for it); every file, container and
image of shop is gone (listed before and after), its history kept; a new deploy of shop
works again. Removing the last app takes the shared default server with it. shop also has
a worker on both hosts, a scheduled job (its scheduler container on sandbox1) and metrics
files: they go too.
"""

import json
import time
from datetime import datetime

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab
from tests.e2e import support
from tests.e2e import test_apps_e2e as two_apps
from tests.e2e import test_process_e2e as process_e2e
from tests.e2e.test_apps_e2e import REFUSE, load_on

apps = two_apps.apps  # the same fixture: two apps with domains and TLS on two hosts

pytestmark = pytest.mark.e2e

RETRYING = ("new", "keepalive-retry")  # a removal reloads nginx: see docs/guides/remove.md
METRICS = "/var/lib/bluegreen-e2e-remove-metrics"  # node_exporter's textfile directory
# shop's worker and scheduled job (docs/guides/workers.md) and its metrics files
WORKERS = (
    "  processes: {worker: {command: \"trap 'exit 0' TERM; while :; do sleep 1; done\"}}\n"
    "  schedule: {tick: {command: 'true', every: 10}}\n"
)


def with_workers(inventory):
    """shop's inventory with a worker, a scheduled job and metrics (its own file)."""
    text = inventory.read_text().replace("  drain: 0.5\n", "  drain: 0.5\n" + WORKERS, 1)
    path = inventory.with_name("shop-workers.yml")
    path.write_text(text.replace("\nports:", f"\nmetrics: {{textfile_dir: {METRICS}}}\nports:", 1))
    return path


def things(host, app: str) -> list[str]:
    """Everything bluegreen put on ``host`` for ``app``: files, containers (colors, workers,
    schedulers), images."""
    listing = (
        f"ls -d /etc/nginx/conf.d/bluegreen-{app}* /etc/nginx/bluegreen/{app}*"
        f" /etc/nginx/bluegreen/tls/{app}-* /var/log/nginx/bluegreen-{app}*"
        f" /srv/{app} /srv/{app}/* {METRICS}/bluegreen-{app}* 2>/dev/null;"
        f" docker ps -a --format '{{{{.Names}}}}' | grep '^{app}-';"
        f" docker images --format 'image {{{{.Repository}}}}:{{{{.Tag}}}}' {app}; true"
    )
    return sorted(sb.run_in(host, listing).stdout.split())


def fingerprint(host, app: str) -> str:
    """The md5 of the app's nginx and app files (its history and access log aside)."""
    return sb.run_in(
        host,
        f"find /etc/nginx/conf.d/bluegreen-{app}* /etc/nginx/bluegreen/{app}* /srv/{app}"
        " -type f ! -name history.jsonl -exec md5sum {} + | sort",
    ).stdout


def test_remove_takes_one_app_off_and_the_other_keeps_serving(apps, app_repo):
    shop, blog = with_workers(apps["inv"]["shop"]), apps["inv"]["blog"]
    for inventory in (shop, blog):
        result = fab(inventory, "deploy", "--ref", "v1")
        assert result.returncode == 0, result.output
    hosts = apps["hosts"]
    before = {h.name: things(h, "shop") for h in hosts}
    blog_files = {h.name: fingerprint(h, "blog") for h in hosts}
    print("\nshop before:", before)
    assert all("shop-blue" in listed and "image" in " ".join(listed) for listed in before.values())
    for host in hosts:  # the worker on each host, the job's scheduler on the first one
        assert "shop-worker" in before[host.name], before
        assert f"{METRICS}/bluegreen-shop.prom" in before[host.name], before
    assert "shop-schedule-tick" in before["sandbox1"], before
    tick = _tick(shop)  # status reads the Docker scheduler's last slot and its release
    print("status: tick", tick)
    assert tick is not None and tick["release"] == app_repo.releases["v1"]
    assert datetime.fromisoformat(tick["next"]) > datetime.fromisoformat(tick["last"])

    refused = fab(shop, "remove")  # no terminal to ask on, no --yes
    assert refused.returncode == 2 and "give --yes" in refused.output, refused.output
    dry = fab(shop, "remove", "--dry-run")
    assert dry.returncode == 0 and "docker rm -f shop-blue" in dry.stdout, dry.output
    assert {h.name: things(h, "shop") for h in hosts} == before  # neither changed anything

    with load_on(apps, "blog") as load:
        result = fab(shop, "remove", "--yes")
        time.sleep(2)  # and blog serves on after the reload
    print(f"remove shop ({result.seconds:.1f} s) under load on blog:\n{load.report()}")
    assert result.returncode == 0, result.output
    for kind in RETRYING:
        assert load.stats(kind).sent > 20 and load.stats(kind).failed == 0, load.report()
    after = {h.name: things(h, "shop") for h in hosts}
    print("shop after:", after)
    assert after == {h.name: ["/srv/shop", "/srv/shop/history.jsonl"] for h in hosts}
    for host in hosts:
        assert fingerprint(host, "blog") == blog_files[host.name]  # not one file of blog
        assert sb.run_in(host, f"test -f {REFUSE}").returncode == 0  # blog still needs it

    again = fab(shop, "remove", "--yes")  # nothing left to remove: one line, nothing changed
    assert again.returncode == 1 and "app shop is not on this host" in again.output
    redeploy = fab(shop, "deploy", "--ref", "v2")
    assert redeploy.returncode == 0, redeploy.output
    with load_on(apps, "shop") as load:
        pass
    assert set(load.stats().releases) == {app_repo.releases["v2"]}

    for inventory in (shop, blog):  # the last app takes the shared default server along
        result = fab(inventory, "remove", "--yes", "--history")
        assert result.returncode == 0, result.output
    for host in hosts:
        assert things(host, "shop") == things(host, "blog") == []
        assert sb.run_in(host, f"test -e {REFUSE}", check=False).returncode == 1


SYSTEMD_INDEX = 12  # a systemd host apart from every other test's hosts
PROCESS_JOBS = "processes: {worker: {command: exec sleep 1000}}\n" + (
    "schedule: {tick: {command: 'true', every: 5}}\n"
)


def _tick(inventory) -> dict | None:
    """The scheduled job as ``fab status --json`` shows it, once it has run (bounded)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = fab(inventory, "status", "--json")
        assert status.returncode == 0, status.output
        jobs = [h["schedule"]["tick"] for h in json.loads(status.stdout)["hosts"] if h["schedule"]]
        assert len(jobs) == 1, status.stdout  # on its one host
        if jobs[0]["last"] and jobs[0]["release"]:
            return jobs[0]
        time.sleep(1)
    return None


def test_on_systemd_status_shows_the_timer_and_remove_takes_workers_and_timers(tmp_path):
    """runtime: process: the worker's unit and the job's timer and service; status reads
    the timer's last and next run and the release its last run used (after v1, then v2);
    remove leaves no unit, timer, failed unit, system user or file of the app."""
    releases = process_e2e.make_repo(tmp_path / "repo")
    inventory = process_e2e.write_inventory(
        tmp_path / "hosts.yml", tmp_path / "repo", PROCESS_JOBS, index=SYSTEMD_INDEX
    )
    listing = (
        "ls -d /etc/systemd/system/bluegreen-pyexample* /srv/pyexample/* 2>/dev/null;"
        " systemctl list-units --all --plain --no-legend 'bluegreen-pyexample*' | cut -d' ' -f1;"
        " id -un bg-pyexample 2>/dev/null; true"
    )
    with support.systemd_host(SYSTEMD_INDEX) as host:
        for tag in ("v1", "v2"):
            result = fab(inventory, "deploy", "--ref", tag)
            assert result.returncode == 0, result.output
            time.sleep(5)  # a slot of the new release
            tick = _tick(inventory)
            print(f"\nstatus after {tag}: tick {tick}")
            assert tick is not None and tick["schedule"] == "every 5 s"
            last, upcoming = (datetime.fromisoformat(tick[k]) for k in ("last", "next"))
            assert tick["release"] == releases[tag] and upcoming > last  # ISO times, UTC
        before = sorted(sb.run_in(host, listing).stdout.split())
        print("before:", before)
        for name in ("worker.service", "schedule-tick.timer", "schedule-tick.service"):
            assert f"/etc/systemd/system/bluegreen-pyexample-{name}" in before
        assert "bluegreen-pyexample-worker.service" in before and "bg-pyexample" in before
        result = fab(inventory, "remove", "--yes")
        print(f"remove ({result.seconds:.1f} s)")
        assert result.returncode == 0, result.output
        after = sorted(sb.run_in(host, listing).stdout.split())
        assert after == ["/srv/pyexample/history.jsonl"], after
