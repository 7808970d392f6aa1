"""--json event lines and NO_COLOR: the operator's log for CI and scripts."""

import io
import json

from bluegreen.engine import report
from bluegreen.output.events import JsonLog
from bluegreen.output.log import Log


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_every_line_is_one_json_object_with_secrets_masked():
    out = io.StringIO()
    log = JsonLog(out, secrets={"s3cr3t"})
    log.ok("web1", "health: blue HTTP 200")
    log.warn("web2", 'token "s3cr3t" seen')
    log.line("✅ done")
    log.table([("host", "result"), ("web1", "switched")])
    log.summary({"verdict": "succeeded"})
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"event": "step", "host": "web1", "status": "ok", "text": "health: blue HTTP 200"},
        {"event": "step", "host": "web2", "status": "warning", "text": 'token "***" seen'},
        {"event": "line", "text": "✅ done"},
        {"event": "row", "host": "web1", "result": "switched"},
        {"event": "summary", "verdict": "succeeded"},
    ]


def test_the_text_log_prints_no_summary_record_and_colors_only_on_a_terminal(monkeypatch):
    out = io.StringIO()
    Log(out).summary({"verdict": "succeeded"})
    assert out.getvalue() == ""
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert not Log(io.StringIO()).colored
    assert Log(Terminal()).colored
    monkeypatch.setenv("NO_COLOR", "1")
    assert not Log(Terminal()).colored
    assert not JsonLog(Terminal()).colored


def test_a_changes_summary_is_one_record_with_hosts_and_phases():
    out = io.StringIO()
    report.summary(JsonLog(out), [], {"preflight": 0.12345}, interrupted=False)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    summary = next(e for e in events if e["event"] == "summary")
    assert summary == {
        "event": "summary",
        "verdict": "succeeded",
        "interrupted": False,
        "needs_attention": [],
        "hosts": [],
        "phases": {"preflight": 0.123},
    }
