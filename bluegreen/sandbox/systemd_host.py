"""Sandbox hosts with a real systemd as pid 1 (``HostOptions(init="systemd")``).

The default sandbox host runs tini and starts sshd, nginx and dockerd itself; a host that
must prove something about systemd (units of ``runtime: process`` apps, ``systemctl enable
--now``) boots a Debian rootfs with ``systemd-nspawn --boot`` inside its own network
namespace instead, so it has its own address on the bridge and runs sshd and nginx as
systemd services, as a real server does.

The rootfs (``debootstrap`` from the Debian mirror apt uses; ~350 MB, 2 min here) is
made once per user and cached in ``~/.cache/bluegreen`` (``$XDG_CACHE_HOME``), shared by
every repository and sandbox instance; its name carries a digest of what it is made of,
so a change of packages makes a new one. Every host sees it through an overlay whose
upper layer lives in its host dir, so what a host writes survives its ``reboot`` (the
power cut of a host: its systemd is killed, then booted again).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
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
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SSHD_SETTINGS = (
    "UsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
    "HostKey /etc/ssh/ssh_host_ed25519_key\n"
)
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bluegreen"
_RECIPE = hashlib.sha256(f"{SUITE} {PACKAGES} {APT_PACKAGES}".encode()).hexdigest()[:8]
ROOTFS = CACHE / f"rootfs-{SUITE}-{_RECIPE}"
# debootstrap's "I: <Verb> ..." lines -> the stage shown (others keep the current stage)
STAGES = {
    "Retrieving": "downloading",
    "Validating": "downloading",
    "Resolving": "resolving dependencies",
    "Extracting": "extracting",
    "Installing": "installing core packages",
    "Unpacking": "unpacking",
    "Configuring": "configuring",
}
MOUNTINFO = Path("/proc/self/mountinfo")  # this machine's mounts, overlays' layers included
HEARTBEAT = 30.0  # seconds between "still <stage>" lines within one long stage
Say = Callable[[str], None]


def mirror(sources: Path = SOURCES) -> str:
    """The Debian mirror apt uses here (the first ``URIs:`` of its sources)."""
    found = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.MULTILINE)
    return found.group(1) if found else "http://deb.debian.org/debian"


def megabytes(path: Path) -> int:
    """Disk space used by ``path`` (du), in MB."""
    done = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=False)
    return int(done.stdout.split()[0]) if done.stdout else 0


@contextlib.contextmanager
def _exclusive(root: Path, say: Say) -> Iterator[None]:
    """One build at a time per cache (several sandboxes of one user may start at once)."""
    with open(root.with_name(root.name + ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another run's build of {root}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_rootfs(root: Path = ROOTFS, say: Say = print) -> Path:
    """The cached rootfs, made by debootstrap on first use with a line per stage (a
    partial one from an interrupted run is never used: it is renamed into place whole)."""
    if root.is_dir():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(root, say):
        if not root.is_dir():  # not made by another run while this one waited
            _build(root, say)
    return root


def _build(root: Path, say: Say) -> None:
    started = time.monotonic()

    def stage(text: str) -> None:
        say(f"  {time.monotonic() - started:5.0f} s  {text}")

    for stale in root.parent.glob(f"{root.name}.*.partial"):
        _remove_tree(stale)  # left by a run that was killed (no build runs: we hold the lock)
    say(f"building the systemd rootfs (Debian {SUITE}), once per user, in {root}: minutes")
    partial = Path(tempfile.mkdtemp(prefix=f"{root.name}.", suffix=".partial", dir=root.parent))
    try:
        _debootstrap(partial, stage)
        stage(f"apt-get install {' '.join(APT_PACKAGES)}")
        _apt_install(partial, APT_PACKAGES)
        for key in (partial / "etc" / "ssh").glob("ssh_host_*"):
            key.unlink()  # each host gets its own
        (partial / "etc" / "machine-id").write_text("")  # each boot makes one
        partial.chmod(0o755)  # mkdtemp made it 0700: the hosts' / must be readable
        partial.rename(root)
    except BaseException:
        _remove_tree(partial)
        raise
    stage(f"done: {megabytes(root)} MB")


def _debootstrap(target: Path, stage: Say) -> None:
    """debootstrap into ``target``, telling each stage as it starts (and every HEARTBEAT
    seconds of a long one); its last lines are in the error when it fails."""
    command = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(target),
               mirror()]  # fmt: skip
    seen: list[str] = []
    current, since = "", time.monotonic()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LC_ALL": "C"}) as process:  # fmt: skip
        for line in process.stdout or ():
            seen = [*seen[-19:], line.rstrip()]
            label = stage_of(line, current)
            if label and (label != current or time.monotonic() - since > HEARTBEAT):
                current, since = label, time.monotonic()
                stage(f"{label}: {line[3:].strip()}")
    if process.returncode:
        tail = "\n".join(seen)
        raise RuntimeError(f"debootstrap failed (exit {process.returncode}):\n{tail}")


def stage_of(line: str, current: str) -> str:
    """The stage a line of debootstrap's output belongs to (``I: Retrieving ...`` is
    downloading; a line that starts no stage stays in ``current``)."""
    verb = line[3:].split(" ", 1)[0] if line.startswith("I: ") else ""
    return STAGES.get(verb, current)


def _remove_tree(path: Path) -> None:
    """Remove a (partial) rootfs, unmounting first whatever is mounted below it, so the
    removal never reaches into this machine's /proc or /dev."""
    below = [m for m in _mount_points() if Path(m).is_relative_to(path)]
    for point in sorted(below, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    shutil.rmtree(path, ignore_errors=True)


def _mount_points() -> list[str]:
    return [line.split()[4] for line in MOUNTINFO.read_text().splitlines()]


def in_use(root: Path) -> bool:
    """Some host (of any sandbox of this user) has an overlay over ``root``."""
    return f"lowerdir={root}," in MOUNTINFO.read_text()


def remove_cache(say: Say = print) -> None:
    """Remove the cached rootfs builds (with their leftovers) that no running host uses and
    no build is making now (``sandbox.down --cache``)."""
    names = sorted({path.name.partition(".")[0] for path in CACHE.glob("rootfs-*")})
    if not names:
        say(f"no cached rootfs in {CACHE}")
    for name in names:
        root = CACHE / name
        if in_use(root):
            say(f"kept {root}: a running sandbox host uses it")
            continue
        with open(root.with_name(name + ".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"kept {root}: it is being built")
                continue
            parts = sorted(CACHE.glob(f"{name}*"))
            size = sum(megabytes(part) for part in parts if part.is_dir())
            for part in parts:
                if part.is_dir():
                    _remove_tree(part)
                else:
                    part.unlink()
        say(f"removed {root} ({size} MB)")


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
