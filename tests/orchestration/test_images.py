import io

import pytest

from bluegreen.errors import Refused
from bluegreen.inventory import App, Inventory, Ports
from bluegreen.log import Log
from bluegreen.orchestration import images
from bluegreen.orchestration.change import Change
from bluegreen.orchestration.deploy import Deploy

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_one_image_on_every_host_passes():
    assert images.differing({"web1": A, "web2": A, "web3": A}) is None
    images.same_everywhere({"web1": A, "web2": A})


def test_different_images_name_the_hosts_and_ids_and_stop_the_switch():
    ids = {"web1": A, "web2": B, "web3": A}
    expected = (
        "the hosts have different images for this release:"
        " web1, web3 aaaaaaaaaaaa; web2 bbbbbbbbbbbb; nothing switched"
    )
    with pytest.raises(Refused) as refused:
        images.same_everywhere(ids)
    assert str(refused.value) == expected


def test_a_host_without_an_image_id_is_a_difference_too():
    assert images.differing({"web1": A, "web2": ""}) == (
        "the hosts have different images for this release: web1 aaaaaaaaaaaa; web2 no image"
    )


def plan(tmp_path, place=None):
    """A deploy's plan over a change (no host is contacted)."""
    inv = Inventory(tmp_path / "hosts.yml", App(name="web"), Ports(), hosts={}, groups={})
    out = io.StringIO()
    change = Change(inv, Log(stream=out, width=4), "deploy")
    return Deploy(change, "HEAD", "0123456789ab", place), change, out


def test_a_shipped_image_that_differs_stops_the_batch_before_its_health_checks(tmp_path):
    deploy, change, out = plan(tmp_path, place=lambda run: A)
    assert change.staged == deploy.same_image  # the engine asks the deploy before health
    deploy.image_ids.update({"web1": A, "web2": B})
    assert change.agreed([]) is False
    assert out.getvalue() == (
        "❌ the hosts have different images for this release:"
        " web1 aaaaaaaaaaaa; web2 bbbbbbbbbbbb; nothing switched\n"
    )


def test_builds_on_each_host_that_differ_are_a_warning_only(tmp_path):
    deploy, change, out = plan(tmp_path)
    deploy.image_ids.update({"web1": A, "web2": B})
    assert change.agreed([]) is True
    assert "⚠️  the hosts have different images" in out.getvalue()
    assert "build: local makes one" in out.getvalue()
