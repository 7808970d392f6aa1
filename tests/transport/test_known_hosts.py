import subprocess

import paramiko
import pytest

from bluegreen.config.inventory import Host
from bluegreen.errors import RemoteError
from bluegreen.transport import known_hosts
from bluegreen.transport.ssh import Remote


@pytest.fixture
def key(tmp_path) -> str:
    """'ssh-ed25519 AAAA...' of a fresh key."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    return " ".join((tmp_path / "k.pub").read_text().split()[:2])


def _host(path, port=22) -> Host:
    return Host(name="web1", address="10.0.0.5", port=port, known_hosts=path)


def _known(path) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    known_hosts.load(path, keys)
    return keys


def test_markers_are_found_with_their_line_numbers(tmp_path, key):
    path = tmp_path / "known_hosts"
    path.write_text(f"# comment\n10.0.0.9 {key}\n@cert-authority *.lan {key}\n\n@revoked * {key}\n")
    assert known_hosts.markers(path) == [(3, "@cert-authority"), (5, "@revoked")]
    assert known_hosts.markers(tmp_path / "missing") == []


def test_load_skips_marker_lines_where_paramiko_itself_raises(tmp_path, key):
    path = tmp_path / "known_hosts"
    path.write_text(f"@cert-authority * {key}\n10.0.0.5 {key}\nnot a key line\n")
    with pytest.raises(paramiko.hostkeys.InvalidHostKey):
        paramiko.HostKeys().load(str(path))
    assert list(_known(path)) == ["10.0.0.5"]
    assert list(_known(tmp_path / "missing")) == []


def test_a_hashed_entry_needs_no_refusal_and_paramiko_finds_it(tmp_path, key):
    path = tmp_path / "known_hosts"
    path.write_text(f"10.0.0.5 {key}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
    assert path.read_text().startswith("|1|")  # hashed, no address in the clear
    assert _known(path).lookup("10.0.0.5") is not None
    assert known_hosts.refusal(_host(path), _known(path)) is None


def test_a_host_known_only_through_a_cert_authority_is_refused_with_the_fix(tmp_path, key):
    path = tmp_path / "known_hosts"
    path.write_text(f"10.0.0.9 {key}\n@cert-authority 10.0.0.* {key}\n")
    assert known_hosts.refusal(_host(path, port=2222), _known(path)) == (
        f"{path} line 2: @cert-authority (host certificates) is not supported and 10.0.0.5 has"
        f" no key of its own there: check its key, then add it:"
        f" ssh-keyscan -H -p 2222 10.0.0.5 >> {path}"
    )


def test_a_cert_authority_line_beside_the_hosts_own_key_is_fine(tmp_path, key):
    path = tmp_path / "known_hosts"
    path.write_text(f"@cert-authority 10.0.0.* {key}\n[10.0.0.5]:2222 {key}\n")
    assert known_hosts.refusal(_host(path, port=2222), _known(path)) is None
    assert known_hosts.refusal(_host(path), _known(path)) is not None  # port 22: not known


def test_a_revoked_line_is_refused_as_it_cannot_be_honoured(tmp_path, key):
    path = tmp_path / "known_hosts"
    path.write_text(f"10.0.0.5 {key}\n@revoked * {key}\n")
    assert known_hosts.refusal(_host(path), _known(path)) == (
        f"{path} line 2: @revoked is not supported (bluegreen's SSH, paramiko, would ignore it):"
        " delete the revoked key's own lines and this line"
    )


def test_the_refusal_comes_before_any_connection(tmp_path, key):
    path = tmp_path / "known_hosts"
    path.write_text(f"@cert-authority * {key}\n")
    # 192.0.2.1 (TEST-NET) is never connected to: the refusal is raised first
    remote = Remote(Host(name="web1", address="192.0.2.1", known_hosts=path, host_keys="strict"))
    with pytest.raises(RemoteError, match=r"line 1: @cert-authority .* not supported"):
        remote.open()
    assert remote.connection.transport is None
