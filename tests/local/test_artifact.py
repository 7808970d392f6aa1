import io
import shutil
import tarfile

import pytest

from bluegreen.config.inventory import App, RegistryLogin
from bluegreen.errors import ImageError
from bluegreen.local import artifact
from bluegreen.local.artifact import Reference

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "server", "name", "tag", "digest"),
    [
        ("reg.example.com:5000/team/app:v1", "reg.example.com:5000", "team/app", "v1", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("team/app:2", "docker.io", "team/app", "2", None),  # "team" is no server
        ("nginx", "docker.io", "nginx", "latest", None),
        (f"ghcr.io/o/app@{DIGEST}", "ghcr.io", "o/app", None, DIGEST),
        (f"ghcr.io/o/app:v1@{DIGEST}", "ghcr.io", "o/app", "v1", DIGEST),
    ],
)
def test_a_reference_is_split_as_docker_reads_it(text, server, name, tag, digest):
    assert Reference.parse(text) == Reference(server, name, tag, digest)


def test_every_host_pulls_by_digest_and_the_release_is_the_digest_prefix():
    reference = Reference.parse("reg.example.com:5000/team/app:v1")
    assert reference.pinned(DIGEST) == f"reg.example.com:5000/team/app@{DIGEST}"
    assert str(reference) == "reg.example.com:5000/team/app:v1"
    assert artifact.release_of(DIGEST) == "0123456789ab"


def test_a_reference_with_a_digest_is_not_resolved_again():
    assert artifact.resolve(Reference.parse(f"reg.example.com/app@{DIGEST}"), None) == DIGEST


@pytest.mark.parametrize(
    ("skopeo", "problem"),
    [
        (
            "Error reading manifest v1 in r.io/app: unauthorized: authentication required",
            "registry r.io refused secrets.registry (user ci) for r.io/app:v1: wrong password?",
        ),
        (
            'pinging container registry r.io: Get "https://r.io/v2/": dial tcp 10.0.0.1:443:'
            " connect: connection refused",
            "registry r.io cannot be reached (connection refused)",
        ),
        (
            "Error reading manifest v1 in r.io/app: manifest unknown: manifest unknown",
            "r.io/app:v1: no such image or tag in registry r.io",
        ),
    ],
)
def test_registry_problems_are_said_in_the_operators_words(skopeo, problem):
    reference = Reference.parse("r.io/app:v1")
    login = RegistryLogin("ci", "env:PW")
    assert artifact._registry_problem(
        reference, login, f"resolve r.io/app:v1 failed: {skopeo}"
    ) == (problem)


def test_resolve_without_skopeo_says_what_is_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ImageError, match="skopeo is not installed on this machine"):
        artifact.resolve(Reference.parse("r.io/app:v1"), None)


def test_a_local_build_without_a_docker_daemon_is_one_clear_line(monkeypatch, tmp_path):
    """The real docker CLI, pointed at a socket where no daemon listens."""
    if shutil.which("docker") is None:
        pytest.skip("needs the docker CLI")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(ImageError) as failed:
        artifact.build(App(name="web"), "0123456789ab", _archive({"Dockerfile": "FROM x\n"}))
    message = str(failed.value)
    assert message.startswith("local build of web:0123456789ab failed: ")
    assert "Cannot connect to the Docker daemon" in message and "\n" not in message


def _archive(files: dict[str, str]) -> bytes:
    """A tar.gz of ``files``, as ``git archive`` makes one."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return data.getvalue()
