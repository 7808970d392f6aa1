"""The app's life cycle on two sandbox hosts (file mode), every change under load.

The tests run in file order and build on each other: the rollback target survives a
failed deploy (deploy v2, rollback, deploy a broken release, switch to the kept color at
once); env settings are shown, secrets masked; then an app with SQLite on a named volume
whose release command migrates and writes before the new color starts, a memory limit,
and a failing release command.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import (
    API_TOKEN,
    PROJECT,
    AppRepo,
    FabResult,
    fab,
    make_app_repo,
    write_inventory,
)
from bluegreen.testing.load import KINDS, Load

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
FRESH_HOST = (
    "docker rm -f $(docker ps -aq --filter label=bluegreen.app=example) >/dev/null 2>&1;"
    " docker volume rm -f example-data >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)
INSPECT = '{{.Id}} {{index .Config.Labels "bluegreen.release"}} {{.State.Status}}'


@pytest.fixture(scope="module")
def fleet(sandbox, app_repo, tmp_path_factory):
    """The two hosts emptied of the app; an inventory in file mode."""
    inventory = write_inventory(
        tmp_path_factory.mktemp("lifecycle") / "hosts.yml",
        app_repo.path,
        HOSTS,
        defaults_extra="switch_mode: file",
    )
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    yield inventory, hosts, app_repo
    for host in hosts:
        sb.run_in(host, FRESH_HOST)


def under_load(hosts, inventory, *args: str) -> tuple[FabResult, Load]:
    """``fab *args`` while every host's public port is under load (3 client kinds)."""
    with Load([(h.address, 4000) for h in hosts], max_seconds=120) as load:
        result = fab(inventory, *args)
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    return result, load


def assert_no_failures(load: Load) -> None:
    for kind in KINDS:  # file mode: no reload, so no kind may see a failure
        stats = load.stats(kind)
        assert stats.sent > 20 and stats.failed == 0, load.report()


def container(host, color: str) -> list[str]:
    """[id, release label, state] of the app's container of ``color``."""
    return sb.run_in(host, f"docker inspect -f '{INSPECT}' example-{color}").stdout.split()


def images(host) -> str:
    return sb.run_in(host, "docker images -q --no-trunc | sort").stdout


def test_a_failed_deploy_keeps_the_rollback_target_and_switching_to_it_is_instant(fleet):
    inventory, hosts, repo = fleet
    releases = repo.releases
    assert fab(inventory, "deploy", "--ref", "v1").returncode == 0
    for args in (("deploy", "--ref", "v2"), ("rollback",)):
        result, load = under_load(hosts, inventory, *args)
        assert result.returncode == 0, result.output
        assert_no_failures(load)
    kept = {h.name: container(h, "green") for h in hosts}
    assert all(k[1:] == [releases["v2"], "exited"] for k in kept.values()), kept

    result, load = under_load(hosts, inventory, "deploy", "--ref", "broken")
    assert result.returncode == 1, result.output
    assert "example-green (" + releases["v2"] + ") is back, exited" in result.stdout
    assert_no_failures(load)
    for host in hosts:  # the very same container, under its name, nothing set aside
        assert container(host, "green") == kept[host.name], host.name
        names = sb.run_in(host, "docker ps -a --format '{{.Names}}' | sort").stdout.split()
        assert names == ["example-blue", "example-green"], host.name
    before = {h.name: images(h) for h in hosts}

    result, load = under_load(hosts, inventory, "switch", "--to", "green")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert "build" not in result.stdout and "is gone" not in result.stdout
    for host in hosts:
        assert container(host, "green")[:2] == kept[host.name][:2], host.name  # started, same
        assert container(host, "green")[2] == "running"
        assert images(host) == before[host.name], host.name  # nothing built or pulled
    assert load.stats().releases.get(releases["v2"], 0) > 0

    result, load = under_load(hosts, inventory, "rollback")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    for host in hosts:
        assert container(host, "blue")[1:] == [releases["v1"], "running"], host.name


def test_settings_are_shown_and_secrets_masked_and_kept_off_command_lines(fleet, tmp_path):
    _, hosts, repo = fleet
    inventory = write_inventory(
        tmp_path / "hosts.yml", repo.path, HOSTS, defaults_extra="switch_mode: file",
        env="BIND: 127.0.0.1",
    )  # fmt: skip
    plan = fab(inventory, "deploy", "--ref", "v2", "--dry-run")
    assert plan.returncode == 0, plan.output
    assert "would check http://127.0.0.1:4002/health" in plan.stdout  # a setting: not masked
    assert "***" not in plan.stdout and API_TOKEN not in plan.output

    result, load = under_load(hosts, inventory, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert API_TOKEN not in result.output
    for host in hosts:
        env = sb.run_in(host, "stat -c %a /srv/example/green.env; cat /srv/example/green.env")
        mode, *lines = env.stdout.splitlines()
        assert mode == "600" and f"API_TOKEN={API_TOKEN}" in lines and "BIND=127.0.0.1" in lines
        inspect = sb.run_in(host, "docker inspect -f '{{.Args}} {{.Path}}' example-green")
        assert API_TOKEN not in inspect.stdout


# --- an app with a database: SQLite on a named volume, written by the release command ------

# serve the newest note the release command wrote, then run the example app
NOTE_ENTRYPOINT = """\
#!/bin/sh
mkdir -p /tmp/www
sqlite3 /data/app.db 'select note from notes order by id desc limit 1' >/tmp/www/note 2>/dev/null
exec /bin/sh /app/entrypoint.sh
"""
WITH_SQLITE = 'COPY sqlite/ /\nCOPY note.sh /app/\nENTRYPOINT ["/bin/sh", "/app/note.sh"]\n'
MIGRATE = (
    'sqlite3 /data/app.db "create table if not exists notes (id integer primary key, note text);'
    " insert into notes (note) values ('$(cat /app/VERSION) $GREETING')\""
    " && echo migrated to $(cat /app/VERSION)"
)
DATA = textwrap.dedent(f"""\
    release: {json.dumps(MIGRATE)}
    volumes: [example-data:/data]
    options: {{memory: 96m, labels: {{team: web}}}}
    stop_timeout: 5
""")


def with_sqlite(source: Path) -> Path:
    """The example app plus this machine's sqlite3 and the shared libraries it loads (ldd)."""
    shutil.copytree(PROJECT / "example", source)
    (source / "note.sh").write_text(NOTE_ENTRYPOINT)
    binary = shutil.which("sqlite3")
    assert binary, "the release command test needs sqlite3 (scripts/setup.sh installs it)"
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    for path in [binary, *re.findall(r"(/\S+) \(0x", ldd)]:
        target = source / "sqlite" / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(path).resolve(), target)
        target.chmod(0o755)
    return source


@pytest.fixture(scope="module")
def data_repo(tmp_path_factory) -> AppRepo:
    work = tmp_path_factory.mktemp("data")
    releases = (("v1", "1.0.0", WITH_SQLITE), ("v2", "2.0.0", WITH_SQLITE))
    return make_app_repo(work / "repo", releases, source=with_sqlite(work / "source"))


@pytest.fixture(scope="module")
def data_fleet(fleet, data_repo, tmp_path_factory):
    """The same two hosts, emptied again, and an inventory of the app with a database."""
    _, hosts, _ = fleet
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    inventory = write_inventory(
        tmp_path_factory.mktemp("data-inv") / "hosts.yml",
        data_repo.path,
        HOSTS,
        app_extra=DATA,
        defaults_extra="switch_mode: file",
    )
    return inventory, hosts, data_repo


def note(host) -> str:
    with urllib.request.urlopen(f"http://{host.address}:4000/note", timeout=5) as response:
        return response.read().decode().strip()


def notes(host) -> list[str]:
    """The rows of the notes table on the host's named volume (read by a one-off container)."""
    query = "sqlite3 /data/app.db 'select note from notes order by id'"
    command = "docker run --rm --pull never -v example-data:/data --entrypoint /bin/sh"
    image = sb.run_in(host, "docker inspect -f '{{.Config.Image}}' example-blue").stdout.strip()
    return sb.run_in(host, f"{command} {image} -c {shlex.quote(query)}").stdout.split("\n")[:-1]


def test_the_release_command_migrates_before_the_new_color_starts_and_it_reads_the_data(
    data_fleet,
):
    inventory, hosts, _ = data_fleet
    first = fab(inventory, "deploy", "--ref", "v1")
    assert first.returncode == 0, first.output
    assert re.search(r"^sandbox1\s+·· release \| migrated to 1.0.0$", first.stdout, re.M)
    assert first.stdout.count("release | migrated to 1.0.0") == 1  # on the first host only
    # it ran on the first host only; each host's volume is its own (a shared database would
    # be on another server), so the second has no table
    assert [note(h) for h in hosts] == ["1.0.0 hello", ""]

    result, load = under_load(hosts, inventory, "deploy", "--ref", "v2")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    added = re.search(r"^sandbox1\s+✅ release: .* in (\d+\.\d) s$", result.stdout, re.M)
    assert added, result.stdout
    phases = result.stdout.splitlines()[-2]
    print(f"release command: {added.group(1)} s; {phases}")
    assert result.stdout.count("release | migrated to 2.0.0") == 1  # once per deploy
    assert result.stdout.index("release | migrated") < result.stdout.index("start: example-green")
    assert [note(h) for h in hosts] == ["2.0.0 hello", ""]
    assert notes(hosts[0]) == ["1.0.0 hello", "2.0.0 hello"]
    history = sb.run_in(hosts[0], "tail -n 1 /srv/example/history.jsonl").stdout
    assert '"release_command": {"exit": 0' in history
    inspect = "docker inspect -f '{{.HostConfig.Memory}} {{index .Config.Labels \"team\"}}'"
    for host in hosts:  # both colors got the same settings
        for color in ("blue", "green"):
            found = sb.run_in(host, f"{inspect} example-{color}").stdout.split()
            assert found == [str(96 * 1024 * 1024), "web"], (host.name, color)

    result, load = under_load(hosts, inventory, "rollback")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    # the volume persisted: v1, started again, reads what v2's release command wrote
    assert [note(h) for h in hosts] == ["2.0.0 hello", ""]
    assert notes(hosts[0]) == ["1.0.0 hello", "2.0.0 hello"]


def test_a_failing_release_command_switches_nothing(data_fleet, tmp_path):
    _, hosts, repo = data_fleet
    failing = DATA.replace(
        json.dumps(MIGRATE), json.dumps("echo applying 0042; echo 'no such table' >&2; exit 7")
    )
    inventory = write_inventory(
        tmp_path / "hosts.yml", repo.path, HOSTS, app_extra=failing,
        defaults_extra="switch_mode: file",
    )  # fmt: skip
    before = {h.name: container(h, "green") for h in hosts}
    result, load = under_load(hosts, inventory, "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    assert_no_failures(load)
    failure = result.stdout.split("sandbox1 ❌ release command failed (exit 7): echo applying")
    assert len(failure) == 2, result.stdout  # its last lines follow (docker interleaves them)
    tail = failure[1].split("\nhost ")[0]
    assert "      | applying 0042" in tail and "      | no such table" in tail, result.stdout
    assert "start:" not in result.stdout and "switch:" not in result.stdout
    for host in hosts:
        assert container(host, "green") == before[host.name], host.name  # v2, kept, untouched
        assert sb.run_in(host, "test ! -e /srv/example/release.env", check=False).returncode == 0
    history = sb.run_in(hosts[0], "tail -n 1 /srv/example/history.jsonl").stdout
    assert '"release_command": {"exit": 7' in history and '"result": "failed"' in history


# --- exec --------------------------------------------------------------------------------


def test_exec_runs_in_the_live_container_on_every_host_with_exact_quoting(data_fleet):
    inventory, hosts, _ = data_fleet
    script = 'printf "<%s>" "$@"; echo; echo "$(cat /app/VERSION) $GREETING"'
    result = fab(inventory, "exec", "--", "sh", "-c", script, "_", "a  b", "it's", "$(id)", "")
    assert result.returncode == 0, result.output
    for host in hosts:
        lines = re.findall(rf"^{host.name} +\| (.*)$", result.stdout, re.M)
        assert lines == ["<a  b><it's><$(id)><>", "1.0.0 hello"], result.stdout
        assert re.search(rf"^{host.name} +✅ exec in example-blue: exit 0$", result.stdout, re.M)

    once = fab(inventory, "exec", "--once", "--", "sqlite3", "/data/app.db",
               "select count(*) from notes")  # fmt: skip
    assert once.returncode == 0, once.output
    assert re.findall(r"^(\S+) +\| (.*)$", once.stdout, re.M) == [("sandbox1", "2")]

    failed = fab(inventory, "exec", "--", "sh", "-c", 'echo "on $(hostname)"; exit 3')
    assert failed.returncode == 1, failed.output
    for host in hosts:
        assert re.search(rf"^{host.name} +❌ exec in example-blue: exit 3$", failed.stdout, re.M)

    stopped = fab(inventory, "exec", "--color", "green", "--", "true")
    assert stopped.returncode == 1 and "is not running" in stopped.stdout, stopped.output

    nothing = fab(inventory, "exec")
    assert nothing.returncode == 2
    assert "give the command after --, e.g. fab exec -- bin/console" in nothing.stderr


# --- health.expect, --skip-release ----------------------------------------------------------


def test_health_expect_fails_an_answer_of_200_without_the_expected_text(data_fleet, tmp_path):
    inventory, hosts, _ = data_fleet
    text = inventory.read_text()
    assert "health: {attempts: 10" in text

    def expecting(wanted: str) -> Path:
        path = tmp_path / f"expect-{wanted}.yml"
        health = f"health: {{path: /version, expect: {{status: [200], contains: '{wanted}'}},"
        path.write_text(
            text.replace("health: {", health + " ", 1).replace("attempts: 10", "attempts: 3")
        )
        return path

    result, load = under_load(hosts, expecting("9.9.9"), "deploy", "--ref", "v2", "--skip-release")
    assert result.returncode == 1, result.output
    assert_no_failures(load)
    assert "not healthy after 3 attempt(s); last: HTTP 200 but the body lacks '9.9.9': '2.0.0'" in (
        result.stdout)  # fmt: skip
    assert [note(h) for h in hosts] == ["2.0.0 hello", ""]  # v1 still serves what it read

    result, load = under_load(hosts, expecting("2.0.0"), "deploy", "--ref", "v2", "--skip-release")
    assert result.returncode == 0, result.output
    assert_no_failures(load)
    assert result.stdout.count("release: sqlite3 /data/app.db") == 1
    assert re.search(r"^sandbox1 +⚠️ +release: .* skipped \(--skip-release\)$", result.stdout, re.M)
    assert notes(hosts[0]) == ["1.0.0 hello", "2.0.0 hello"]  # the command did not run
    history = sb.run_in(hosts[0], "tail -n 1 /srv/example/history.jsonl").stdout
    assert '"release_command": "skipped"' in history
