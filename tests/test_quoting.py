"""Property tests: values placed in shell commands never change the command around them.

Each builder is given hostile text (quotes, spaces, ``;``, ``$()``, backticks, newlines)
and the result is parsed by POSIX shell rules, or run by a real ``sh``.
"""

import shlex
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bluegreen.config.inventory import Host, Ports
from bluegreen.shell import docker, history, lock, nginx

HOSTILE = st.text(
    alphabet=st.sampled_from(list("ab '\"\\;$()`|&<>*?~#\n\t{}[]!-=.")),
    min_size=1,
    max_size=40,
)
PLACEHOLDER = "PLACEHOLDER"


def _same_command(value: str, build) -> bool:
    """``build(value)`` parses to the words of ``build(PLACEHOLDER)``, value substituted."""
    expected = [t.replace(PLACEHOLDER, value) for t in shlex.split(build(PLACEHOLDER))]
    return shlex.split(build(value)) == expected


@given(HOSTILE)
def test_a_release_id_stays_one_argument_of_docker_run(value):
    host = Host(name="h", address="10.0.0.1", app_dir="/srv/app")

    def build(release):
        return docker.run("app", "blue", release, host, Ports(), 8080)

    assert _same_command(value, build)


@given(HOSTILE)
def test_a_build_context_stays_one_argument(value):
    def build(path):
        return docker.build("app", "r1", path, "Dockerfile")

    assert _same_command(value, build)


@given(HOSTILE)
@settings(max_examples=40, deadline=None)
def test_nginx_install_writes_any_content_byte_for_byte(tmp_path_factory, content):
    tmp = tmp_path_factory.mktemp("q")
    stub = tmp / "nginx"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    target = tmp / "live.conf"
    script = nginx.install([(str(target), content)])
    done = subprocess.run(
        ["sh", "-c", script], env={"PATH": f"{tmp}:/usr/bin:/bin"}, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert target.read_text() == content
    assert sorted(p.name for p in tmp.iterdir()) == ["live.conf", "nginx"]


@given(HOSTILE)
@settings(max_examples=40, deadline=None)
def test_history_and_lock_records_land_verbatim(tmp_path_factory, operator):
    tmp: Path = tmp_path_factory.mktemp("h")
    info = lock.LockInfo(operator, 1, "deploy", "now", 2, "token")
    subprocess.run(["sh", "-c", history.append(str(tmp), info.to_json())], check=True)
    assert (tmp / "history.jsonl").read_text() == info.to_json() + "\n"
    subprocess.run(["sh", "-c", lock.acquire(str(tmp), info)], check=True, capture_output=True)
    assert lock.parse((tmp / ".lock" / "info").read_text()) == info
    assert sorted(p.name for p in tmp.iterdir()) == [".lock", "history.jsonl"]
