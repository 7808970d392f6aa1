import itertools

import pytest

from bluegreen.config.inventory import App, Expect, Health, Inventory, Ports, Tls
from bluegreen.engine import checks
from bluegreen.facts.traffic import Traffic
from bluegreen.transport.http import HttpReply


class Answers:
    """A remote whose public port answers the given (color, release) pairs in turn."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = itertools.cycle(pairs)

    def http_get(self, port: int, path: str, timeout: float, tls=None, name=None) -> HttpReply:
        color, release = next(self.pairs)
        headers = {checks.COLOR_HEADER: color, checks.RELEASE_HEADER: release}
        return HttpReply(200, headers, "")


SPLIT = {"blue": "r1", "green": "r2"}
AT = checks.Public(4000)


def test_a_split_is_verified_when_both_colors_answered_with_their_releases():
    remote = Answers(("blue", "r1"), ("blue", "r1"), ("green", "r2"))
    assert checks.wait_serving(remote, AT, "/", SPLIT, window=0).startswith(
        "port 4000 serves blue r1 and green r2 ("
    )


def test_a_sticky_split_is_verified_when_this_client_only_sees_one_color():
    remote = Answers(("blue", "r1"))
    assert checks.wait_serving(remote, AT, "/", SPLIT, window=0, see_all=False)
    with pytest.raises(checks.CheckFailed, match="last: only blue answered"):
        checks.wait_serving(remote, AT, "/", SPLIT, window=0, deadline=0.1)


def test_an_unexpected_release_is_never_accepted():
    remote = Answers(("blue", "r1"), ("green", "old"))
    with pytest.raises(checks.CheckFailed, match="last: HTTP 200 from color=green release=old"):
        checks.wait_serving(remote, AT, "/", SPLIT, window=0, deadline=0.1)


class Statuses:
    """A remote whose public port answers (status, color) in turn (issue 5: dead new app)."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = itertools.cycle(answers)

    def http_get(self, port: int, path: str, timeout: float, tls=None, name=None) -> HttpReply:
        status, color = next(self.answers)
        return HttpReply(status, {checks.COLOR_HEADER: color, checks.RELEASE_HEADER: "r2"}, "")


def test_a_new_color_answering_only_5xx_fails_fast_not_at_the_deadline(monkeypatch):
    monkeypatch.setattr(checks, "DEAD_LIMIT", 0.1)
    with pytest.raises(checks.CheckFailed, match=r"green answers only HTTP 502 for 0.1 s"):
        checks.wait_serving(Statuses((502, "green")), AT, "/", {"green": "r2"}, deadline=5)


def test_old_workers_answering_the_old_color_are_waited_out():
    """Only the target color's own 5xx count: the old color answering is nginx's overlap."""
    remote = Statuses((502, "blue"), (200, "green"))
    with pytest.raises(checks.CheckFailed, match="after 0.3 s"):
        checks.wait_serving(remote, AT, "/", {"green": "r2"}, window=10, deadline=0.3)


class Refusing:
    def http_get(self, port: int, path: str, timeout: float, tls=None, name=None) -> HttpReply:
        raise ConnectionRefusedError("127.0.0.1:4000: Connection refused")


def test_serving_reads_nginx_headers_once_and_ignores_what_is_not_ours():
    assert checks.serving(Answers(("blue", "r1")), AT, "/", 2) == Traffic("blue", "r1")
    assert checks.serving(Answers(("green", "bad value")), AT, "/", 2) is None
    assert checks.serving(Refusing(), AT, "/", 2) is None


# --- health.expect --------------------------------------------------------------------------

DB_DOWN = '{"status": "ok", "checks": {"db": "down", "workers": 4, "ready": true}}'


@pytest.mark.parametrize(
    ("status", "body", "expect", "problem"),
    [
        (200, "ok", Expect(), None),
        (302, "", Expect(), None),
        (404, "nope", Expect(), "'nope'"),
        (204, "", Expect(status=(200,)), "''"),
        (503, "down", Expect(status=(200, 503)), None),
        (200, "DB down", Expect(contains="all good"), "but the body lacks 'all good': 'DB down'"),
        (200, DB_DOWN, Expect(json={"status": "ok", "checks.workers": "4"}), None),
        (200, DB_DOWN, Expect(json={"checks.ready": "true"}), None),
        (
            200,
            DB_DOWN,
            Expect(json={"checks.db": "up"}),
            'but JSON checks.db is "down", expected up',
        ),
        (200, DB_DOWN, Expect(json={"checks.cache": "up"}), "but the JSON has no checks.cache"),
        (200, DB_DOWN, Expect(json={"checks": "x"}), "but JSON checks is {"),
        (200, "ok", Expect(json={"a": "1"}), "but the body is not JSON: 'ok'"),
    ],
)
def test_a_health_answer_is_judged_by_status_then_body(status, body, expect, problem):
    found = checks.unexpected(HttpReply(status, {}, body), expect)
    if problem is not None and problem.endswith("{"):  # a mapping: shown as JSON
        assert found is not None and found.startswith(problem)
    else:
        assert found == problem


def test_an_app_that_says_db_down_with_200_fails_the_health_gate():
    class Down:
        def http_get(self, port, path, timeout):
            return HttpReply(200, {}, DB_DOWN)

    health = Health(attempts=2, interval=0, expect=Expect(json={"checks.db": "up"}))
    with pytest.raises(checks.CheckFailed, match=r"after 2 attempt\(s\); last: HTTP 200 but JSON"):
        checks.wait_healthy(Down(), 4001, health)


SHOP = "shop.example.test"


@pytest.mark.parametrize(
    ("domains", "tls", "port", "name"),
    [
        ((), Tls(), 4000, None),  # its own port, for localhost
        ((SHOP, "www.example.test"), Tls(), 80, SHOP),  # port 80, shared with apps by name
        ((SHOP,), Tls(mode="acme", email="ops@example.test"), 443, SHOP),
    ],
)
def test_the_public_port_is_asked_for_the_apps_first_domain_tls_or_not(
    tmp_path, domains, tls, port, name
):
    app = App(name="web", domains=domains, tls=tls)
    inv = Inventory(tmp_path / "hosts.yml", app, Ports(), hosts={}, groups={})
    at = checks.public(inv)
    assert (at.port, at.name) == (port, name)
    assert at.tls is None if tls.mode == "off" else at.tls.server_name == name
