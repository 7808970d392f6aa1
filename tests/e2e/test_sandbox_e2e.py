"""End-to-end checks of the sandbox fleet itself: real sshd, nginx and dockerd per host."""

import os
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest
from fabric import Config, Connection

from bluegreen import sandbox as sb
from bluegreen.testing.demo import PROJECT

pytestmark = pytest.mark.e2e

EXAMPLE = PROJECT / "example"


def connect(host: sb.SandboxHost, state: Path = sb.DEFAULT_STATE) -> Connection:
    """A Fabric connection that rejects any host key not in the sandbox's known_hosts."""
    connection = Connection(
        host.address,
        user="root",
        connect_timeout=5,
        config=Config(overrides={"run": {"in_stream": False}}),  # pytest has no stdin
        connect_kwargs={"key_filename": str(state / "id_ed25519"), "look_for_keys": False},
    )
    connection.client.load_host_keys(str(state / "known_hosts"))
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return connection


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET with retries until the deadline: the app needs a moment to listen."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status, response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_hosts_reports_the_running_fleet(sandbox):
    assert sb.hosts() == sandbox
    assert [h.address for h in sandbox] == [f"{sb.SUBNET}.{11 + i}" for i in range(3)]


def test_ssh_with_strict_host_keys_reaches_docker_and_nginx(sandbox):
    for host in sandbox:
        with connect(host) as connection:
            result = connection.run("hostname; docker ps -q | wc -l; nginx -t", hide=True)
        out = result.stdout.split()
        assert out[0] == host.name
        assert "test is successful" in result.stderr


def test_wrong_host_key_is_rejected(sandbox, tmp_path):
    first, second = sandbox[:2]
    line = next(
        line
        for line in (sb.DEFAULT_STATE / "known_hosts").read_text().splitlines()
        if line.startswith(f"{second.address} ")
    )
    (tmp_path / "id_ed25519").write_bytes((sb.DEFAULT_STATE / "id_ed25519").read_bytes())
    (tmp_path / "known_hosts").write_text(line.replace(second.address, first.address) + "\n")
    with pytest.raises(paramiko.BadHostKeyException), connect(first, tmp_path) as connection:
        connection.run("true", hide=True)


def test_run_in_enters_the_host(sandbox):
    for host in sandbox:
        out = sb.run_in(host, "hostname; cat /run/nginx.pid; test -S /run/docker.sock && echo ok")
        name, nginx_pid, docker_sock = out.stdout.split()
        assert (name, docker_sock) == (host.name, "ok")
        assert int(nginx_pid) < 100  # a pid of the host's own pid namespace
    assert sb.run_in(sandbox[0], "exit 3", check=False).returncode == 3


def test_containers_run_on_every_host_at_once(sandbox):
    command = "docker run --rm --network host --pull never bluegreen-base:busybox hostname"
    with ThreadPoolExecutor(len(sandbox)) as pool:
        results = list(pool.map(lambda host: sb.run_in(host, command), sandbox))
    assert [r.stdout.strip() for r in results] == [h.name for h in sandbox]


def test_example_app_builds_serves_its_version_and_stops_fast(sandbox):
    host, other = sandbox[:2]
    version = (EXAMPLE / "VERSION").read_text().strip()
    with connect(host) as connection:
        connection.run("rm -rf /srv/example && mkdir -p /srv/example", hide=True)
        for path in sorted(EXAMPLE.iterdir()):  # the whole build context, as a deploy sends it
            connection.put(str(path), f"/srv/example/{path.name}")
        connection.run("docker build -q -t example:e2e /srv/example", hide=True)
        connection.run(
            "docker run -d --name example --network host --pull never -e PORT=4091 example:e2e",
            hide=True,
        )
        try:
            assert http_get(f"http://{host.address}:4091/version") == (200, version)
            assert http_get(f"http://{host.address}:4091/health") == (200, "ok")
            inside = sb.run_in(host, "wget -qO- http://127.0.0.1:4091/version")
            assert inside.stdout == version
            assert sb.run_in(other, "wget -qO- 127.0.0.1:4091", check=False).returncode != 0

            started = time.monotonic()
            connection.run("docker stop example", hide=True)
            assert time.monotonic() - started < 5
            state = connection.run(
                "docker inspect -f '{{.State.Running}} {{.State.ExitCode}}' example", hide=True
            )
            assert state.stdout.split() == ["false", "0"]
        finally:
            connection.run("docker rm -f example", hide=True, warn=True)


def test_up_after_an_unclean_teardown(sandbox):
    for host in sandbox:
        os.kill(host.init_pid, signal.SIGKILL)  # as if the machine lost the fleet mid-run
    fresh = sb.up(len(sandbox))
    sandbox[:] = fresh  # the session fixture's list now names the new hosts
    assert [h.address for h in fresh] == [f"{sb.SUBNET}.{11 + i}" for i in range(len(fresh))]
    with connect(fresh[0]) as connection:
        assert connection.run("docker images -q bluegreen-base:busybox", hide=True).stdout.strip()
