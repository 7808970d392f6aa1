"""Operator output: prefixes, masking, tables, progress of long steps."""

import io
import time

import pytest

from bluegreen.output.log import Log


def test_lines_are_prefixed_by_host_and_secrets_are_masked():
    out = io.StringIO()
    log = Log(stream=out, width=6, secrets={"s3cr3t", "ab"})
    log.ok("web1", "env API_TOKEN=s3cr3t set; ab stays (too short to mask)")
    assert out.getvalue() == "web1   ✅ env API_TOKEN=*** set; ab stays (too short to mask)\n"


def test_table_aligns_columns_and_paints_after_alignment():
    out = io.StringIO()
    Log(stream=out).table(
        [["host", "live"], ["web1", "green"], ["w2", "-"]],
        paint=lambda column, cell: f"<{cell}>" if column == 1 else cell,
    )
    assert out.getvalue().splitlines() == ["host  live", "web1  <green>", "w2    <-    >"]


def test_a_long_step_reports_that_it_is_still_running():
    out = io.StringIO()
    log = Log(stream=out, width=4)
    with log.ticking("web1", "build: shop:abc", every=0.05):
        time.sleep(0.3)
    ended = out.getvalue()
    time.sleep(0.15)
    assert out.getvalue() == ended  # nothing more after the step ended
    lines = ended.splitlines()
    assert lines  # at least one tick while it ran (more on an idle machine)
    assert all(line.startswith("web1 ·· build: shop:abc: running for ") for line in lines)


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("release \x1b[31mfailed\x1b[0m", "release failed"),  # colors (CSI)
        ("x \x1b]0;owned\x07y", "x y"),  # a new window title (OSC, BEL-ended)
        ("x \x1b]8;;http://evil\x1b\\link", "x link"),  # a hyperlink (OSC, ST-ended)
        ("hidden\rshown", "hiddenshown"),  # a carriage return overwriting the line
        ("c1 \x9b2J", "c1 2J"),  # an 8-bit CSI clearing the screen
        ("tab\tkept", "tab\tkept"),
    ],
)
def test_text_from_hosts_cannot_drive_the_terminal(sent, shown):
    out = io.StringIO()
    Log(stream=out, width=4).fail("web1", sent)
    assert out.getvalue() == f"web1 ❌ {shown}\n"
