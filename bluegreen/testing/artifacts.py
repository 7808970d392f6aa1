"""Real image sources for tests and the benchmark: the operator's own dockerd and a registry.

``OperatorDocker`` is a dockerd of the operator's machine (not in the sandbox), with its
own data, exec root and socket, so ``app.build: local`` builds with the plain ``docker``
CLI through ``DOCKER_HOST``. ``Registry`` is Debian's ``docker-registry`` (distribution
2.8) on the sandbox bridge with basic auth and TLS from a test CA: the sandbox hosts'
dockerd trust that CA through ``/etc/docker/certs.d/<registry>/ca.crt`` (read on every
pull, so no dockerd restart, and logins go over TLS as with a real registry), and the
operator's skopeo through ``SSL_CERT_FILE`` (Go's standard override of the system roots).
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from bluegreen import sandbox

REGISTRY_PORT = 5000 + sandbox.INSTANCE


def _wait(check, what: str, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-10:])
            raise RuntimeError(f"{what} did not start in {timeout} s:\n{tail}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class OperatorDocker:
    """A dockerd for the operator's side, with the sandbox's busybox base image."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "docker.sock"
        self.process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """What the operator's programs need to use this dockerd."""
        return {"DOCKER_HOST": f"unix://{self.socket}"}

    def docker(self, command: str, stdin: bytes | None = None) -> str:
        """Run a ``docker ...`` command line (a shell string) against this dockerd."""
        done = subprocess.run(
            ["sh", "-c", command],
            env={**os.environ, **self.env},
            input=stdin,
            capture_output=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"{command}: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode()

    def start(self) -> OperatorDocker:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "dockerd.log"
        d = self.directory
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", str(d / "data"), "--exec-root", str(d / "exec"),
             "--pidfile", str(d / "docker.pid"), "-H", f"unix://{self.socket}",
             "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

        def ready() -> bool:
            return subprocess.run(
                ["docker", "version"], env={**os.environ, **self.env}, capture_output=True
            ).returncode == 0  # fmt: skip

        _wait(ready, "the operator's dockerd", log)
        base = self.directory / sandbox.BASE_TAR
        if not base.exists():
            sandbox._busybox_rootfs_tar(base)
        self.docker(
            f"docker import -c 'CMD [\"sh\"]' {shlex.quote(str(base))} {sandbox.BASE_IMAGE}"
        )
        return self

    def stop(self) -> None:
        _stop(self.process)


class Registry:
    """docker-registry with htpasswd basic auth and TLS from a test CA, on the bridge."""

    def __init__(self, directory: Path, username: str, password: str) -> None:
        self.directory = directory
        self.address = f"{sandbox.BRIDGE_ADDRESS}:{REGISTRY_PORT}"
        self.username = username
        self.password = password
        self.process: subprocess.Popen | None = None
        self.ca_pem = b""

    @property
    def ca_bundle(self) -> Path:
        """The system's roots plus the test CA: ``SSL_CERT_FILE`` for the operator's tools."""
        return self.directory / "roots.pem"

    @property
    def env(self) -> dict[str, str]:
        return {"SSL_CERT_FILE": str(self.ca_bundle)}

    def start(self) -> Registry:
        import trustme  # a test dependency only

        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        cert = ca.issue_cert(sandbox.BRIDGE_ADDRESS)
        self.ca_pem = ca.cert_pem.bytes()
        cert.private_key_and_cert_chain_pem.write_to_path(str(d / "server.pem"))
        system = Path("/etc/ssl/certs/ca-certificates.crt")
        self.ca_bundle.write_bytes((system.read_bytes() if system.exists() else b"") + self.ca_pem)
        hashed = subprocess.run(
            ["htpasswd", "-iBn", self.username],
            input=self.password.encode(), capture_output=True, check=True,
        ).stdout  # fmt: skip
        (d / "htpasswd").write_bytes(hashed)
        (d / "data").mkdir(exist_ok=True)
        (d / "config.yml").write_text(
            "version: 0.1\n"
            "log: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {d / 'data'}}}, delete: {{enabled: true}}}}\n"
            f"http:\n  addr: {self.address}\n"
            f"  tls: {{certificate: {d / 'server.pem'}, key: {d / 'server.pem'}}}\n"
            f"auth:\n  htpasswd: {{realm: bluegreen-test, path: {d / 'htpasswd'}}}\n"
        )
        self.resume()
        return self

    def resume(self) -> None:
        """Start (again, after ``pause``) serving the same storage."""
        log = self.directory / "registry.log"
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(self.directory / "config.yml")],
            stdout=log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        host, port = self.address.split(":")

        def listening() -> bool:
            try:
                socket.create_connection((host, int(port)), timeout=0.5).close()
                return True
            except OSError:
                return False

        _wait(listening, "docker-registry", log)

    def pause(self) -> None:
        """Stop serving (a registry that is down); ``resume`` brings it back."""
        _stop(self.process)
        self.process = None

    def trust(self, host: sandbox.SandboxHost) -> None:
        """Make a sandbox host's dockerd trust the test CA for this registry."""
        folder = shlex.quote(f"/etc/docker/certs.d/{self.address}")
        pem = shlex.quote(self.ca_pem.decode())
        sandbox.run_in(host, f"mkdir -p {folder} && printf '%s' {pem} > {folder}/ca.crt")

    def push(self, operator: OperatorDocker, image: str, tag: str) -> str:
        """Copy ``image`` from the operator's dockerd to ``<registry>/<tag>``; its digest."""
        archive = self.directory / "push.tar"
        operator.docker(f"docker save -o {shlex.quote(str(archive))} {shlex.quote(image)}")
        auth = self.directory / "auth.json"
        self.login_file(auth)
        target = f"docker://{self.address}/{tag}"
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--authfile", str(auth),
             f"docker-archive:{archive}", target],
            env={**os.environ, **self.env}, check=True, capture_output=True,
        )  # fmt: skip
        archive.unlink()
        digest = subprocess.run(
            ["skopeo", "inspect", "--authfile", str(auth), "--format", "{{.Digest}}", target],
            env={**os.environ, **self.env}, check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        return digest

    def login_file(self, path: Path) -> None:
        import base64
        import json

        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        path.touch(mode=0o600)
        path.write_text(json.dumps({"auths": {self.address: {"auth": token}}}))

    def stop(self) -> None:
        self.pause()
