import itertools

import pytest

from bluegreen import checks
from bluegreen.executor import HttpReply
from bluegreen.traffic import Traffic


class Answers:
    """A remote whose public port answers the given (color, release) pairs in turn."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = itertools.cycle(pairs)

    def http_get(self, port: int, path: str, timeout: float, tls=None) -> HttpReply:
        color, release = next(self.pairs)
        headers = {checks.COLOR_HEADER: color, checks.RELEASE_HEADER: release}
        return HttpReply(200, headers, "")


SPLIT = {"blue": "r1", "green": "r2"}


def test_a_split_is_verified_when_both_colors_answered_with_their_releases():
    remote = Answers(("blue", "r1"), ("blue", "r1"), ("green", "r2"))
    assert checks.wait_serving(remote, 4000, "/", SPLIT, window=0).startswith(
        "port 4000 serves blue r1 and green r2 ("
    )


def test_a_sticky_split_is_verified_when_this_client_only_sees_one_color():
    remote = Answers(("blue", "r1"))
    assert checks.wait_serving(remote, 4000, "/", SPLIT, window=0, see_all=False)
    with pytest.raises(checks.CheckFailed, match="last: only blue answered"):
        checks.wait_serving(remote, 4000, "/", SPLIT, window=0, deadline=0.1)


def test_an_unexpected_release_is_never_accepted():
    remote = Answers(("blue", "r1"), ("green", "old"))
    with pytest.raises(checks.CheckFailed, match="last: HTTP 200 from color=green release=old"):
        checks.wait_serving(remote, 4000, "/", SPLIT, window=0, deadline=0.1)


class Statuses:
    """A remote whose public port answers (status, color) in turn (issue 5: dead new app)."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = itertools.cycle(answers)

    def http_get(self, port: int, path: str, timeout: float, tls=None) -> HttpReply:
        status, color = next(self.answers)
        return HttpReply(status, {checks.COLOR_HEADER: color, checks.RELEASE_HEADER: "r2"}, "")


def test_a_new_color_answering_only_5xx_fails_fast_not_at_the_deadline(monkeypatch):
    monkeypatch.setattr(checks, "DEAD_LIMIT", 0.1)
    with pytest.raises(checks.CheckFailed, match=r"green answers only HTTP 502 for 0.1 s"):
        checks.wait_serving(Statuses((502, "green")), 4000, "/", {"green": "r2"}, deadline=5)


def test_old_workers_answering_the_old_color_are_waited_out():
    """Only the target color's own 5xx count: the old color answering is nginx's overlap."""
    remote = Statuses((502, "blue"), (200, "green"))
    with pytest.raises(checks.CheckFailed, match="after 0.3 s"):
        checks.wait_serving(remote, 4000, "/", {"green": "r2"}, window=10, deadline=0.3)


class Refusing:
    def http_get(self, port: int, path: str, timeout: float, tls=None) -> HttpReply:
        raise ConnectionRefusedError("127.0.0.1:4000: Connection refused")


def test_serving_reads_nginx_headers_once_and_ignores_what_is_not_ours():
    assert checks.serving(Answers(("blue", "r1")), 4000, "/", 2) == Traffic("blue", "r1")
    assert checks.serving(Answers(("green", "bad value")), 4000, "/", 2) is None
    assert checks.serving(Refusing(), 4000, "/", 2) is None
