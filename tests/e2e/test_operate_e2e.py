"""Operating an app on two sandbox hosts (file mode): the maintenance page under load, the
operator's hooks, and the resources preflight. The tests run in file order on one fleet."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import FabResult, fab, write_inventory
from bluegreen.testing.load import KINDS, Load
from tests.e2e import support

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
FRESH_HOST = (
    "docker rm -f $(docker ps -aq --filter label=bluegreen.app=example) >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)
# nginx's master and its workers: a reload would replace every worker
NGINX_PIDS = "cat /run/nginx.pid; pgrep -f '[n]ginx: worker' | sort"
MESSAGE = 'Upgrading the <database> & "search"'
CONTAINERS = "docker ps --format '{{.Names}} {{.ID}} {{.State}}' | sort"


@pytest.fixture(scope="module")
def fleet(sandbox, app_repo, tmp_path_factory):
    """The two hosts serving v1 in file mode."""
    folder = tmp_path_factory.mktemp("operate")
    inventory = write_inventory(
        folder / "hosts.yml", app_repo.path, HOSTS, defaults_extra="switch_mode: file"
    )
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    deployed = fab(inventory, "deploy", "--ref", "v1")
    assert deployed.returncode == 0, deployed.output
    yield inventory, hosts, app_repo
    for host in hosts:
        sb.run_in(host, FRESH_HOST)


def under_load(hosts, inventory, *args: str, after: float = 0.0) -> tuple[FabResult, Load]:
    """``fab *args`` under load (3 client kinds); the load goes on ``after`` s more. The
    load does not wait for a first 200 (in maintenance there is none)."""
    load = Load([(h.address, 4000) for h in hosts], max_seconds=120)
    load.start()
    try:
        result = fab(inventory, *args)
        time.sleep(after)
    finally:
        load.stop()
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    return result, load


def one_change(load: Load, good_first: bool) -> tuple[int, int]:
    """Per target the answers change once, from ok to failed (or back): none of the old kind
    starts later than 0.1 s after the first of the new kind (requests racing the rename).
    Returns (ok, failed) over all targets."""
    ok = failed = 0
    for target in load.targets:
        samples = sorted(load.samples(target))
        flips = [t for t, _kind, _color, good in samples if good != good_first]
        assert flips, f"{target}: the answers never changed"
        late = [t for t, _kind, _color, good in samples if good == good_first and t > flips[0]]
        assert not late or max(late) - flips[0] < 0.1, (target, max(late) - flips[0])
        ok += sum(good for *_rest, good in samples)
        failed += sum(not good for *_rest, good in samples)
    return ok, failed


def page(host) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(f"http://{host.address}:4000/version", timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_maintenance_answers_503_with_the_page_without_a_reload(fleet):
    inventory, hosts, _ = fleet
    pids = {h.name: sb.run_in(h, NGINX_PIDS).stdout.split() for h in hosts}
    containers = {h.name: sb.run_in(h, CONTAINERS).stdout for h in hosts}

    too_long = fab(inventory, "maintenance", "--on", "--message", "x" * 201)
    assert too_long.returncode == 2
    assert "❌ --message is 201 characters long; at most 200 are allowed" in too_long.output
    assert all(page(h)[0] == 200 for h in hosts)  # nothing changed

    result, load = under_load(
        hosts, inventory, "maintenance", "--on", "--message", MESSAGE, after=2
    )
    assert result.returncode == 0, result.output
    ok, failed = one_change(load, good_first=True)
    stats = load.stats()
    assert stats.errors == {"HTTP 503": failed} and failed > 50, load.report()
    print(f"maintenance on: {ok} ok before the rename, {failed} answered 503 with the page")
    for host in hosts:
        status, headers, body = page(host)
        assert status == 503 and headers["Retry-After"] == "60"
        assert "Upgrading the &lt;database&gt; &amp; &#34;search&#34;" in body
        assert sb.run_in(host, CONTAINERS).stdout == containers[host.name]  # still running

    report = json.loads(fab(inventory, "status", "--json").stdout)
    assert [h["maintenance"] for h in report["hosts"]] == [True, True]

    refused = fab(inventory, "deploy", "--ref", "v2")
    assert refused.returncode == 1
    assert (
        "❌ host sandbox1 is in maintenance: fab maintenance --off first, or --force to deploy"
        " anyway (its switch takes the maintenance page down)"
    ) in refused.output
    assert all(page(h)[0] == 503 for h in hosts)

    result, load = under_load(hosts, inventory, "maintenance", "--off", after=2)
    assert result.returncode == 0, result.output
    ok, failed = one_change(load, good_first=False)
    assert set(load.stats().errors) <= {"HTTP 503"} and ok > 50, load.report()
    for kind in KINDS:
        print(f"maintenance off, {kind}: sent {load.stats(kind).sent}")
    print(f"maintenance off: {failed} answered 503 before the rename, {ok} ok after it")
    for host in hosts:
        assert sb.run_in(host, NGINX_PIDS).stdout.split() == pids[host.name], host.name
    for host in hosts:  # on and off, one line each (the message was refused before any host)
        lines = sb.run_in(host, "cat /srv/example/history.jsonl").stdout.splitlines()
        records = [json.loads(line) for line in lines]
        changes = [r.get("maintenance") for r in records if r["operation"] == "maintenance"]
        assert changes == ["on", "off"], lines


def with_top(inventory, tmp_path, extra: str, app_extra: str = ""):
    """A copy of the inventory (beside it, so its relative files still resolve) with more
    top-level YAML and more app keys."""
    text = inventory.read_text()
    if app_extra:
        text = text.replace("app:\n", f"app:\n  {app_extra}\n", 1)
    copy = inventory.parent / f"hosts-{tmp_path.name}.yml"
    copy.write_text(text + extra)
    return copy


def assert_no_failures(load: Load) -> None:
    for kind in KINDS:
        stats = load.stats(kind)
        assert stats.sent > 20 and stats.failed == 0, load.report()


def test_hooks_run_here_in_order_with_the_variables(fleet, tmp_path):
    inventory, hosts, repo = fleet
    record = (
        'echo {0} >> {1}/order; env | grep -E ^BLUEGREEN_[AHOR] | sort > {1}/{0}.env; echo "hi {0}"'
    )
    names = ("before", "after_switch", "after", "failed")
    hooks = "".join(f"  {name}: '{record.format(name, tmp_path)}'\n" for name in names)
    hooked = with_top(inventory, tmp_path, f"hooks:\n{hooks}")

    result, load = under_load(hosts, hooked, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert (tmp_path / "order").read_text().split() == ["before", "after_switch", "after"]
    assert "[hook before] hi before" in result.stdout
    assert "[hook after] ✅ echo after" in result.stdout
    common = [
        "BLUEGREEN_APP=example",
        "BLUEGREEN_HOSTS=sandbox1,sandbox2",
        "BLUEGREEN_OPERATION=deploy",
        f"BLUEGREEN_RELEASE={repo.releases['v2']}",
    ]
    assert (tmp_path / "before.env").read_text().split() == common
    after = (tmp_path / "after.env").read_text().split()
    assert after == sorted([*common, "BLUEGREEN_RESULT=succeeded"])

    (tmp_path / "order").unlink()
    broken = fab(hooked, "deploy", "--ref", "broken")
    assert broken.returncode == 1, broken.output
    assert (tmp_path / "order").read_text().split() == ["before", "failed"]
    assert "BLUEGREEN_RESULT=failed" in (tmp_path / "failed.env").read_text()

    serving = {h.name: sb.run_in(h, CONTAINERS).stdout for h in hosts}
    stop = with_top(inventory, tmp_path, "hooks: {before: 'echo not now; exit 3'}\n")
    refused = fab(stop, "rollback")
    assert refused.returncode == 1, refused.output
    assert "[hook before] not now" in refused.stdout
    assert "[hook before] ❌ echo not now; exit 3: exit 3" in refused.stdout
    assert "❌ the before hook failed: nothing changed on any host" in refused.stdout
    assert {h.name: sb.run_in(h, CONTAINERS).stdout for h in hosts} == serving
    assert all(page(h)[1]["X-Bluegreen-Release"] == repo.releases["v2"] for h in hosts)


def test_a_deploy_that_would_not_fit_in_memory_is_refused_with_the_numbers(fleet, tmp_path):
    inventory, hosts, repo = fleet
    available = int(sb.run_in(hosts[0], "awk '/^MemAvailable/ {print $2}' /proc/meminfo").stdout)
    limit = available // 1024 + 1024  # MiB: a GiB more than the host has free
    big = with_top(inventory, tmp_path, "", app_extra=f"options: {{memory: {limit}m}}")
    before = {h.name: sb.run_in(h, CONTAINERS).stdout for h in hosts}

    refused = fab(big, "deploy", "--ref", "v1")
    assert refused.returncode == 1, refused.output
    line = next(line for line in refused.stdout.splitlines() if "needs" in line)
    print(f"\nthe preflight on an overfull host: {line}")
    assert re.search(
        rf"sandbox1 +❌ host sandbox1: needs {limit} MiB for blue \(options.memory\),"
        r" \d+ MiB available; --force to deploy anyway$",
        line,
    ), line
    assert "❌ nothing changed" in refused.stdout
    assert {h.name: sb.run_in(h, CONTAINERS).stdout for h in hosts} == before

    forced = fab(big, "deploy", "--ref", "v1", "--force")
    assert forced.returncode == 0, forced.output
    memory = sb.run_in(hosts[0], "docker inspect -f '{{.HostConfig.Memory}}' example-blue")
    assert int(memory.stdout) == limit * 1024**2


def test_exec_new_runs_a_one_off_container_of_the_live_image_with_exact_quoting(fleet):
    inventory, hosts, repo = fleet
    script = 'printf "<%s>" "$@"; echo; echo "$(cat /app/VERSION) $GREETING $API_TOKEN"'
    words = ("sh", "-c", script, "_", "a  b", "it's", "$(id)", '"q"', "")
    before = {h.name: sb.run_in(h, "docker ps -aq | sort").stdout for h in hosts}
    result = fab(inventory, "exec", "--new", "--", *words)
    assert result.returncode == 0, result.output
    live = repo.releases["v1"]
    for host in hosts:
        lines = re.findall(rf"^{host.name} +\| (.*)$", result.stdout, re.M)
        assert lines == ['<a  b><it\'s><$(id)><"q"><>', "1.0.0 hello ***"], result.stdout
        done = rf"^{host.name} +✅ exec in a new container of example:{live}: exit 0$"
        assert re.search(done, result.stdout, re.M), result.stdout
        assert sb.run_in(host, "docker ps -aq | sort").stdout == before[host.name]  # removed

    several = fab(inventory, "exec", "-i", "--", "sh")
    assert several.returncode == 2
    assert (
        "❌ -i needs exactly one host, not 2 (sandbox1, sandbox2): pick one with -H, or add --once"
    ) in several.stderr


def test_maintenance_in_reload_mode_is_a_tested_include_and_a_reload(fleet, tmp_path):
    inventory, hosts, repo = fleet
    reload_mode = with_top(inventory, tmp_path, "")
    reload_mode.write_text(
        reload_mode.read_text().replace("switch_mode: file", "switch_mode: reload")
    )
    workers = {h.name: sb.run_in(h, NGINX_PIDS).stdout.split() for h in hosts}
    on = fab(reload_mode, "maintenance", "--on")
    assert on.returncode == 0, on.output
    assert "switch: nginx tested and reloaded, live = blue" in on.stdout
    for host in hosts:
        # nginx -s reload returns before the new workers answer (bounded wait)
        support.wait_until(lambda h=host: page(h)[0] == 503, what=f"{host.name} answers 503")
        status, headers, body = page(host)
        assert status == 503 and headers["X-Bluegreen-Maintenance"] == "on", headers
        assert "We are making things better and will be back shortly." in body
        live = sb.run_in(host, "head -n 1 /etc/nginx/bluegreen/example.live.conf").stdout
        assert live.strip().endswith(" maintenance=on"), live
        now = sb.run_in(host, NGINX_PIDS).stdout.split()
        assert now[0] == workers[host.name][0] and now[1:] != workers[host.name][1:]  # reloaded
    off = fab(reload_mode, "maintenance", "--off")
    assert off.returncode == 0, off.output
    for host in hosts:
        support.wait_until(lambda h=host: page(h)[0] == 200, what=f"{host.name} answers 200")
    assert all(page(h)[1]["X-Bluegreen-Release"] == repo.releases["v1"] for h in hosts)
