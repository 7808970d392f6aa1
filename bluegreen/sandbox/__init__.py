"""A local fleet of simulated servers for end-to-end tests and demos.

Each sandbox host is a set of Linux namespaces on this machine (needs root):
its own network namespace ``bg-sandboxN`` on the bridge ``bgbr0``
(10.210.0.0/24; host N answers on 10.210.0.(10+N)), plus its own pid, mount
and uts namespaces, running a real OpenSSH sshd, Debian's nginx and a
dockerd, so the tool is exercised against the same programs as on a server.

Everything a host owns lives under ``<state>/hosts/sandboxN/``. The client
key ``<state>/id_ed25519`` logs in as root on every host, and
``<state>/known_hosts`` holds every host's real key for strict checking.
``host-init.sh`` (beside this module) is the init that runs inside each host. The state
directory is ``.bluegreen/sandbox`` in the current directory (your app's repository, or
this checkout), or ``$BLUEGREEN_STATE_DIR/sandbox``: never inside the installed package.

A host can start **bare** (sshd only: no nginx or dockerd running, an empty
/etc/nginx, no docker state) to exercise ``fab bootstrap``, with its own
/etc/os-release (to pose as another distribution) and extra private
directories; ``add_host`` adds such a host to a running fleet. A host with
``HostOptions(init="systemd")`` boots a real systemd instead of tini (``systemd_host``).

Command line: ``python -m bluegreen.sandbox up [COUNT] [--bare] | add INDEX [--bare]
[--os-release FILE] [--systemd] | remove NAME | down | status``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

INIT_SCRIPT = Path(__file__).resolve().parent / "host-init.sh"

# Sandboxes can run side by side (two test runs, a benchmark): BLUEGREEN_SANDBOX=N (0-9)
# gives instance N its own bridge, subnet 10.(210+N).0.0/24, names and state directory.
INSTANCE = int(os.environ.get("BLUEGREEN_SANDBOX") or 0)
_TAG = str(INSTANCE) if INSTANCE else ""
STATE_ROOT = Path(os.environ.get("BLUEGREEN_STATE_DIR") or Path.cwd() / ".bluegreen").absolute()
DEFAULT_STATE = STATE_ROOT / f"sandbox{_TAG}"
SUBNET = f"10.{210 + INSTANCE}.0"
BRIDGE = f"bgbr{INSTANCE}"
BRIDGE_ADDRESS = f"{SUBNET}.1"
PREFIX_LENGTH = 24
NETNS_PREFIX = f"bg{_TAG}-sandbox"
VETH_PREFIX = f"bg{_TAG}-veth"
BASE_IMAGE = "bluegreen-base:busybox"
BASE_TAR = "base-busybox.tar"
MAX_HOSTS = 50

# The environment of everything started inside a host: what a root login
# on a fresh server would have, not the caller's (pyenv, venv, ...).
HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}

# Logins besides root, as on real servers (EC2's ubuntu / ec2-user): SUDO_USER has
# passwordless sudo, PLAIN_USER has none. Accounts live in this machine's /etc (shared by
# every host); each host has its own home for each (its key, an empty .bashrc).
SUDO_USER = "bgdeploy"
PLAIN_USER = "bgplain"
LOGINS = (SUDO_USER, PLAIN_USER)
SUDOERS = Path("/etc/sudoers.d/bluegreen-sandbox")

# Per-host directories bind-mounted by host-init.sh, in this order: (name under the host
# dir, mount point). /var/log is private so a dockerd started by bootstrap logs per host.
HOST_MOUNTS = (
    ("var-log", "/var/log"),
    ("etc-nginx", "/etc/nginx"),
    ("var-log-nginx", "/var/log/nginx"),
    ("var-lib-nginx", "/var/lib/nginx"),
    ("srv", "/srv"),
    ("var-lib-docker", "/var/lib/docker"),
    ("etc-docker", "/etc/docker"),
    ("root", "/root"),
    *((f"home-{user}", f"/home/{user}") for user in LOGINS),
    # certbot's state and the ACME webroot: every host has its own account and certificates
    ("etc-letsencrypt", "/etc/letsencrypt"),
    ("var-lib-letsencrypt", "/var/lib/letsencrypt"),
    ("var-lib-bluegreen", "/var/lib/bluegreen"),
)


READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class HostOptions:
    """How a host starts: bare (sshd only), posing as another OS, with more private dirs."""

    bare: bool = False
    os_release: str | None = None  # content bind-mounted over /etc/os-release
    private: tuple[str, ...] = ()  # absolute paths that get an empty per-host directory
    init: str = "tini"  # or "systemd": a Debian rootfs booted by systemd-nspawn (systemd_host)


@dataclass(frozen=True)
class SandboxHost:
    """One running sandbox host; init_pid is its pid-namespace PID 1 as seen from outside."""

    name: str
    address: str
    init_pid: int


# --- names and addresses -------------------------------------------------


def host_name(index: int) -> str:
    return f"sandbox{index}"


def host_address(index: int) -> str:
    return f"{SUBNET}.{10 + index}"


def netns_name(index: int) -> str:
    return f"{NETNS_PREFIX}{index}"


def veth_name(index: int) -> str:
    """Root-side end of the host's veth pair (the host side is eth0)."""
    return f"{VETH_PREFIX}{index}"


def host_index(name: str) -> int:
    """Inverse of host_name: 'sandbox3' -> 3."""
    if not name.startswith("sandbox") or not name[len("sandbox") :].isdigit():
        raise ValueError(f"not a sandbox host name: {name!r}")
    return int(name[len("sandbox") :])


def host_dir(state: Path, name: str) -> Path:
    return state / "hosts" / name


# --- rendered files ------------------------------------------------------


def render_sshd_config(address: str, host_key: Path, authorized_keys: str) -> str:
    """sshd_config of one host: listens only on its own address, key logins (root and the
    other logins; ``authorized_keys`` relative to each one's home)."""
    return "\n".join(
        [
            f"ListenAddress {address}:22",
            f"HostKey {host_key}",
            f"AuthorizedKeysFile {authorized_keys}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PidFile /run/sshd.pid",
            "AllowTcpForwarding yes",
            "PrintMotd no",
            "AcceptEnv LANG LC_*",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "",
        ]
    )


def dockerd_settings(name: str) -> dict[str, object]:
    """The sandbox-only dockerd settings that host-init.sh passes as flags.

    A bare host gets them in /etc/docker/daemon.json instead, so a plain ``dockerd``
    started by bootstrap works here too (and bootstrap's merge must keep them).
    """
    return {
        "data-root": "/var/lib/docker",
        "exec-root": "/run/docker-exec",
        "pidfile": "/run/docker.pid",
        "hosts": ["unix:///run/docker.sock"],
        "bridge": "none",
        "iptables": False,
        "ip-masq": False,
        "ip-forward": False,
        "cgroup-parent": netns_name(host_index(name)),
    }


def private_dir_name(path: str) -> str:
    """Name under the host dir of an extra private directory: /var/lib/rpm -> p-var-lib-rpm."""
    return "p" + path.rstrip("/").replace("/", "-")


def known_hosts_line(address: str, host_public_key: str) -> str:
    """known_hosts entry from the text of an ssh-keygen .pub file ('type key comment')."""
    key_type, key = host_public_key.split()[:2]
    return f"{address} {key_type} {key}"


# Keeps SSH commands as fast as on a fresh server: bash sources ~/.bashrc for
# every command sshd runs, and this machine's own one is slow (pyenv).
BASHRC = "# sandbox host: deliberately empty so every SSH command starts fast\n"


# --- small helpers ---------------------------------------------------------


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def _pid_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _netns_pids(netns: str) -> list[int]:
    out = _run("ip", "netns", "pids", netns, check=False).stdout
    return [int(pid) for pid in out.split()]


def _pid_namespace_init(pid: int) -> bool:
    """True for a process that is PID 1 of a nested pid namespace (our tini)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    nspids = next(
        (line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), []
    )
    return len(nspids) > 1 and nspids[-1] == "1"


# --- teardown ------------------------------------------------------------


def _recorded_hosts(state: Path) -> list[tuple[str, Path, int]]:
    """(name, host dir, recorded init pid) for every host dir with a pid file."""
    found = []
    for pid_file in sorted((state / "hosts").glob("sandbox*/init.pid")):
        try:
            pid = int(pid_file.read_text())
        except ValueError:
            continue
        found.append((pid_file.parent.name, pid_file.parent, pid))
    return found


def _is_our_init(pid: int, directory: Path) -> bool:
    """Guards against pid reuse: the recorded pid must still be that host's tini (or the
    systemd booted from its overlay)."""
    from bluegreen.sandbox import systemd_host

    ours = f" {directory} " in f" {_cmdline(pid)} " or systemd_host.is_ours(pid, directory)
    return _pid_alive(pid) and ours


def _kill_and_wait(pids: set[int], timeout: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_pid_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"sandbox processes did not die: {sorted(pids)}")
        time.sleep(0.01)


def _sandbox_netns() -> list[str]:
    netns_dir = Path("/run/netns")
    if not netns_dir.is_dir():
        return []
    return sorted(p.name for p in netns_dir.iterdir() if p.name.startswith(NETNS_PREFIX))


def _remove_container_cgroups(
    root: Path = Path("/sys/fs/cgroup"), depth: int = 4, prefix: str = NETNS_PREFIX
) -> None:
    """Removes the hosts' empty cgroups (--cgroup-parent bg-sandboxN), which outlive a SIGKILL.

    ``prefix`` names which: every host's (default) or one host's (``bg-sandbox7``).
    """

    def ours(name: str) -> bool:
        return name == prefix or (prefix == NETNS_PREFIX and name.startswith(prefix))

    found = []
    for top, dirs, _ in os.walk(root):
        if len(Path(top).relative_to(root).parts) >= depth:
            dirs.clear()
        found += [Path(top) / d for d in dirs if ours(d)]
        dirs[:] = [d for d in dirs if not ours(d)]
    for parent in found:
        for top, _, _ in os.walk(parent, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(top)


def _remove_mount_points(directory: Path) -> None:
    """Removes the (empty) mount points that starting this host had to create on this machine."""
    made = directory / "made-mount-points"
    for path in made.read_text().split() if made.exists() else ():
        with contextlib.suppress(OSError):
            os.rmdir(path)


def _unmount_systemd_root(directory: Path) -> None:
    from bluegreen.sandbox import systemd_host

    systemd_host.unmount(directory)


def down(state: Path = DEFAULT_STATE) -> None:
    """Ends every sandbox host and removes its network and files; keeps the client key.

    Also cleans up after a crashed run: a namespace without a recorded pid is
    ended through the processes inside it (never by process name).
    """
    state = Path(state)
    pids = {pid for _, directory, pid in _recorded_hosts(state) if _is_our_init(pid, directory)}
    for netns in _sandbox_netns():
        pids.update(pid for pid in _netns_pids(netns) if _pid_namespace_init(pid))
    _kill_and_wait(pids)
    # Stragglers, e.g. an nsenter of run_in left outside the pid namespace.
    _kill_and_wait({pid for netns in _sandbox_netns() for pid in _netns_pids(netns)})
    for netns in _sandbox_netns():
        _run("ip", "netns", "del", netns, check=False)
    for link in sorted(os.listdir("/sys/class/net")):
        if link.startswith(VETH_PREFIX) or link == BRIDGE:
            _run("ip", "link", "del", link, check=False)
    _remove_container_cgroups()
    for directory in (state / "hosts").glob("sandbox*"):
        _remove_mount_points(directory)
        _unmount_systemd_root(directory)
    shutil.rmtree(state / "hosts", ignore_errors=True)
    for leftover in ("known_hosts", BASE_TAR):
        (state / leftover).unlink(missing_ok=True)


# --- bring-up --------------------------------------------------------------


def _ensure_client_key(state: Path) -> str:
    """The one key pair that logs in on every host; returns the public key line."""
    key = state / "id_ed25519"
    if not key.exists():
        _run(
            "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bluegreen-sandbox", "-f", str(key)
        )
    return Path(f"{key}.pub").read_text().strip()


def _tar_entry(
    name: str, kind: bytes, mode: int, target: str = "", size: int = 0
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.size = kind, mode, target, size
    return info


def _busybox_rootfs_tar(path: Path) -> Path:
    """A rootfs with Debian's static busybox and a link per applet, for `docker import`."""
    applets = _run("/bin/busybox", "--list-full").stdout.split()
    files = {
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
    }
    with tarfile.open(path, "w") as tar:
        for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root"):
            tar.addfile(_tar_entry(directory, tarfile.DIRTYPE, 0o755))
        tar.addfile(_tar_entry("tmp", tarfile.DIRTYPE, 0o1777))
        tar.add("/bin/busybox", "bin/busybox")
        for applet in applets:
            if applet != "bin/busybox":
                tar.addfile(_tar_entry(applet, tarfile.SYMTYPE, 0o777, "/bin/busybox"))
        for name, data in files.items():
            tar.addfile(_tar_entry(name, tarfile.REGTYPE, 0o644, size=len(data)), io.BytesIO(data))
    return path


def _pristine_nginx_config(target: Path) -> None:
    """Debian's /etc/nginx as installed: no conf.d files, only the default site.

    Module links whose module is missing are dropped so nginx starts.
    """
    shutil.copytree("/etc/nginx", target, symlinks=True)
    for extra in (target / "conf.d").iterdir():
        extra.unlink()
    for site in (target / "sites-enabled").iterdir():
        site.unlink()
    (target / "sites-enabled" / "default").symlink_to("/etc/nginx/sites-available/default")
    for module in (target / "modules-enabled").iterdir():
        if not module.resolve().exists():
            module.unlink()


def _prepare_host_dir(
    directory: Path, address: str, client_public_key: str, options: HostOptions
) -> str:
    """Creates the host's private files and its ``mounts`` list; returns its public host key."""
    mounts = [(directory / name, target) for name, target in HOST_MOUNTS]
    mounts += [(directory / private_dir_name(path), path) for path in options.private]
    directory.mkdir(parents=True)
    # mount points this machine lacks: made here (empty), removed again with the host
    missing = [path for path in options.private if not Path(path).exists()]
    for path in missing:
        Path(path).mkdir(parents=True)
    (directory / "made-mount-points").write_text("".join(f"{path}\n" for path in missing))
    for source, _ in mounts:
        if source.name != "etc-nginx" or options.bare:
            source.mkdir()
    if not options.bare:
        _pristine_nginx_config(directory / "etc-nginx")
    else:
        (directory / "bare").touch()
        settings = json.dumps(dockerd_settings(directory.name), indent=2)
        (directory / "etc-docker" / "daemon.json").write_text(settings + "\n")
    (directory / "var-log" / "apt").mkdir()
    if options.os_release is not None:
        (directory / "os-release").write_text(options.os_release)
        mounts.append((directory / "os-release", "/etc/os-release"))
    (directory / "mounts").write_text("".join(f"{s} {t}\n" for s, t in mounts))
    for user, home in [("root", directory / "root")] + [
        (user, directory / f"home-{user}") for user in LOGINS
    ]:
        _make_home(home, user, client_public_key)
    host_key = directory / "ssh_host_ed25519_key"
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", directory.name, "-f", str(host_key))
    sshd_config = render_sshd_config(address, host_key, ".ssh/authorized_keys")
    (directory / "sshd_config").write_text(sshd_config)
    return Path(f"{host_key}.pub").read_text()


def _make_home(home: Path, user: str, client_public_key: str) -> None:
    """A login's home on one host: the sandbox key, an empty .bashrc, owned by the user."""
    (home / ".ssh").mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / ".bashrc").write_text(BASHRC)
    (home / ".ssh" / "authorized_keys").write_text(client_public_key + "\n")
    if user != "root":
        for path in (home, home / ".ssh", home / ".bashrc", home / ".ssh" / "authorized_keys"):
            shutil.chown(path, user, user)


def ensure_logins() -> None:
    """The non-root accounts on this machine (idempotent); SUDO_USER may sudo without a
    password, PLAIN_USER may not sudo at all."""
    for user in LOGINS:
        if subprocess.run(["id", "-u", user], capture_output=True).returncode != 0:
            _run("useradd", "--no-create-home", "--home-dir", f"/home/{user}",
                 "--shell", "/bin/bash", "--user-group", user)  # fmt: skip
        _run("usermod", "--password", "*", user)  # no password, but not locked: sshd lets keys in
        Path(f"/home/{user}").mkdir(exist_ok=True)  # the mount point of each host's home
    rule = f"{SUDO_USER} ALL=(ALL) NOPASSWD:ALL\n"
    if not SUDOERS.exists() or SUDOERS.read_text() != rule:
        SUDOERS.write_text(rule)
        SUDOERS.chmod(0o440)


def _create_bridge() -> None:
    _run("ip", "link", "add", BRIDGE, "type", "bridge")
    _run("ip", "addr", "add", f"{BRIDGE_ADDRESS}/{PREFIX_LENGTH}", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")


def _create_netns(index: int) -> None:
    """Network namespace with eth0 on the bridge and lo up."""
    netns, veth = netns_name(index), veth_name(index)
    _run("ip", "netns", "add", netns)
    _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    _run("ip", "link", "set", veth, "master", BRIDGE, "up")
    inside = ("ip", "-n", netns)
    _run(*inside, "addr", "add", f"{host_address(index)}/{PREFIX_LENGTH}", "dev", "eth0")
    _run(*inside, "link", "set", "eth0", "up")
    _run(*inside, "link", "set", "lo", "up")


def _launch_init(index: int, directory: Path) -> int:
    """Starts the host's namespaces and init, detached from us; returns tini's pid."""
    netns = netns_name(index)
    command = [
        "setsid", "--fork",
        "nsenter", f"--net=/run/netns/{netns}",
        "unshare", "--uts", "--mount", "--propagation", "private", "--pid", "--fork",
        "--mount-proc", "--kill-child",
        "tini", "-s", "--", "sh", str(INIT_SCRIPT), host_name(index), str(directory), netns,
    ]  # fmt: skip
    with open(directory / "init.log", "wb") as log:
        subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=HOST_ENV,
            cwd="/",
            check=True,
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        inits = [pid for pid in _netns_pids(netns) if _pid_namespace_init(pid)]
        if inits:
            return inits[0]
        time.sleep(0.005)
    raise RuntimeError(f"{host_name(index)}: init did not start; see {directory / 'init.log'}")


def _start_host(
    index: int, state: Path, client_public_key: str, options: HostOptions
) -> tuple[SandboxHost, str]:
    name, address = host_name(index), host_address(index)
    directory = host_dir(state, name)
    if options.init == "systemd":
        from bluegreen.sandbox import systemd_host

        host_public_key = systemd_host.prepare(directory, name, client_public_key)
        _create_netns(index)
        init_pid = systemd_host.launch(index, directory)
    else:
        host_public_key = _prepare_host_dir(directory, address, client_public_key, options)
        _create_netns(index)
        init_pid = _launch_init(index, directory)
    (directory / "init.pid").write_text(f"{init_pid}\n")
    return SandboxHost(name, address, init_pid), host_public_key


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_port(host: SandboxHost, port: int, directory: Path, deadline: float) -> None:
    while True:
        try:
            socket.create_connection((host.address, port), timeout=0.5).close()
            return
        except OSError:
            if not _pid_alive(host.init_pid):
                raise RuntimeError(
                    f"{host.name}: init exited:\n{_log_tail(directory / 'init.log')}"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host.name}: nothing answers on port {port}") from None
            time.sleep(0.02)


def _make_ready(host: SandboxHost, state: Path, base_tar: Path) -> str:
    """Waits for sshd, nginx and dockerd, imports the base image; returns what runs.

    A bare host is ready when sshd answers.
    """
    directory = host_dir(state, host.name)
    deadline = time.monotonic() + READY_TIMEOUT
    _wait_port(host, 22, directory, deadline)
    if (directory / "bare").exists():
        return "sshd only (bare)"
    _wait_port(host, 80, directory, deadline)
    if (directory / "systemd").exists():
        return "systemd: sshd, nginx"
    script = (
        f"timeout {READY_TIMEOUT:.0f} sh -c "
        "'until docker version >/dev/null 2>&1; do sleep 0.05; done' && "
        f"docker import -c 'CMD [\"sh\"]' {shlex.quote(str(base_tar))} {BASE_IMAGE} >/dev/null && "
        "docker version --format '{{.Server.Version}}'"
    )
    result = run_in(host, script, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{host.name}: dockerd not ready or base image import failed: {result.stderr}\n"
            f"{_log_tail(directory / 'dockerd.log')}"
        )
    return f"sshd, nginx, dockerd {result.stdout.strip()}"


def import_base_image(host: SandboxHost, state: Path = DEFAULT_STATE) -> None:
    """Imports the base image into a host's dockerd (for a bare host after bootstrap).

    Sandbox hosts cannot pull images; a real server's ``docker build`` would.
    """
    base_tar = state / BASE_TAR
    run_in(host, f"docker import -c 'CMD [\"sh\"]' {shlex.quote(str(base_tar))} {BASE_IMAGE}")


def up(
    count: int = 2, state: Path = DEFAULT_STATE, options: HostOptions = HostOptions()
) -> list[SandboxHost]:
    """Starts `count` fresh hosts (after removing any previous ones) and waits until they serve.

    Returns when every host's sshd, nginx and dockerd answer and the base
    image is imported (bare hosts: when sshd answers); prints one line per host.
    """
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"count must be between 1 and {MAX_HOSTS}, got {count}")
    state = Path(state)
    down(state)
    state.mkdir(parents=True, exist_ok=True)
    (state / "known_hosts").write_text("")
    return _start(list(range(1, count + 1)), state, options)


def add_host(
    index: int, state: Path = DEFAULT_STATE, options: HostOptions = HostOptions()
) -> SandboxHost:
    """Adds host ``index`` to the running fleet (or starts a fleet of one), leaving others alone."""
    if not 1 <= index <= MAX_HOSTS:
        raise ValueError(f"index must be between 1 and {MAX_HOSTS}, got {index}")
    state = Path(state)
    name = host_name(index)
    if netns_name(index) in _sandbox_netns() or host_dir(state, name).exists():
        raise RuntimeError(f"{name} already exists; remove_host({name!r}) first")
    state.mkdir(parents=True, exist_ok=True)
    return _start([index], state, options)[0]


def remove_host(name: str, state: Path = DEFAULT_STATE) -> None:
    """Ends one host and removes its network, cgroups, files and known_hosts line."""
    state = Path(state)
    index = host_index(name)
    directory = host_dir(state, name)
    pids = {pid for n, d, pid in _recorded_hosts(state) if n == name and _is_our_init(pid, d)}
    _kill_and_wait(pids | set(_netns_pids(netns_name(index))))
    _run("ip", "netns", "del", netns_name(index), check=False)
    _run("ip", "link", "del", veth_name(index), check=False)
    _remove_container_cgroups(prefix=netns_name(index))
    _remove_mount_points(directory)
    _unmount_systemd_root(directory)
    shutil.rmtree(directory, ignore_errors=True)
    _set_known_host(state, host_address(index), None)


def _start(indices: list[int], state: Path, options: HostOptions) -> list[SandboxHost]:
    """Starts hosts on the bridge (created when missing) and waits until they are ready."""
    client_public_key = _ensure_client_key(state)
    ensure_logins()
    base_tar = state / BASE_TAR
    if not base_tar.exists():
        _busybox_rootfs_tar(base_tar)
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        _create_bridge()
    started = [_start_host(index, state, client_public_key, options) for index in indices]
    for host, key in started:
        _set_known_host(state, host.address, known_hosts_line(host.address, key))
    fleet = [host for host, _ in started]
    with ThreadPoolExecutor(max_workers=len(fleet)) as pool:
        running = list(pool.map(lambda host: _make_ready(host, state, base_tar), fleet))
    for host, what in zip(fleet, running, strict=True):
        print(f"{host.name}  {host.address}  up: {what}  pid {host.init_pid}")
    return fleet


def _set_known_host(state: Path, address: str, line: str | None) -> None:
    """Replace (or with None remove) the known_hosts line of ``address``."""
    path = state / "known_hosts"
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [item for item in lines if not item.startswith(f"{address} ")]
    lines += [line] if line else []
    path.write_text("".join(f"{item}\n" for item in lines))


def hosts(state: Path = DEFAULT_STATE) -> list[SandboxHost]:
    """The hosts of this state dir that are running now."""
    return [
        SandboxHost(name, host_address(host_index(name)), pid)
        for name, directory, pid in _recorded_hosts(Path(state))
        if _is_our_init(pid, directory)
    ]


def run_in(
    host: SandboxHost, command: str, check: bool = True, timeout: float | None = 120
) -> subprocess.CompletedProcess:
    """Runs `sh -c command` as root inside the host, bypassing SSH (for setup and fault injection).

    It enters all of the host's namespaces, so it sees the host's /run,
    processes, network and dockerd exactly as a login on that host would.
    """
    return subprocess.run(
        ["nsenter", "-t", str(host.init_pid), "-a", "sh", "-c", command],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
        env=HOST_ENV,
        cwd="/",
    )


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bluegreen.sandbox")
    parser.add_argument("action", choices=("up", "add", "remove", "down", "status"))
    parser.add_argument("target", nargs="?", help="up: COUNT (2); add: INDEX; remove: NAME")
    parser.add_argument("--bare", action="store_true", help="sshd only (for fab bootstrap)")
    parser.add_argument("--os-release", type=Path, help="file to mount over /etc/os-release")
    parser.add_argument("--systemd", action="store_true", help="boot a real systemd (nspawn)")
    args = parser.parse_args(argv)
    os_release = args.os_release.read_text() if args.os_release else None
    init = "systemd" if args.systemd else "tini"
    options = HostOptions(bare=args.bare, os_release=os_release, init=init)
    if args.action == "up":
        up(int(args.target or 2), options=options)
    elif args.action == "add":
        add_host(int(args.target), options=options)
    elif args.action == "remove":
        remove_host(args.target)
    elif args.action == "down":
        down()
    else:
        for host in hosts():
            print(f"{host.name}  {host.address}  init pid {host.init_pid}")
