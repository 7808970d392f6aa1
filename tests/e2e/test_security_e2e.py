"""Security checks on real hosts (issue 15): secret files private, no secret in a process
list on the controller, and host keys from hashed known_hosts entries and a host CA.

The deploy under test serves HTTPS with the operator's own certificate (``tls: files``)
and has two secrets: one from a 0600 file, one from the operator's environment.
"""

import os
import re
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import trustme

from bluegreen import sandbox as sb
from bluegreen.testing.demo import FAB, PROJECT, fab, write_inventory
from bluegreen.testing.load import Load

from .support import RETRYING, SECRET, assert_no_failures, lock_held, restart_sshd
from .test_tls_e2e import DOMAINS, FRESH_HOST, HOSTS, issue
from .test_tls_e2e import inventory as tls_inventory

pytestmark = pytest.mark.e2e

ENV_SECRET = "env-s3cret-value"
# every file a deploy writes on a host that holds a secret: env files and TLS keys
PRIVATE = "find /srv/example /etc/nginx/bluegreen -type f \\( -name '*.env' -o -name '*.key' \\)"


def _processes_with(secrets: list[str], under: int) -> list[str]:
    """The controller's processes (``under`` and its descendants) whose argv or environment
    holds a secret; fab's own environment may (the operator put the variable there)."""
    found = []
    try:
        own = Path(f"/proc/{under}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return found  # fab ended meanwhile
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            parent = int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            env = Path(f"/proc/{entry}/environ").read_bytes().decode(errors="replace")
        except (OSError, AttributeError):
            continue  # ended meanwhile
        mine = int(entry) == under or _descends(int(entry), under)
        # fab itself, or a child it forked that has not exec'd yet (a copy of fab, its
        # environment too, until exec gives it the filtered one: seen once in CI)
        where = argv if int(entry) == under or argv == own else argv + env
        if (mine or parent == under) and any(s in where for s in secrets):
            found.append(f"{entry}: {argv.replace(chr(0), ' ')[:120]}")
    return found


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        pid = int(re.search(r"^PPid:\s+(\d+)", status, re.M).group(1))
        if pid == ancestor:
            return True
    return False


def _watched_fab(env: dict, secrets: list[str], *args: str) -> tuple[int, str, list[str]]:
    """fab's exit code and output, and every process of its tree seen with a secret."""
    seen: list[str] = []
    process = subprocess.Popen(
        [str(FAB), *args], cwd=PROJECT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    watcher = threading.Thread(target=_watch, args=(process, secrets, seen))
    watcher.start()
    output, _ = process.communicate(timeout=240)
    watcher.join()
    return process.returncode, output, seen


def _watch(process: subprocess.Popen, secrets: list[str], seen: list[str]) -> None:
    """Look at the process tree every 20 ms until ``process`` ends."""
    while process.poll() is None:
        seen.extend(_processes_with(secrets, process.pid))
        time.sleep(0.02)


@pytest.fixture
def secure(sandbox, app_repo, tmp_path):
    """The TLS site's inventory with a second secret from the environment, on fresh hosts."""
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    ca = trustme.CA()
    chain, key, key_text = issue(ca, tmp_path, "site")
    path = tls_inventory(tmp_path / "hosts.yml", app_repo.path, "file", chain, key)
    path.write_text(
        path.read_text().replace("secrets: {", "secrets: {SHOP_TOKEN: env:BG_SHOP_TOKEN, ")
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    yield path, hosts, app_repo.releases, context, key_text
    for host in hosts:
        sb.run_in(host, FRESH_HOST)


def test_secret_files_are_private_and_no_secret_is_in_a_controller_process(secure):
    path, hosts, releases, context, key_text = secure
    secrets = [SECRET, ENV_SECRET, key_text.splitlines()[1]]
    env = {**os.environ, "FABRIC_BLUEGREEN_INVENTORY": str(path), "BG_SHOP_TOKEN": ENV_SECRET}
    first = _watched_fab(env, secrets, "deploy", "--ref", "v1")  # the hosts were fresh
    targets = [(h.address, 443) for h in hosts]
    with Load(
        targets, kinds=RETRYING, tls=context, server_name=DOMAINS[0], max_seconds=120
    ) as load:
        second = _watched_fab(env, secrets, "deploy", "--ref", "v2")
    for code, output, seen in (first, second):
        assert code == 0, output
        assert not any(s in output for s in secrets), output
        assert seen == [], seen  # no child of fab had a secret in its argv or environment
    for host in hosts:
        modes = sb.run_in(host, f"{PRIVATE} -exec stat -c '%a %U %n' {{}} +").stdout.split("\n")
        modes = [m for m in modes if m]
        assert any(m.endswith(".env") for m in modes) and any(m.endswith(".key") for m in modes)
        for line in modes:
            mode, owner, name = line.split(" ", 2)
            assert mode in ("600", "400") and owner == "root", (host.name, line)
        # the secrets are nowhere else in the deploy's files, and in no process's argv
        holders = sb.run_in(
            host,
            f"grep -rlF -e {SECRET} -e {ENV_SECRET} /srv/example /etc/nginx; true",
        ).stdout.split()
        assert all(h.endswith(".env") for h in holders), (host.name, holders)
        argv = sb.run_in(host, "ps -eo args").stdout
        assert SECRET not in argv and ENV_SECRET not in argv
        assert not lock_held(host)
    print(f"\n{load.report()}")
    assert_no_failures(load)


# -- host keys: hashed known_hosts entries and a host certificate authority -----------------


def _keygen(*args: str) -> None:
    subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True)


def _with_known_hosts(path, known_hosts) -> os.PathLike:
    out = path.with_name(f"kh-{known_hosts.name}.yml")
    out.write_text(re.sub(r"known_hosts: .*", f"known_hosts: {known_hosts}", path.read_text()))
    return out


@pytest.fixture
def plain(sandbox, app_repo, tmp_path):
    hosts = [h for h in sandbox if h.name in HOSTS]
    return write_inventory(tmp_path / "hosts.yml", app_repo.path, HOSTS), hosts


def test_hashed_known_hosts_entries_are_checked(plain, tmp_path):
    path, hosts = plain
    hashed = tmp_path / "hashed_known_hosts"
    hashed.write_text((sb.DEFAULT_STATE / "known_hosts").read_text())
    _keygen("-H", "-f", str(hashed))
    assert all(line.startswith("|1|") for line in hashed.read_text().splitlines() if line)
    result = fab(_with_known_hosts(path, hashed), "status")
    assert result.returncode == 0, result.output
    # a hashed entry with another key is a changed key, refused as ever
    _keygen("-t", "ed25519", "-N", "", "-f", str(tmp_path / "other"))
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"{hosts[0].address} {other}\n")
    _keygen("-H", "-f", str(wrong))
    refused = fab(_with_known_hosts(path, wrong), "-H", hosts[0].name, "status")
    assert "host key CHANGED" in refused.output, refused.output


def test_a_host_ca_in_known_hosts_is_refused_clearly_unless_the_host_key_is_there(plain, tmp_path):
    path, hosts = plain
    host = hosts[0]
    folder = sb.host_dir(sb.DEFAULT_STATE, host.name)
    _keygen("-t", "ed25519", "-N", "", "-f", str(tmp_path / "ca"))
    cert = folder / "ssh_host_ed25519_key-cert.pub"
    _keygen("-s", str(tmp_path / "ca"), "-I", host.name, "-h", "-n", host.address,
            str(folder / "ssh_host_ed25519_key.pub"))  # fmt: skip
    config = folder / "sshd_config-ca"  # where the host sees it (its /tmp is its own)
    config.write_text((folder / "sshd_config").read_text() + f"HostCertificate {cert}\n")
    ca_line = f"@cert-authority {host.address} {(tmp_path / 'ca.pub').read_text().strip()}\n"
    only_ca = tmp_path / "ca_known_hosts"
    only_ca.write_text(ca_line)
    started = sb.run_in(
        host, f"kill $(cat /run/sshd.pid); sleep 0.3; /usr/sbin/sshd -f {config}", check=False
    )
    try:
        assert started.returncode == 0, started.stderr
        # OpenSSH itself trusts the host through the CA: the setup is real
        ssh = subprocess.run(
            ["ssh", "-i", str(sb.DEFAULT_STATE / "id_ed25519"), "-o", "BatchMode=yes",
             "-o", f"UserKnownHostsFile={only_ca}", "-o", "StrictHostKeyChecking=yes",
             f"root@{host.address}", "true"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert ssh.returncode == 0, ssh.stderr
        for policy in ("strict", "accept-new"):  # accept-new must not record the key instead
            inv = _with_known_hosts(path, only_ca)
            inv.write_text(inv.read_text().replace("host_keys: strict", f"host_keys: {policy}"))
            refused = fab(inv, "-H", host.name, "status")
            assert refused.returncode != 0, refused.output
            assert (
                f"{only_ca} line 1: @cert-authority (host certificates) is not supported and"
                f" {host.address} has no key of its own there" in refused.output
            ), refused.output
            assert only_ca.read_text() == ca_line  # nothing recorded
        both = tmp_path / "both_known_hosts"
        both.write_text(ca_line + (sb.DEFAULT_STATE / "known_hosts").read_text())
        result = fab(_with_known_hosts(path, both), "-H", host.name, "status")
        assert result.returncode == 0, result.output  # its own key, with a cert offered
    finally:
        sb.run_in(host, "kill $(cat /run/sshd.pid)", check=False)
        time.sleep(0.3)
        restart_sshd(host)
        cert.unlink(missing_ok=True)
        config.unlink(missing_ok=True)
