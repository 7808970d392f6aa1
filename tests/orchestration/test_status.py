from bluegreen.orchestration.status import table

RECORD = {
    "host": "web1",
    "reachable": True,
    "error": None,
    "live": "blue",
    "switch_mode": "file",
    "split": {"color": "green", "release": "r2", "percent": 10, "sticky": True},
    "colors": {
        "blue": {"release": "r1", "state": "running", "health": "healthy"},
        "green": {"release": "r2", "state": "running", "health": "healthy"},
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
    assert rows[0] == ["host", "live", "split", "switch", "blue", "green", "lock", "last change"]
    assert rows[1][:4] == ["web1", "blue", "green 10% sticky", "file"]
    assert rows[2][:4] == ["web2", "blue", "-", "file"]
    assert rows[3] == ["web1", "unreachable", "-", "-", "-", "-", "-", "-"]
