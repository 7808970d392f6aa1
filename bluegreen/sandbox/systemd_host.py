"""Sandbox hosts with a real systemd as pid 1 (``HostOptions(init="systemd")``).

The default sandbox host runs tini and starts sshd, nginx and dockerd itself; a host that
must prove something about systemd (units of ``runtime: process`` apps, ``systemctl enable
--now``) boots a Debian rootfs with ``systemd-nspawn --boot`` inside its own network
namespace instead, so it has its own address on the bridge and runs sshd and nginx as
systemd services, as a real server does.

The rootfs (``debootstrap`` from the Debian mirror apt uses; about 300 MB, a minute) is
made once and cached in ``<state root>/rootfs-systemd-<lists hash>``; every host sees it through an
overlay whose upper layer lives in its host dir, so what a host writes survives its
``reboot`` (the power cut of a host: its systemd is killed, then booted again).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from bluegreen import sandbox

SUITE = "bookworm"
# what a server of the process runtime has: sshd, nginx with njs, python3 for apps
PACKAGES = (
    "systemd,systemd-sysv,dbus,iproute2,openssh-server,nginx,libnginx-mod-http-js,"
    "python3,python3-venv,procps,curl,sudo"
)
# installed by apt in the new rootfs: debootstrap's own resolver leaves certbot's Python
# dependencies unconfigured; nodejs runs the Node example (the hosts reach no mirror, so
# bootstrap finds it installed)
APT_PACKAGES = ("certbot", "nodejs")
# named after its package lists, so a changed list makes a new rootfs instead of reusing one
_LISTS = hashlib.sha256(f"{PACKAGES} {APT_PACKAGES}".encode()).hexdigest()[:8]
ROOTFS = sandbox.STATE_ROOT / f"rootfs-systemd-{_LISTS}"
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SSHD_SETTINGS = (
    "UsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
    "HostKey /etc/ssh/ssh_host_ed25519_key\n"
)


def mirror(sources: Path = SOURCES) -> str:
    """The Debian mirror apt uses here (the first ``URIs:`` of its sources)."""
    found = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.MULTILINE)
    return found.group(1) if found else "http://deb.debian.org/debian"


def ensure_rootfs(root: Path = ROOTFS) -> Path:
    """The cached rootfs, made by debootstrap on first use (atomically: a partial one from
    an interrupted run is made again)."""
    if root.is_dir():
        return root
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(partial),
         mirror()],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    _apt_install(partial, APT_PACKAGES)
    for key in (partial / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()  # each host gets its own
    (partial / "etc" / "machine-id").write_text("")  # each boot makes one
    partial.rename(root)
    return root


def _apt_install(root: Path, packages: tuple[str, ...]) -> None:
    """apt-get install in a chroot of ``root`` (with this machine's /proc, /dev and DNS)."""
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    mounted = []
    try:
        for name in ("proc", "dev"):
            subprocess.run(["mount", "--bind", f"/{name}", str(root / name)], check=True)
            mounted.append(root / name)
        script = (
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
            f" --no-install-recommends {' '.join(packages)} && apt-get clean"
        )
        subprocess.run(["chroot", str(root), "sh", "-c", script], check=True, capture_output=True)
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", str(path)], check=False)


def merged(directory: Path) -> Path:
    return directory / "root"


def prepare(directory: Path, name: str, client_public_key: str) -> str:
    """The host's overlay over the rootfs and its own files in it; returns its public host
    key."""
    lower = ensure_rootfs()
    for part in ("upper", "work", "root"):
        (directory / part).mkdir(parents=True)
    mount(directory, lower)
    root = merged(directory)
    (root / "etc" / "hostname").write_text(f"{name}\n")
    (root / "etc" / "ssh" / "sshd_config.d" / "sandbox.conf").write_text(SSHD_SETTINGS)
    key = root / "etc" / "ssh" / "ssh_host_ed25519_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    home = root / "root"
    (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    (home / ".ssh" / "authorized_keys").write_text(client_public_key + "\n")
    (home / ".bashrc").write_text(sandbox.BASHRC)
    (directory / "systemd").touch()
    return Path(f"{key}.pub").read_text()


def mount(directory: Path, lower: Path = ROOTFS) -> None:
    options = f"lowerdir={lower},upperdir={directory / 'upper'},workdir={directory / 'work'}"
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(merged(directory))], check=True
    )


def unmount(directory: Path) -> None:
    """Unmount the host's overlay (after its systemd is gone), if it is mounted."""
    if os.path.ismount(merged(directory)):
        subprocess.run(["umount", "-l", str(merged(directory))], check=False)


def launch(index: int, directory: Path) -> int:
    """Boot the host's systemd in its network namespace; returns its pid (pid 1 inside)."""
    netns = sandbox.netns_name(index)
    command = [
        "setsid", "--fork", "systemd-nspawn", "--quiet", "--boot", "--register=no",
        "--keep-unit", "--console=read-only", f"--network-namespace-path=/run/netns/{netns}",
        "-M", sandbox.host_name(index), "-D", str(merged(directory)),
    ]  # fmt: skip
    with open(directory / "init.log", "ab") as log:
        subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True,
                       env=sandbox.HOST_ENV, cwd="/")  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in sandbox._netns_pids(netns):
            if sandbox._pid_namespace_init(pid) and is_ours(pid, directory):
                return pid
        time.sleep(0.02)
    raise RuntimeError(f"{sandbox.host_name(index)}: systemd did not boot; see init.log")


def is_ours(pid: int, directory: Path) -> bool:
    """The pid is the systemd that this host's nspawn booted (guards against pid reuse)."""
    try:
        parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return False
    return f" -D {merged(directory)} " in f" {sandbox._cmdline(int(parent))} "


def reboot(host: sandbox.SandboxHost, state: Path = sandbox.DEFAULT_STATE) -> sandbox.SandboxHost:
    """A power cut and a boot: the host's systemd is killed with everything it runs, then
    booted again from the same disk; returns when sshd and nginx answer again."""
    directory = sandbox.host_dir(state, host.name)
    sandbox._kill_and_wait({host.init_pid})
    pid = launch(sandbox.host_index(host.name), directory)
    (directory / "init.pid").write_text(f"{pid}\n")
    booted = sandbox.SandboxHost(host.name, host.address, pid)
    deadline = time.monotonic() + sandbox.READY_TIMEOUT
    for port in (22, 80):
        sandbox._wait_port(booted, port, directory, deadline)
    return booted
