"""The facts of a runtime: process host: its units' lines read as the containers' are."""

from bluegreen import facts
from bluegreen.facts import Container
from bluegreen.shell import process


def test_the_probe_asks_systemd_and_the_release_links_not_docker() -> None:
    script = facts.probe("shop", "/srv/shop", "abc", runtime="process")
    assert "docker" not in script
    assert script.endswith(
        "\n".join([*process.probe("shop", "/srv/shop"), process.built("/srv/shop", "abc")])
    )


def test_unit_lines_become_containers_with_their_release() -> None:
    found = facts.parse(
        "container_blue=running abc123abc123\ncontainer_green=exited def456def456\nimage=present\n"
    )
    assert found.containers == {
        "blue": Container("running", "abc123abc123"),
        "green": Container("exited", "def456def456"),
    }
    assert found.image_present


def test_the_probe_asks_whether_systemd_is_the_init() -> None:
    assert process.SYSTEMD_PROBE in facts.probe("shop", "/srv/shop", runtime="process")
    assert process.SYSTEMD_PROBE not in facts.probe("shop", "/srv/shop")
    assert facts.parse("systemd=no\n").systemd == "no"
    assert facts.parse("systemd=yes\n").systemd == "yes"
    assert facts.parse("").systemd == ""
