"""Profile detection from /etc/os-release values, and the profile data itself."""

import pytest

from bluegreen.config import profiles
from bluegreen.config.profiles import PROFILES, UnsupportedSystem, detect, resolve

AL2023 = {"ID": "amzn", "VERSION_ID": "2023", "ID_LIKE": "fedora"}


def test_detects_by_id():
    assert detect({"ID": "ubuntu", "VERSION_ID": "24.04", "ID_LIKE": "debian"}).name == "ubuntu"
    assert detect({"ID": "debian", "VERSION_ID": "12"}).name == "debian"
    assert detect(AL2023).name == "amazon-linux"


def test_falls_back_to_id_like():
    mint = {"ID": "linuxmint", "VERSION_ID": "21.3", "ID_LIKE": "ubuntu debian"}
    assert detect(mint).name == "ubuntu"
    assert detect({"ID": "raspbian", "ID_LIKE": "debian"}).name == "debian"


@pytest.mark.parametrize(
    "found, named",
    [
        ({"ID": "amzn", "VERSION_ID": "2", "ID_LIKE": "centos rhel fedora"}, "VERSION_ID='2'"),
        ({"ID": "rocky", "VERSION_ID": "9.3", "ID_LIKE": "rhel centos fedora"}, "ID='rocky'"),
        ({"ID": "fedora", "VERSION_ID": "40"}, "ID='fedora'"),
        ({}, "no /etc/os-release"),
    ],
)
def test_unsupported_systems_name_what_was_found(found, named):
    with pytest.raises(UnsupportedSystem, match="unsupported system") as error:
        detect(found)
    assert named in str(error.value)
    assert "profile:" in str(error.value)


def test_resolve_prefers_the_inventory_and_says_how_it_chose():
    assert resolve("amazon-linux", {"ID": "debian"}) == (PROFILES["amazon-linux"], "from hosts.yml")
    assert resolve("auto", AL2023) == (PROFILES["amazon-linux"], "detected: amzn 2023")


def test_profile_data():
    debian, al = PROFILES["debian"], PROFILES["amazon-linux"]
    assert debian.all_packages == ("docker.io", "nginx", "git", "libnginx-mod-http-js")
    assert (debian.manager, debian.nginx_user) == ("apt", "www-data")
    assert debian.main_conf_dir == "/etc/nginx/modules-enabled"
    assert al.all_packages == ("docker", "nginx", "git")  # no njs in AL2023's repos
    assert (al.manager, al.nginx_user, al.njs_link) == ("dnf", "nginx", None)
    assert al.main_conf_dir == "/usr/share/nginx/modules"
    assert set(PROFILES) == {"ubuntu", "debian", "amazon-linux"}
    assert all(name == profile.name for name, profile in profiles.PROFILES.items())
