"""Metrics end to end: fab bootstrap starts node_exporter and mtail on two sandbox hosts, a
real Prometheus on the bridge scrapes them every second, and every query of the shipped
Grafana dashboard is run against it after a deploy and a 10 % split under load.

The tests build on each other in file order (file switch mode): bootstrap, deploy v1 then
v2 (green live), split 10 % to blue, promote, rollback, switch, log rotation.
"""

import json
import subprocess
import time
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.shell import metrics as textfile
from bluegreen.shell import nginx
from bluegreen.testing.demo import PROJECT, fab, write_inventory
from bluegreen.testing.load import KINDS, Load
from bluegreen.testing.prometheus import SCRAPE, VARIABLES, Prometheus, dashboard_queries

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
TOLERANCE = 4  # percentage points around the split's weight, as in the split tests
TEXTFILE_DIR = "/srv/metrics"  # /srv is private per sandbox host
NODE, MTAIL = 9100, 3903
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example /srv/metrics;"
    " rm -f /etc/mtail/bluegreen-example.mtail;"  # /etc/mtail is this machine's (shared)
    " nginx -s reload"
)
STOP_EXPORTERS = (
    'for f in /run/bluegreen-*.pid; do [ -s "$f" ] && kill "$(cat "$f")"; rm -f "$f"; done; true'
)
DASHBOARD = json.loads((PROJECT / "dashboards" / "bluegreen.json").read_text())
# the traffic share panel's query, filled in as the test fills every query in
SHARE = dict(dashboard_queries(DASHBOARD))["panel 'Traffic share by color' A"]
WINDOW = int(VARIABLES["$__rate_interval"].removesuffix("s"))
STATE = nginx.state_path("example")


@pytest.fixture(scope="module")
def hosts(sandbox):
    chosen = [h for h in sandbox if h.name in HOSTS]
    for host in chosen:
        sb.run_in(host, f"{STOP_EXPORTERS}; {RESET}")
    yield chosen
    for host in chosen:
        sb.run_in(host, f"{STOP_EXPORTERS}; {RESET}", check=False)


@pytest.fixture(scope="module")
def inventory(hosts, app_repo, tmp_path_factory):
    """File mode; 0.0.0.0: each host's exporters answer on its own address for Prometheus."""
    where = tmp_path_factory.mktemp("metrics") / "hosts.yml"
    path = write_inventory(where, app_repo.path, HOSTS, defaults_extra="switch_mode: file")
    metrics = f"metrics: {{textfile_dir: {TEXTFILE_DIR}, listen: 0.0.0.0}}\n"
    path.write_text(path.read_text() + metrics)
    return path


@pytest.fixture(scope="module")
def prometheus(hosts, tmp_path_factory):
    targets = [f"{h.address}:{port}" for h in hosts for port in (NODE, MTAIL)]
    with Prometheus(targets, tmp_path_factory.mktemp("prometheus")) as prom:
        yield prom


def _load(hosts, **kw) -> Load:
    return Load([(h.address, 4000) for h in hosts], max_seconds=120, **kw)


def _under_load(hosts, inventory, *args, after: float = 0.0, then=None):
    """``fab args`` under load of every client kind; then ``then()`` and ``after`` seconds
    more of load. Returns the fab result, the load and what ``then`` returned."""
    with _load(hosts) as load:
        result = fab(inventory, *args)
        seen = then() if then else None
        time.sleep(after)
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    assert result.returncode == 0, result.output
    for kind in KINDS:  # file mode: no client kind may see a failure
        assert load.stats(kind).sent > 50 and load.stats(kind).failed == 0, load.report()
    return result, load, seen


def _until(prom: Prometheus, expr: str, wanted, limit: float = 3 * SCRAPE + 2) -> float:
    """Seconds until ``expr`` (by host) shows ``wanted`` on every host; fails after ``limit``."""
    started, seen = time.monotonic(), None
    while time.monotonic() - started < limit:
        seen = prom.values(expr, "host")
        if sorted(seen) == HOSTS and all(v == wanted for v in seen.values()):
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{expr}: {seen} after {limit:g} s, wanted {wanted} on {HOSTS}")


def _brief(result: list[dict]) -> str:
    """A query result as README shows it: labels that vary, and the value."""
    rows = []
    for item in result:
        labels = {k: v for k, v in item["metric"].items() if k not in ("instance", "job", "prog")}
        value = float(item["value"][1])
        rows.append(f"{labels} {value:.4g}")
    return "; ".join(sorted(rows))


def test_bootstrap_starts_the_exporters_idempotently_and_prometheus_scrapes_them(
    inventory, hosts, prometheus
):
    first = fab(inventory, "bootstrap")
    print(first.stdout)
    assert first.returncode == 0, first.output
    for host in HOSTS:
        assert f"{host} ✅ metrics: changed" in first.stdout
        assert "started node-exporter" in first.stdout and "started mtail" in first.stdout
    again = fab(inventory, "bootstrap")
    assert again.returncode == 0, again.output
    for host in HOSTS:
        assert f"{host} ✅ metrics: ok" in again.stdout, again.stdout
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        up = prometheus.targets_up()
        if len(up) == 2 * len(HOSTS) and all(v == 1 for v in up.values()):
            break
        time.sleep(0.5)
    assert len(up) == 2 * len(HOSTS) and all(v == 1 for v in up.values()), up


def test_every_dashboard_query_returns_data_after_a_deploy_and_a_10_percent_split(
    inventory, hosts, prometheus
):
    assert fab(inventory, "deploy", "--ref", "v1").returncode == 0
    _under_load(hosts, inventory, "deploy", "--ref", "v2")
    _until(prometheus, 'bluegreen_live_color{color="green"}', 1)
    started = time.monotonic()
    _, load, took = _under_load(
        hosts,
        inventory,
        *("split", "--blue", "10"),
        after=WINDOW + 3,
        then=lambda: _until(prometheus, 'bluegreen_traffic_share_percent{color="blue"}', 10),
    )
    print(f"split: blue 10 % seen by prometheus {took:.2f} s after fab ended")
    measured = prometheus.values(SHARE, "color")
    print(f"share from prometheus during the split: {measured}; load: {load.stats().colors}")
    assert abs(measured["blue"] - 10) <= TOLERANCE, measured
    assert abs(measured["green"] - 90) <= TOLERANCE, measured
    assert took <= 2 * SCRAPE + 1  # one scrape, plus slack for a busy machine
    queries = list(dashboard_queries(DASHBOARD))
    empty = []
    for where, expr in queries:
        result = prometheus.query(expr)
        empty += [] if result else [where]
        print(f"{where}: {_brief(result)}")
    print(f"{len(queries)} dashboard queries checked, {time.monotonic() - started:.1f} s")
    assert len(queries) >= 10 and not empty, empty
    apps = prometheus.label_values("app")
    assert apps == ["example"], apps  # the dashboard's $app variable


def test_the_textfiles_pass_promtool(hosts):
    for host in hosts:
        for name in (textfile.state_file("example"), textfile.lock_file("example")):
            text = sb.run_in(host, f"cat {TEXTFILE_DIR}/{name}").stdout
            checked = subprocess.run(
                ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
            )
            assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}\n{text}"
        leftovers = sb.run_in(host, f"ls -A {TEXTFILE_DIR}").stdout.split()
        assert sorted(leftovers) == ["bluegreen-example-lock.prom", "bluegreen-example.prom"]


def test_promote_shows_everything_on_the_split_color(inventory, hosts, prometheus):
    # a drain of 3 scrapes (the default drain) holds the lock long enough to be scraped
    held_longer = Path(inventory).with_name("drain-longer.yml")
    held_longer.write_text(inventory.read_text().replace("drain: 0.5", f"drain: {3 * SCRAPE}"))
    result, _, took = _under_load(
        hosts,
        held_longer,
        "promote",
        after=WINDOW + 3,
        then=lambda: _until(prometheus, 'bluegreen_traffic_share_percent{color="blue"}', 100),
    )
    measured = prometheus.values(SHARE, "color")
    print(f"share after promote: {measured}; state seen in {took:.2f} s")
    assert measured.get("blue", 0) >= 100 - TOLERANCE and measured.get("green", 0) <= TOLERANCE
    assert result.seconds > 3 * SCRAPE, result.output
    # the lock was held while promote ran (preflight marks it), and is free now
    held = prometheus.values(f"max_over_time(bluegreen_lock_held[{WINDOW + 10}s])", "host")
    assert held == dict.fromkeys(HOSTS, 1.0), held
    assert prometheus.values("bluegreen_lock_held", "host") == dict.fromkeys(HOSTS, 0.0)


@pytest.mark.parametrize(
    ("args", "live"), [(("rollback",), "green"), (("switch", "--to", "blue", "--json"), "blue")]
)
def test_state_changes_within_one_scrape_after_rollback_and_switch(
    inventory, hosts, prometheus, args, live
):
    result, _, took = _under_load(
        hosts,
        inventory,
        *args,
        then=lambda: _until(prometheus, f'bluegreen_live_color{{color="{live}"}}', 1),
    )
    print(f"fab {' '.join(args)}: live {live} seen by prometheus {took:.2f} s after it ended")
    if "--json" in args:  # every line one event; the last one the summary
        events = [json.loads(line) for line in result.stdout.splitlines()]
        steps = [e for e in events if e["event"] == "step"]
        assert {e["host"] for e in steps} == set(HOSTS) and "✅" not in result.stdout
        assert events[-1]["event"] == "summary" and events[-1]["verdict"] == "succeeded"
        assert [h["serves"] for h in events[-1]["hosts"]] == [events[-1]["hosts"][0]["serves"]] * 2
    assert took <= 2 * SCRAPE + 1  # one scrape, plus slack for a busy machine
    ended = prometheus.values('bluegreen_last_change_result{result="switched"}', "operation")
    assert set(ended) == {args[0]}


def test_traffic_counters_survive_log_rotation(inventory, hosts, prometheus):
    total = "sum(bluegreen_requests_total)"
    before = prometheus.values(total, "")[""]
    for host in hosts:  # what Debian's logrotate rule for nginx does: create, then reopen
        log = "/var/log/nginx/bluegreen-example.access.log"
        sb.run_in(host, f"mv {log} {log}.1 && install -m 0640 /dev/null {log} && nginx -s reopen")
    load = _load(hosts, max_requests=600)
    with load:
        while load.running():
            time.sleep(0.05)
    sent = load.stats().sent
    time.sleep(3 * SCRAPE + 1)
    after = prometheus.values(total, "")[""]
    print(f"requests counted: {before:.0f} before rotation, {after:.0f} after {sent} more")
    assert after >= before + sent - 5, (before, after, sent)


def test_a_textfile_directory_that_cannot_be_made_is_refused_before_anything_changes(
    inventory, hosts, tmp_path
):
    bad = tmp_path / "hosts.yml"
    bad.write_text(
        inventory.read_text().replace(f"textfile_dir: {TEXTFILE_DIR}", "textfile_dir: /proc/nope")
    )
    before = [sb.run_in(h, f"cat {STATE}").stdout for h in hosts]
    result = fab(bad, "switch", "--to", "green")
    assert result.returncode == 1, result.output
    assert "metrics.textfile_dir /proc/nope: does not exist and cannot be created" in result.stdout
    assert "nothing changed" in result.stdout
    after = [sb.run_in(h, f"cat {STATE}").stdout for h in hosts]
    assert after == before
    bootstrap = fab(bad, "-H", "sandbox1", "bootstrap")
    assert bootstrap.returncode == 1, bootstrap.output
    assert "sandbox1 ❌ metrics: failed (exit 1): cannot create /proc/nope" in bootstrap.stdout


def test_listen_that_is_not_an_address_is_refused(inventory):
    bad = Path(inventory).with_name("bad-listen.yml")
    bad.write_text(inventory.read_text().replace("listen: 0.0.0.0", "listen: metrics.local"))
    result = fab(bad, "status")
    assert result.returncode == 2, result.output
    assert "metrics.listen: expected an IP address" in result.output
