"""Put one release's image on every host (sent over SSH, or pulled by digest), prove that
every host has the same image.

The operator's side (local build, save, resolving a tag) is ``bluegreen.local.artifact``.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from bluegreen.config.inventory import App, RegistryLogin
from bluegreen.engine.state import HostRun
from bluegreen.errors import Refused
from bluegreen.facts import pairs
from bluegreen.local import artifact, source, tree
from bluegreen.output.log import Log
from bluegreen.shell import docker, image

SEND_PARALLEL = 3  # hosts an image is streamed to at once: a laptop's uplink, not N of them
PULL_TIMEOUT = 1800.0
PROGRESS_EVERY = 5.0  # seconds between a stream's progress lines


def megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


class Sender:
    """``app.build: local``: stream the saved image to each host that lacks that image id."""

    def __init__(self, app: str, built: artifact.LocalImage, log: Log) -> None:
        self.app, self.built, self.log = app, built, log
        self.slots = threading.Semaphore(SEND_PARALLEL)

    def place(self, run: HostRun) -> str:
        name, built = docker.image(self.app, run.release), self.built
        if run.facts.image_id == built.id:
            self.log.ok(run.name, f"image: {name} {short(built.id)} present, nothing sent")
            return built.id
        started = last = time.monotonic()

        def progress(sent: int) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                self.log.step(
                    run.name, f"send: {name} {megabytes(sent)} of {megabytes(built.size)}"
                )

        holding = False  # a slot is held while bytes go out, not while the host loads them

        def sent() -> None:
            nonlocal holding
            if holding:
                holding = False
                self.slots.release()

        command = image.load(self.app, run.release)
        self.slots.acquire()
        holding = True
        try:
            with built.archive.open("rb") as stream:
                output = run.remote.send(command, stream, progress, what="docker load", sent=sent)
        finally:
            sent()
        seconds = time.monotonic() - started
        self.log.ok(run.name, f"send: {name} {megabytes(built.size)} in {seconds:.1f} s")
        return pairs(output).get("image_id", "")


class Puller:
    """``app.image``: every host pulls the digest the tag was resolved to, once per deploy."""

    def __init__(
        self,
        app: str,
        reference: artifact.Reference,
        digest: str,
        login: RegistryLogin | None,
        log: Log,
    ) -> None:
        self.app, self.reference, self.digest, self.login = app, reference, digest, login
        self.password = login.password() if login else None
        self.log = log

    def place(self, run: HostRun) -> str:
        log = self.log
        name = docker.image(self.app, run.release)
        if run.facts.image_id:
            log.ok(run.name, f"image: {name} {short(run.facts.image_id)} present, not pulled")
            return run.facts.image_id
        started = time.monotonic()
        pinned = self.reference.pinned(self.digest)
        username = self.login.username if self.login else None
        command = image.pull(self.app, run.release, pinned, self.reference.server, username)
        stdin = f"{self.password}\n" if self.password is not None else None
        with log.ticking(run.name, f"pull: {pinned}"):
            output = run.remote.run(command, stdin=stdin, timeout=PULL_TIMEOUT, what="pull")
        log.ok(run.name, f"pull: {pinned} in {time.monotonic() - started:.1f} s")
        return pairs(output).get("image_id", "")


def build_locally(
    app: App, release: str, folder: Path, log: Log, dry_run: bool
) -> artifact.LocalImage:
    """Build (or reuse) the release's image with the operator's docker, and save it once."""
    name = docker.image(app.name, release)
    if dry_run:
        log.line(f"would build {name} with this machine's docker and send it where it is missing")
        return artifact.LocalImage(name, "", Path(os.devnull), 0)
    started = time.monotonic()
    image_id = artifact.build(app, release, source.archive(Path(app.repo), release, app.path))
    built = artifact.save(name, image_id, folder)
    seconds = time.monotonic() - started
    log.line(
        f"build: {name} {short(image_id)} here, {megabytes(built.size)} to send ({seconds:.1f} s)"
    )
    return built


def build_tree(app: App, release: str, log: Log, dry_run: bool) -> bytes:
    """``build: local`` under ``runtime: process``: run ``build_command`` here on the
    commit's files, once, before any host is touched; the tarball every host unpacks."""
    if dry_run:
        log.line(f"would run {app.build_command!r} here and send the built tree to each host")
        return b""
    built = tree.build(app, source.archive(Path(app.repo), release, app.path))
    log.line(
        f"build: {app.build_command!r} here in {built.seconds:.1f} s, {built.files} files,"
        f" {megabytes(len(built.archive))} to send"
    )
    return built.archive


def short(image_id: str) -> str:
    """An image id as ``docker images`` shows it (12 hex digits)."""
    return image_id.removeprefix("sha256:")[:12]


def differing(ids: dict[str, str]) -> str | None:
    """Why the hosts' images of one release are not the same image, or None when they are."""
    by_id: dict[str, list[str]] = {}  # in the order the hosts come
    for host, found in ids.items():
        by_id.setdefault(found, []).append(host)
    if len(by_id) <= 1:
        return None
    parts = [
        f"{', '.join(hosts)} {short(found) if found else 'no image'}"
        for found, hosts in by_id.items()
    ]
    return f"the hosts have different images for this release: {'; '.join(parts)}"


def same_everywhere(ids: dict[str, str]) -> None:
    """Refuse the switch unless every host has the very same image (id) for the release."""
    problem = differing(ids)
    if problem:
        raise Refused(f"{problem}; nothing switched")
