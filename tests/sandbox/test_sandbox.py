"""Unit tests of the sandbox's pure parts (no root, no namespaces)."""

import os
import tarfile
from pathlib import Path

import pytest

from bluegreen import sandbox


def test_names_and_addresses_follow_the_index():
    assert sandbox.host_name(1) == "sandbox1"
    assert sandbox.host_address(1) == f"{sandbox.SUBNET}.11"
    assert sandbox.host_address(3) == f"{sandbox.SUBNET}.13"
    assert sandbox.netns_name(2) == f"{sandbox.NETNS_PREFIX}2"
    assert sandbox.veth_name(12) == f"{sandbox.VETH_PREFIX}12"
    assert len(sandbox.veth_name(sandbox.MAX_HOSTS)) <= 15  # Linux interface name limit


def test_host_index_inverts_host_name():
    assert sandbox.host_index(sandbox.host_name(7)) == 7
    with pytest.raises(ValueError):
        sandbox.host_index("web1")


def test_host_dir_is_under_state_hosts(tmp_path):
    assert sandbox.host_dir(tmp_path, "sandbox2") == tmp_path / "hosts" / "sandbox2"


def test_default_state_is_under_dot_bluegreen_never_in_the_package():
    assert sandbox.DEFAULT_STATE.parent == sandbox.STATE_ROOT
    assert sandbox.DEFAULT_STATE.name == (
        f"sandbox{sandbox.INSTANCE}" if sandbox.INSTANCE else "sandbox"
    )
    package = Path(sandbox.__file__).resolve().parents[1]
    assert package not in sandbox.DEFAULT_STATE.parents
    assert sandbox.INIT_SCRIPT.exists()


def test_sshd_config_listens_on_the_host_only_and_allows_key_logins():
    text = sandbox.render_sshd_config(
        "10.210.0.11", Path("/s/hosts/sandbox1/ssh_host_ed25519_key"), ".ssh/authorized_keys"
    )
    lines = text.splitlines()
    for expected in [
        "ListenAddress 10.210.0.11:22",
        "HostKey /s/hosts/sandbox1/ssh_host_ed25519_key",
        "AuthorizedKeysFile .ssh/authorized_keys",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PidFile /run/sshd.pid",
        "AllowTcpForwarding yes",
    ]:
        assert expected in lines
    assert any(line.startswith("Subsystem sftp ") for line in lines)
    assert text.endswith("\n")


def test_known_hosts_line_drops_the_comment():
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvf sandbox1\n"
    assert sandbox.known_hosts_line("10.210.0.11", pub) == (
        "10.210.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvf"
    )


def test_bashrc_does_nothing():
    code = [line for line in sandbox.BASHRC.splitlines() if not line.startswith("#")]
    assert code == []


@pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="needs busybox-static")
def test_busybox_rootfs_has_busybox_and_applet_links(tmp_path):
    with tarfile.open(sandbox._busybox_rootfs_tar(tmp_path / "rootfs.tar")) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert members["bin/busybox"].isfile()
    for applet in ("bin/sh", "usr/sbin/httpd", "usr/bin/wget", "bin/cat", "bin/sleep"):
        assert members[applet].issym() and members[applet].linkname == "/bin/busybox"
    assert members["tmp"].mode == 0o1777
    assert "etc/passwd" in members


@pytest.mark.skipif(not Path("/etc/nginx/nginx.conf").exists(), reason="needs nginx")
def test_pristine_nginx_config_keeps_only_the_default_site(tmp_path):
    target = tmp_path / "etc-nginx"
    sandbox._pristine_nginx_config(target)
    assert "include /etc/nginx/conf.d/*.conf;" in (target / "nginx.conf").read_text()
    assert list((target / "conf.d").iterdir()) == []
    enabled = list((target / "sites-enabled").iterdir())
    assert [p.name for p in enabled] == ["default"]
    assert os.readlink(enabled[0]) == "/etc/nginx/sites-available/default"
    assert all(p.resolve().exists() for p in (target / "modules-enabled").iterdir())


def test_remove_container_cgroups_removes_only_sandbox_trees(tmp_path):
    (tmp_path / "pids" / f"{sandbox.NETNS_PREFIX}1" / "abc123").mkdir(parents=True)
    (tmp_path / "memory" / "agent" / "x" / f"{sandbox.NETNS_PREFIX}2" / "def").mkdir(parents=True)
    (tmp_path / "pids" / "docker" / "keep").mkdir(parents=True)
    sandbox._remove_container_cgroups(tmp_path)
    assert not (tmp_path / "pids" / f"{sandbox.NETNS_PREFIX}1").exists()
    assert not (tmp_path / "memory" / "agent" / "x" / f"{sandbox.NETNS_PREFIX}2").exists()
    assert (tmp_path / "pids" / "docker" / "keep").is_dir()


def test_up_rejects_a_bad_count(tmp_path):
    with pytest.raises(ValueError):
        sandbox.up(0, state=tmp_path)
    with pytest.raises(ValueError):
        sandbox.up(sandbox.MAX_HOSTS + 1, state=tmp_path)


def test_current_process_is_not_a_pid_namespace_init():
    assert not sandbox._pid_namespace_init(os.getpid())
