import subprocess

import pytest

from bluegreen import facts
from bluegreen.facts.traffic import Split, Traffic
from bluegreen.shell import docker

OUTPUT = """os_ID=ubuntu
os_VERSION_ID="24.04"
os_ID_LIKE=debian
live=# bluegreen live=green release=0123456789ab
site=d41d8cd98f00b204e9800998ecf8427e  /etc/nginx/conf.d/bluegreen-shop.conf
container_blue=exited 111111111111
container_green=running 0123456789ab
image=present
"""


def test_parse_reads_live_color_containers_and_image():
    f = facts.parse(OUTPUT)
    assert f.os_release == {"ID": "ubuntu", "VERSION_ID": "24.04", "ID_LIKE": "debian"}
    assert (f.live_color, f.live_release) == ("green", "0123456789ab")
    assert f.containers == {
        "blue": facts.Container("exited", "111111111111"),
        "green": facts.Container("running", "0123456789ab"),
    }
    assert f.containers["green"].running and not f.containers["blue"].running
    assert f.site_md5 == "d41d8cd98f00b204e9800998ecf8427e"
    assert f.image_present
    assert f.idle_color == "blue"


def test_a_fresh_host_has_nothing_live_and_stages_into_blue():
    f = facts.parse("live=\nsite=\ncontainer_blue=\ncontainer_green=\nimage=\n")
    assert f.live_color is None and f.containers == {} and f.site_md5 is None
    assert not f.image_present
    assert f.idle_color == "blue"


def test_file_mode_reads_the_state_file_not_the_include():
    f = facts.parse(
        "live=# bluegreen live=blue release=old\n"
        "state=green 0123456789ab\n"
        "site_head=# bluegreen site mode=file\n"
        "njs=yes\n"
    )
    assert (f.site_mode, f.live_color, f.live_release, f.njs) == (
        "file",
        "green",
        "0123456789ab",
        True,
    )


def test_a_tampered_live_color_is_not_trusted():
    assert facts.parse("live=# bluegreen live=purple release=x\n").live_color is None
    state = facts.parse("site_head=# bluegreen site mode=file\nstate=purple x\n")
    assert state.live_color is None and state.live_release is None


@pytest.mark.parametrize("label", ["../../etc", "$(reboot)", "0123456789AB", "abc", "0" * 41])
def test_a_release_label_that_is_no_release_id_is_not_trusted(label):
    # a container label (or a process color's link) is written by whoever can run docker
    f = facts.parse(f"container_blue=running {label} sha256:ab\ncontainer_green=exited abc\n")
    assert f.containers["blue"] == facts.Container("running", "", "sha256:ab")
    assert f.containers["green"] == facts.Container("exited", "")
    assert facts.parse(f"container_blue=running {'a' * 40}\n").containers["blue"].release


def test_probe_runs_in_a_plain_shell_on_a_host_without_the_app(tmp_path):
    """The probe must not fail when nothing is deployed yet (no files, no docker)."""
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    (tmp_path / "docker").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "docker").chmod(0o755)
    out = subprocess.run(
        ["sh", "-c", facts.probe("shop", "abc")], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stderr == ""
    f = facts.parse(out.stdout)
    assert f.live_color is None and f.containers == {} and not f.image_present
    assert f.os_release.get("ID")  # this machine's /etc/os-release was read


def test_a_split_is_read_from_the_state_file_in_file_mode():
    f = facts.parse("site_head=# bluegreen site mode=file\nstate=blue r1 green r2 10 sticky\n")
    assert (f.live_color, f.live_release) == ("blue", "r1")
    assert f.split == Split("green", "r2", 10, sticky=True)
    assert f.traffic == Traffic("blue", "r1", Split("green", "r2", 10, sticky=True))


def test_a_split_is_read_from_the_live_include_header_in_reload_mode():
    f = facts.parse(
        "site_head=# bluegreen site mode=reload\n"
        "live=# bluegreen live=green release=r2 other=blue other_release=r1 percent=25 sticky=no\n"
    )
    assert f.traffic == Traffic("green", "r2", Split("blue", "r1", 25))


def test_a_tampered_split_is_not_trusted():
    f = facts.parse("site_head=# bluegreen site mode=file\nstate=blue r1 blue r2 10\n")
    assert f.live_color is None and f.split is None and f.traffic is None


def test_other_apps_sites_and_the_owners_of_our_container_names():
    f = facts.parse(
        "neighbour=# bluegreen site mode=file app=blog listen=4100 blue=4101 green=4102 domains=-\n"
        "owner_blue=owner=shop\nowner_green=owner=<no value>\n"
    )
    assert f.neighbours == [
        "# bluegreen site mode=file app=blog listen=4100 blue=4101 green=4102 domains=-"
    ]
    assert f.owners == {"blue": "shop", "green": ""}
    assert facts.parse("owner_blue=\n").owners == {}  # no container of that name


def test_the_docker_bridge_is_probed_only_for_bridge_networking():
    assert docker.bridge_probe() not in facts.probe("shop", "/srv/shop")
    assert docker.bridge_probe() in facts.probe("shop", "/srv/shop", bridge=True)


INSPECTED = (  # what docker container inspect prints for shop-green (no release label) and
    # a kept shop-blue set aside; shop-blue itself is gone
    "/shop-green|running|0123456789ab|sha256:abc|shop\n"
    "/shop-blue-prev|exited|111111111111|sha256:def|shop\n"
)


def test_one_docker_call_gives_containers_owners_and_the_set_aside(tmp_path):
    docker_cli = tmp_path / "docker"
    docker_cli.write_text(
        "#!/bin/sh\n"
        '[ "$1 $2" = "container inspect" ] || exit 1\n'
        f"printf '{INSPECTED}'\n"
        "echo 'Error: No such container: shop-blue' >&2; exit 1\n"
    )
    docker_cli.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = subprocess.run(
        ["sh", "-c", facts.probe("shop", str(tmp_path / "app"))],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    found = facts.parse(out.stdout)
    assert found.containers == {"green": facts.Container("running", "0123456789ab", "sha256:abc")}
    assert found.owners == {"green": "shop"} and found.aside == ("blue",)


def test_a_switch_reads_neither_resources_nor_certificates_unless_it_needs_them():
    switch = facts.probe("shop", "/srv/shop")
    assert "MemAvailable" not in switch and "openssl" not in switch
    assert "docker info" not in switch and switch.count("docker container inspect") == 1
    deploy = facts.probe("shop", "/srv/shop", "abc", certificate=True)
    assert "MemAvailable" in deploy and "openssl x509" in deploy


def test_default_servers_of_other_files_are_read_by_ipv4_port():
    found = facts.parse(
        "refuse=0123abcd  /etc/nginx/conf.d/00-bluegreen-refuse.conf\n"
        "default_server=\tlisten 80 default_server;\n"
        "default_server=\tlisten [::]:80 default_server;\n"
        "default_server=    listen 127.0.0.1:8443 ssl default_server;\n"
        "default_server=listen unix:/run/x.sock default_server;\n"
    )
    assert found.foreign_defaults == frozenset({80, 8443})
    assert found.refuse_md5 == "0123abcd"
    assert facts.parse("refuse=\n").foreign_defaults == frozenset()


def test_the_ports_our_default_server_refuses_are_read_from_its_header():
    assert facts.parse("refuse_head=# bluegreen refuse ports=80,443\n").refused == (80, 443)
    assert facts.parse("refuse_head=# bluegreen refuse ports=-\n").refused == ()
    assert facts.parse("refuse_head=\n").refused == ()


@pytest.mark.parametrize(
    ("line", "rejects"),
    [("nginx version: nginx/1.22.1", True), ("nginx version: nginx/1.18.0", False), ("", True)],
)
def test_nginx_before_1_19_4_cannot_reject_a_handshake(line, rejects):
    assert facts.parse(f"nginx_version={line}\n").rejects_handshake is rejects
