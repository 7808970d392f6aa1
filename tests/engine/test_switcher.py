import pytest

from bluegreen.config.inventory import Host
from bluegreen.engine.switcher import switch_mode
from bluegreen.errors import Refused
from bluegreen.facts import HostFacts


@pytest.mark.parametrize(
    ("configured", "njs", "expected"),
    [
        ("auto", True, "core"),  # core beats njs per request (docs/evidence/switch-modes.md)
        ("auto", False, "core"),  # core needs no module: AL2023's nginx switches without reload
        ("reload", True, "reload"),
        ("reload", False, "reload"),
        ("file", True, "file"),
        ("core", True, "core"),
        ("core", False, "core"),
    ],
)
def test_switch_mode_follows_config_and_auto_is_core_on_any_nginx(configured, njs, expected):
    host = Host(name="web1", address="203.0.113.10", switch_mode=configured)
    assert switch_mode(host, HostFacts(njs=njs)) == expected


def test_file_mode_without_njs_is_refused_before_any_change():
    host = Host(name="web1", address="203.0.113.10", switch_mode="file")
    with pytest.raises(Refused, match="does not load the njs module"):
        switch_mode(host, HostFacts(njs=False))
