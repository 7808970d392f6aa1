import pytest

from bluegreen.facts import traffic
from bluegreen.facts.traffic import Split, Traffic

SPLIT = Traffic("blue", "r1", Split("green", "r2", 10))


def test_the_two_state_forms_round_trip():
    assert traffic.parse("green 0123456789ab\n") == Traffic("green", "0123456789ab")
    assert traffic.parse("blue r1 green r2 10") == SPLIT
    sticky = Traffic("blue", "r1", Split("green", "r2", 99, sticky=True))
    assert traffic.parse("blue r1 green r2 99 sticky") == sticky
    for value in (Traffic("green", "a.b-c_1"), SPLIT, sticky):
        assert traffic.parse(value.line()) == value


def test_maintenance_is_a_last_word_of_either_form():
    down = Traffic("blue", "r1", maintenance=True)
    assert traffic.parse("blue r1 maintenance") == down
    assert traffic.parse("blue r1 green r2 10 maintenance") == Traffic(
        "blue", "r1", Split("green", "r2", 10), maintenance=True
    )
    assert down.describe() == "blue r1 (maintenance page up)"
    assert traffic.from_header({"live": "blue", "release": "r1", "maintenance": "on"}) == down
    assert traffic.parse("blue r1 maintenance maintenance") is None
    assert traffic.parse("blue r1 maintenancex") is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "green",
        "purple r1",
        "blue r1 blue r2 10",  # a split needs the other color
        "blue r1 green r2 0",
        "blue r1 green r2 100",
        "blue r1 green r2 05",
        "blue r1 green r2 10 stick",
        "blue r1 green r2",
        "blue r1 green r2 10 sticky extra",
        "blue r1;rm green r2 10",
        "blue  r1",
        "blue " + "r" * 65,
    ],
)
def test_anything_else_is_not_trusted(line):
    assert traffic.parse(line) is None


def test_releases_and_description_name_every_color_that_serves():
    assert SPLIT.releases == {"blue": "r1", "green": "r2"}
    assert Traffic("green", "r2").releases == {"green": "r2"}
    assert SPLIT.describe() == "blue r1 90 % + green r2 10 %"
    sticky = Traffic("blue", "r1", Split("green", "r2", 10, sticky=True))
    assert sticky.describe() == "blue r1 90 % + green r2 10 % (sticky)"
    assert Traffic("green", "r2").describe() == "green r2"


def test_the_reload_header_words_are_checked_like_the_state_line():
    words = {"live": "blue", "release": "r1", "other": "green", "other_release": "r2"}
    assert traffic.from_header({**words, "percent": "10", "sticky": "no"}) == SPLIT
    sticky = traffic.from_header({**words, "percent": "10", "sticky": "yes"})
    assert sticky is not None and sticky.split == Split("green", "r2", 10, sticky=True)
    assert traffic.from_header({"live": "green", "release": "r2"}) == Traffic("green", "r2")
    assert traffic.from_header({**words, "percent": "101"}) is None
    assert traffic.from_header({"live": "green"}) is None
