"""The no-Docker path from a new user's seat, with the installed wheel: a fresh repository
holding a small Python web app and no Dockerfile → ``bluegreen init`` (runtime: process) →
``bluegreen sandbox.up`` (hosts that boot a real systemd, from the per-user rootfs cache) →
bootstrap → deploy v1 → deploy v2 and roll back under load (0 failed requests) → status.
A host without systemd is refused in preflight, with nothing staged on it.

The first run on a machine builds the rootfs (``debootstrap``; 120 s and 419 MB here);
``sandbox.down`` keeps it for every later run.
"""

import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from bluegreen.config import inventory
from tests.e2e import wheel

pytestmark = pytest.mark.e2e

APP = textwrap.dedent('''\
    """A small web app of a new user: the standard library only."""
    import os
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    VERSION = (Path(__file__).parent / "VERSION").read_text().strip()


    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b"ok" if self.path == "/health" else f"hello from {VERSION}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass


    ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
    ''')
FILES = {"app.py": APP, "requirements.txt": "# no dependencies yet\n"}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    return done.stdout.decode().strip()


def python_app(path: Path) -> dict[str, str]:
    """The app in a fresh repository, one commit per release; tag -> release id."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "config", "user.email", "user@example.invalid")
    git(path, "config", "user.name", "a new user")
    for name, text in FILES.items():
        (path / name).write_text(text)
    releases = {}
    for tag in ("v1", "v2"):
        (path / "VERSION").write_text(f"{tag}\n")
        git(path, "add", "-A")
        git(path, "commit", "-qm", tag)
        git(path, "tag", tag)
        releases[tag] = git(path, "rev-parse", "--short=12", "HEAD")
    return releases


@pytest.fixture(scope="module")
def fleet(wheel_venv, tmp_path_factory):
    """init and sandbox.up in the app repository: (bluegreen, inventory shown, releases,
    targets); sandbox.down at the end, which must keep the rootfs cache."""
    folder = tmp_path_factory.mktemp("nodocker") / "myapp"
    releases = python_app(folder)
    bluegreen = wheel.Installed(wheel_venv, folder)
    said = bluegreen.ok("init", "--health", "/health")
    assert "✅ wrote hosts.yml: app myapp, runtime process (python: requirements.txt)" in said
    assert "start `exec .venv/bin/python app.py`" in said and "⚠️" not in said
    app = inventory.load(folder / "hosts.yml").app
    assert (app.runtime, app.health.path) == ("process", "/health")
    wheel.opt_in_release_headers(folder / "hosts.yml")
    try:
        up = bluegreen.ok("sandbox.up")
        cache = r"✅ systemd hosts: Debian bookworm rootfs (\S+) \((\d+) MB"
        (root, size) = re.findall(cache, up)[0]
        assert int(size) > 100, up
        assert up.count("up: systemd: sshd, nginx") == 2, up
        (shown,) = re.findall(r"next: bluegreen --inventory (\S+) deploy", up)
        hosts = inventory.load(folder / shown).select(None)
        yield bluegreen, shown, releases, [(h.address, 4000) for h in hosts]
    finally:
        bluegreen.run("sandbox.down")
    assert Path(root).is_dir(), "sandbox.down removed the rootfs cache"


def test_a_python_app_without_dockerfile_deploys_and_rolls_back_with_no_failed_request(fleet):
    bluegreen, shown, releases, targets = fleet
    said = bluegreen.ok("--inventory", shown, "bootstrap")
    assert "systemd: ok" in said and "docker" not in said
    wheel.deploy_deploy_rollback(bluegreen, shown, releases, targets)


def test_a_host_without_systemd_is_refused_in_preflight_with_nothing_staged(fleet):
    bluegreen, shown, releases, targets = fleet
    python = str(bluegreen.venv / "bin" / "python")
    add = [python, "-m", "bluegreen.sandbox", "add", "3"]
    done = subprocess.run(add, cwd=bluegreen.app, env=bluegreen.env, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert "up: sshd, nginx, dockerd" in done.stdout  # tini as its init: no systemd
    source = yaml.safe_load((bluegreen.app / shown).read_text())
    address = f"10.{210 + int(wheel.INSTANCE)}.0.13"
    source["hosts"] = {"sandbox3": {"address": address}}
    source["groups"] = {"sandbox": ["sandbox3"]}
    (bluegreen.app / "tini.yml").write_text(yaml.safe_dump(source))
    refused = bluegreen.run("--inventory", "tini.yml", "deploy", "--ref", "v1")
    assert refused.returncode == 1
    out = refused.stdout + refused.stderr
    assert out.count("host sandbox3 runs no systemd, and runtime: process runs each color") == 1
    assert "build" not in out and "Failed to connect to bus" not in out, out
    state = bluegreen.app / ".bluegreen" / f"sandbox{wheel.INSTANCE}"
    ssh = ["ssh", "-i", str(state / "id_ed25519"), "-o", f"UserKnownHostsFile={state}/known_hosts",
           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{address}"]  # fmt: skip
    left = subprocess.run([*ssh, "ls -A /srv/myapp ~/.bluegreen/uploads 2>/dev/null; true"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "releases" not in left and "blue" not in left, left
