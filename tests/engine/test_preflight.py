"""Preflight's repair: what a change cut off mid-way left set aside."""

import pytest

from bluegreen.engine.preflight import leftovers
from bluegreen.facts import HostFacts
from bluegreen.facts.traffic import Split


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (HostFacts(live_color="blue", live_release="r1", aside=("green",)), [("green", True)]),
        (HostFacts(live_color="green", live_release="r2", aside=("green",)), [("green", False)]),
        (
            HostFacts(
                live_color="blue", live_release="r1", split=Split("green", "r2", 10),
                aside=("green",),
            ),
            [("green", False)],
        ),
        (HostFacts(aside=("blue",)), [("blue", True)]),
        (HostFacts(live_color="blue", live_release="r1"), []),
    ],
)  # fmt: skip
def test_a_container_left_aside_is_put_back_unless_its_color_serves(found, expected):
    assert leftovers(found) == expected
