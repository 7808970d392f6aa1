import io
import json

from bluegreen import transport
from bluegreen.config.inventory import App, Host, Inventory, Ports
from bluegreen.errors import RemoteError
from bluegreen.facts.traffic import Traffic
from bluegreen.ops.status import read_status, status, table
from bluegreen.output.log import Log
from bluegreen.testing.remote import Container, FakeHost, hosts_by_name

RECORD = {
    "host": "web1",
    "reachable": True,
    "error": None,
    "live": "blue",
    "switch_mode": "file",
    "split": {"color": "green", "release": "r2", "percent": 10, "sticky": True},
    "colors": {
        "blue": {
            "release": "r1",
            "state": "running",
            "health": "healthy",
            "image": "sha256:" + "a" * 64,
        },
        "green": {"release": "r2", "state": "running", "health": "healthy", "image": None},
    },
    "lock": None,
    "last_change": {
        "time": "2026-01-01T00:00:00+00:00",
        "operation": "split",
        "result": "switched",
    },
}


def test_the_table_shows_the_split_beside_the_live_color():
    rows = table(
        [RECORD, {**RECORD, "host": "web2", "split": None}, {**RECORD, "reachable": False}]
    )
    header = ["host", "live", "split", "switch", "blue", "green", "lock", "last change", "images"]
    assert rows[0] == header
    assert rows[1][:4] == ["web1", "blue", "green 10% sticky", "file"]
    assert rows[1][-1] == "blue:aaaaaaaaaaaa"  # green's image id is not known
    assert rows[2][:4] == ["web2", "blue", "-", "file"]
    assert rows[3] == ["web1", "unreachable", "-", "-", "-", "-", "-", "-", "-"]


def test_the_table_says_when_a_host_is_in_maintenance():
    rows = table([{**RECORD, "split": None, "maintenance": True}, {**RECORD, "split": None}])
    assert [row[1] for row in rows[1:]] == ["blue MAINTENANCE", "blue"]


def test_the_table_shows_the_served_certificate_only_for_tls_apps():
    good = {"valid": True, "error": None, "issuer": "R11", "names": ["a.io", "www.a.io"],
            "expires": "2027-01-01T00:00:00+00:00", "days_left": 30}  # fmt: skip
    bad = {**good, "valid": False, "error": "certificate has expired"}
    rows = table([{**RECORD, "tls": good}, {**RECORD, "host": "web2", "tls": bad}])
    assert rows[0][-1] == "tls"
    assert rows[1][-1] == "ok R11, a.io www.a.io, 30 days"
    assert rows[2][-1] == "INVALID (certificate has expired) R11, a.io www.a.io, 30 days"
    assert "tls" not in table([{**RECORD, "tls": None}])[0]


class Unreachable:
    """A session whose connect fails as a real one would (one readable line)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def open(self) -> None:
        raise RemoteError(self.host.name, "connection to root@203.0.113.9:22 refused")

    def close(self) -> None:
        pass


def test_an_unreadable_host_reports_its_real_cause(monkeypatch, tmp_path):
    monkeypatch.setattr(transport, "connect", lambda host, dry_run=False: Unreachable(host))
    inv = Inventory(path=tmp_path / "hosts.yml", app=App(name="web"), ports=Ports(), hosts={},
                    groups={})  # fmt: skip
    host = Host(name="web9", address="203.0.113.9")
    [record] = read_status(inv, [host], Log(io.StringIO()))
    assert record["reachable"] is False
    assert record["error"] == "connection to root@203.0.113.9:22 refused"


def test_the_table_says_where_unknown_names_are_refused_only_for_apps_on_names():
    stock = {"refused": [443], "default_elsewhere": [80]}
    old = {"refused": [], "default_elsewhere": []}
    rows = table([{**RECORD, "unknown_names": stock}, {**RECORD, "unknown_names": old}])
    assert rows[0][-1] == "unknown names"
    assert rows[1][-1] == "refused 443; 80: another site's default"
    assert rows[2][-1] == "NOT refused"
    assert "unknown names" not in table([{**RECORD, "unknown_names": None}])[0]


ATTENTION = {"operation": "deploy", "result": "needs attention",
             "serves": "green r2, both colors kept running"}  # fmt: skip


def fake_status(monkeypatch, tmp_path, history: list[dict]) -> tuple[bool, dict]:
    """``fab status --json`` of one scripted host that has ``history``."""
    fake = FakeHost("web1", Traffic("green", "r2"), containers={"blue": Container("r1")},
                    history=history)  # fmt: skip
    monkeypatch.setattr(transport, "connect", hosts_by_name([fake]))
    inv = Inventory(path=tmp_path / "hosts.yml", app=App(name="web"), ports=Ports(), hosts={},
                    groups={})  # fmt: skip
    out = io.StringIO()
    ok = status(inv, [Host(name="web1", address="203.0.113.1")], True, Log(out))
    return ok, json.loads(out.getvalue())["hosts"][0]


def test_a_host_whose_revert_failed_needs_attention_until_a_later_change(monkeypatch, tmp_path):
    """Read from its history (also after a refused or no-op attempt, which changes nothing);
    status then exits 1."""
    later = {"operation": "deploy", "result": "unchanged"}
    ok, record = fake_status(monkeypatch, tmp_path, [ATTENTION, later])
    assert ok is False
    assert record["needs_attention"] == "green r2, both colors kept running"
    assert table([{**RECORD, **record}])[1][1] == "green NEEDS ATTENTION"

    ok, record = fake_status(monkeypatch, tmp_path, [ATTENTION, {"result": "switched"}])
    assert ok is True and record["needs_attention"] is None
    assert table([{**RECORD, **record}])[1][1] == "green"


def test_the_table_shows_each_host_s_processes_only_for_apps_with_processes():
    worker = {"release": "r2", "state": "running", "since": "2026-12-06T20:01:02Z"}
    rows = table(
        [
            {**RECORD, "processes": {"worker": worker, "mailer": {**worker, "state": "exited"}}},
            {**RECORD, "host": "web2", "processes": {}},
            {**RECORD, "reachable": False},
        ]
    )
    assert rows[0][-1] == "processes"
    assert rows[1][-1] == (
        "worker r2 running since 2026-12-06T20:01:02Z; mailer r2 exited since 2026-12-06T20:01:02Z"
    )
    assert rows[2][-1] == "-"
    assert rows[3] == ["web1", "unreachable", *["-"] * 8]
    assert "processes" not in table([RECORD])[0]


def test_the_table_shows_each_scheduled_job_s_timer_beside_the_processes():
    tick = {"schedule": "every 10 s", "last": "2026-12-06T20:01:00+00:00", "release": "r2",
            "next": "2026-12-06T20:01:10+00:00"}  # fmt: skip
    worker = {"release": "r2", "state": "running", "since": "x"}
    rows = table(
        [
            {**RECORD, "processes": {"worker": worker}, "schedule": {"tick": tick}},
            {**RECORD, "host": "web2", "processes": {"worker": worker}, "schedule": {}},
        ]
    )
    assert rows[0][-2:] == ["processes", "scheduled jobs"]
    assert rows[1][-1] == (
        "tick every 10 s last 2026-12-06T20:01:00+00:00 (r2) next 2026-12-06T20:01:10+00:00"
    )
    assert rows[2][-1] == "-"
    assert "scheduled jobs" not in table([RECORD])[0]
