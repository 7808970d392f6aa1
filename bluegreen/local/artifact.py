"""The release's image on the operator's machine: build it once (``app.build: local``) and
save it for the hosts, or resolve a registry tag to its digest (``app.image``).

The only module that runs the operator's own ``docker`` (the plain CLI, so ``DOCKER_HOST``
and docker contexts apply) and ``skopeo``. The hosts' side is ``commands.image``.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE

from bluegreen.config.inventory import IMAGE_REFERENCE, App, RegistryLogin
from bluegreen.errors import ImageError
from bluegreen.local import children
from bluegreen.shell import docker, image

DOCKER_HUB = "docker.io"
RESOLVE_TIMEOUT = 60


@dataclass(frozen=True)
class Reference:
    """An image reference, split as docker reads it (``server/name:tag@digest``)."""

    server: str
    name: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        found = IMAGE_REFERENCE.fullmatch(text)
        if found is None:
            raise ImageError(f"{text!r} is not an image reference")
        server, name = found["server"], found["name"]
        if server and "." not in server and ":" not in server and server != "localhost":
            server, name = None, f"{server}/{name}"  # "team/app": a path on Docker Hub
        tag = found["tag"] or (None if found["digest"] else "latest")
        return cls(server or DOCKER_HUB, name, tag, found["digest"])

    @property
    def repository(self) -> str:
        return f"{self.server}/{self.name}"

    def __str__(self) -> str:
        return (
            self.repository
            + (f":{self.tag}" if self.tag else "")
            + (f"@{self.digest}" if self.digest else "")
        )

    def pinned(self, digest: str) -> str:
        """The reference every host pulls: by digest, so a moved tag cannot split the fleet."""
        return f"{self.repository}@{digest}"


def release_of(digest: str) -> str:
    """A prebuilt image's release id: its digest's first 12 hex digits (like a commit's)."""
    return digest.removeprefix("sha256:")[:12]


def _run(argv: list[str], what: str, timeout: float | None = None, **kw) -> str:
    """Run a local program; its failure is one line (the last of its error output)."""
    try:
        done = children.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except FileNotFoundError:
        raise ImageError(f"{what}: {argv[0]} is not installed on this machine") from None
    except subprocess.TimeoutExpired:
        raise ImageError(f"{what}: no answer in {timeout:g} s") from None
    if done.returncode:
        lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise ImageError(f"{what} failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout


# -- app.image: a prebuilt image in a registry ----------------------------------------------


@contextmanager
def _authfile(login: RegistryLogin | None, server: str) -> Iterator[list[str]]:
    """skopeo's ``--authfile`` for the login, in a private temporary file removed at the end."""
    if login is None:
        yield []
        return
    token = base64.b64encode(f"{login.username}:{login.password()}".encode()).decode()
    with tempfile.NamedTemporaryFile("w", prefix="bluegreen-auth-", suffix=".json") as file:
        json.dump({"auths": {server: {"auth": token}}}, file)  # mkstemp: mode 0600
        file.flush()
        yield ["--authfile", file.name]


def resolve(reference: Reference, login: RegistryLogin | None) -> str:
    """The digest the reference's tag names now (once per deploy; a digest stays as given)."""
    if reference.digest:
        return reference.digest
    with _authfile(login, reference.server) as auth:
        argv = ["skopeo", "inspect", *auth, "--format", "{{.Digest}}", f"docker://{reference}"]
        try:
            digest = _run(argv, f"resolve {reference}", RESOLVE_TIMEOUT).strip()
        except ImageError as error:
            raise ImageError(_registry_problem(reference, login, str(error))) from None
    if not digest.startswith("sha256:"):
        raise ImageError(f"resolve {reference}: the registry gave no digest ({digest[:40]!r})")
    return digest


def _registry_problem(reference: Reference, login: RegistryLogin | None, message: str) -> str:
    """skopeo's error in the operator's words (the password is never part of it)."""
    lower = message.lower()
    who = f"secrets.registry (user {login.username})" if login else "no login (secrets.registry)"
    if "unauthorized" in lower or "authentication required" in lower or "denied" in lower:
        return f"registry {reference.server} refused {who} for {reference}: wrong password?"
    if "connection refused" in lower or "no such host" in lower or "i/o timeout" in lower:
        return f"registry {reference.server} cannot be reached ({message.rsplit(': ', 1)[-1]})"
    if "manifest unknown" in lower or "not found" in lower:
        return f"{reference}: no such image or tag in registry {reference.server}"
    return message


# -- app.build: local -----------------------------------------------------------------------


@dataclass(frozen=True)
class LocalImage:
    """The release's image built by the operator's docker, saved and compressed for the hosts."""

    name: str
    id: str
    archive: Path  # docker save | gzip, private to this deploy
    size: int


def _local_id(name: str) -> str | None:
    try:
        return _run(["docker", "image", "inspect", "-f", "{{.Id}}", name], "docker").strip()
    except ImageError:
        return None


def build(app: App, release: str, source: bytes) -> str:
    """Build ``<app>:<release>`` with the operator's docker (reused when it is there); its id."""
    name = docker.image(app.name, release)
    found = _local_id(name)
    if found:
        return found
    with tempfile.TemporaryDirectory(prefix="bluegreen-build-") as context:
        with tarfile.open(fileobj=io.BytesIO(source), mode="r:gz") as tar:
            tar.extractall(context, filter="data")
        command = docker.build(app.name, release, context, app.dockerfile)
        _run(["sh", "-c", command], f"local build of {name}")
    built = _local_id(name)
    if built is None:
        raise ImageError(f"local build of {name}: no image afterwards (DOCKER_HOST?)")
    return built


def save(name: str, image_id: str, folder: Path) -> LocalImage:
    """``docker save`` the image into a private gzip file in ``folder``, once per deploy."""
    handle, path = tempfile.mkstemp(prefix="bluegreen-image-", suffix=".tar.gz", dir=folder)
    with (
        os.fdopen(handle, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as z,
    ):
        try:
            with children.started(image.save(name), stdout=PIPE, stderr=PIPE) as saving:
                assert saving.stdout is not None and saving.stderr is not None
                shutil.copyfileobj(saving.stdout, z, 1024 * 1024)
                error = saving.stderr.read().decode(errors="replace").strip()
                failed = saving.wait()
        except FileNotFoundError:
            raise ImageError("save: docker is not installed on this machine") from None
        if failed:
            last = error.splitlines()[-1] if error else "no image saved"
            raise ImageError(f"docker save {name} failed: {last}")
    return LocalImage(name, image_id, Path(path), Path(path).stat().st_size)
