import pytest

from bluegreen.errors import Refused
from bluegreen.orchestration import images

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
