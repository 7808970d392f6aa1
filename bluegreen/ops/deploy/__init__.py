"""``fab deploy``: build REF into the idle color on every host, then switch the fleet to it.

A deploy reads as its steps: choose (the idle color; with ``source: git`` each host fetches
and resolves REF itself) → stage (the image: upload or export the source and build unless
the image is there, or receive the operator's build, or pull a registry's digest; then start
the new color) → every host has the same image → the change's health, switch, verify,
watch, drain → old images pruned. A canary deploy moves traffic in steps.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bluegreen.config.inventory import Host, Inventory
from bluegreen.engine.change import Change
from bluegreen.engine.operation import Operation, Stages, names, no_split, start
from bluegreen.engine.runner import with_tail
from bluegreen.engine.state import HostRun, Options, Phase, Step
from bluegreen.errors import Refused, RemoteError
from bluegreen.facts import fit, pairs, release_id
from bluegreen.local import artifact, source
from bluegreen.ops.deploy import images
from bluegreen.ops.deploy.release_command import ReleaseCommand
from bluegreen.output.log import Log
from bluegreen.shell import assets, git, release, runtime

BUILD_TIMEOUT = 1800.0


def canary_steps(shares: str, hold: float, watch: float) -> tuple[Step, ...]:
    """``--canary 10,50``: each share held and watched for ``hold`` s, then 100 % (watched as
    any switch is)."""
    try:
        percents = [int(part) for part in shares.split(",")]
    except ValueError:
        percents = []
    if (
        not percents
        or percents != sorted(set(percents))
        or not 0 < percents[0] <= percents[-1] < 100
    ):
        raise Refused(f"--canary must be rising percents from 1 to 99 (10,50), not {shares!r}")
    if hold <= 0:
        raise Refused(f"--hold must be a number of seconds > 0, not {hold:g}")
    return (*(Step(share, hold) for share in percents), Step(100, watch))


class Deploy(Operation):
    """One deploy's per-host steps over its ``Change``."""

    def __init__(
        self,
        change: Change,
        ref: str,
        commit: str | None,
        place: Callable[[HostRun], str] | None = None,
        skip_release: bool = False,
        tree: bytes | None = None,
    ) -> None:
        self.change = change
        self.release = ReleaseCommand(change, skip_release)
        self.app = change.inventory.app
        self.ref = ref
        self.commit = commit  # resolved here (upload), or None: each host resolves REF (git)
        self.built: set[str] = set()  # hosts that already have the release's image
        self.place = place  # puts a built image on a host (build: local, image:); its id
        self.image_ids: dict[str, str] = {}  # host -> the release's image id there
        # the source archive, once made (``archive``); or the tree built here (build: local)
        self.archived: bytes | None = tree
        self.archiving = threading.Lock()

    def archive(self) -> bytes:
        """The release's source as one ``git archive``, made once per deploy: the first
        host's build makes it while the others wait (each would run its own at once)."""
        with self.archiving:
            if self.archived is None:
                self.archived = source.archive(Path(self.app.repo), self.commit, self.app.path)
            return self.archived

    def choose(self, run: HostRun) -> None:
        no_split(run)
        run.color = run.facts.idle_color
        self.resolve(run)
        self.fits(run)

    def resolve(self, run: HostRun) -> None:
        """The release: the operator's commit, or REF as the host resolves it (git); and
        whether its image is on the host already."""
        run.release = self.commit or ""
        if run.facts.image_present:
            self.built.add(run.name)
        if self.commit is None:
            command = git.fetch_and_resolve(
                self.app.name, run.host.app_dir, self.app.repo, self.ref
            )
            found = pairs(run.remote.run(command, timeout=BUILD_TIMEOUT, what="git fetch"))
            run.release = found.get("release", f"<{self.ref} on the host>")
            if not self.change.options.dry_run and not release_id(run.release):
                raise RemoteError(
                    run.name,
                    f"git on the host resolved {self.ref!r} to {run.release!r}, not a release"
                    " id (12 to 40 hex digits)",
                )
            if found.get("image") == "present":
                self.built.add(run.name)

    def fits(self, run: HostRun) -> None:
        """The resources preflight: the new color (and its image) must fit, unless forced."""
        if self.change.options.force:
            return
        new_image = run.name not in self.built
        memory = self.app.options.memory
        problem = fit.shortage(run.name, run.facts, run.color, memory, new_image)
        if problem is not None:
            raise Refused(problem)

    def stages(self) -> Stages:
        """Image and start in one phase; with a release command, it runs in between."""
        if self.app.release is None:
            return ((Phase.STAGE, self.stage),)
        return (
            (Phase.STAGE, self.staged),
            (Phase.RELEASE, self.release.step),
            (Phase.STAGE, self.start),
        )

    def stage(self, run: HostRun) -> None:
        self.staged(run)
        self.start(run)

    def staged(self, run: HostRun) -> None:
        """The release's image on a host that serves it, and its assets in the store."""
        self.image(run)
        self.collect(run)

    def start(self, run: HostRun) -> None:
        start(self.change, run)

    def ready(self, run: HostRun) -> None:
        """A host without web gets the release's image (or directory) and no color."""
        self.resolve(run)
        self.image(run)

    def image(self, run: HostRun) -> None:
        """The release's image on the host: present, built, received or pulled."""
        runs = self.change.runs
        releases = {r.release for r in runs if r.outcome != "already live"}
        if len(releases) > 1:
            raise Refused(f"the hosts resolved {self.ref} to different commits: {sorted(releases)}")
        engine = runtime.of(self.app)
        name = engine.artifact(run.host, run.release)
        if self.place is not None:
            self.image_ids[run.name] = self.place(run)
        elif run.name in self.built:
            self.change.log.ok(run.name, f"build: {engine.kind} {name} present, skipped")
            if run.facts.image_id:  # (source: git learns the release after the facts)
                self.image_ids[run.name] = run.facts.image_id
        else:
            self.image_ids[run.name] = self.build(run, name)

    def collect(self, run: HostRun) -> None:
        """``app.assets``: the release's files join the host's store, served before it is."""
        if self.app.assets is None:
            return
        copy = runtime.of(self.app).copy_assets(run.host, run.release, self.app.assets)
        command = assets.collect(
            self.app.name, run.host.app_dir, run.release, copy, self.app.assets_prefix()
        )
        run.remote.run(command, what="assets")
        self.change.log.ok(run.name, f"assets: {self.app.assets} of {run.release} stored")

    def agree(self, batch: list[HostRun]) -> None:
        """Before any switch: the same image on every host (a build on each host cannot be)."""
        if self.place is not None:
            images.same_everywhere(self.image_ids)
        elif problem := images.differing(self.image_ids):
            self.change.log.line(f"⚠️  {problem} (built on each host; build: local makes one)")

    def tidy(self, run: HostRun) -> str:
        """Prune old images, keeping the new release and the one it replaced."""
        keep = sorted({run.release, run.facts.live_release or ""} - {""})
        tidy = runtime.of(self.app).prune(run.host, keep)
        if self.app.assets is None:
            return tidy
        url, recent = self.app.assets_prefix(), self.app.keep_releases
        return f"{tidy}\n{assets.prune(self.app.name, run.host.app_dir, keep, recent, url)}"

    def build(self, run: HostRun, name: str) -> str:
        """Put the release's source on the host and build its image; a failed build shows
        its last lines. Returns the image's id."""
        log, app_dir = self.change.log, run.host.app_dir
        started = time.monotonic()
        target = release.directory(app_dir, run.release)
        with log.ticking(run.name, f"build: {name}"):
            if self.commit is None:
                unpack = git.export(app_dir, run.release, self.app.path, target)
            else:
                run_id = self.change.lock.token[:12]  # this run's
                upload = release.upload_path(self.app.name, run.release, run.name, run_id)
                unpack = release.unpack(run.remote.put(self.archive(), upload), target)
            build = runtime.of(self.app).build(run.release, target, app_dir)
            try:
                script = f"{unpack}\n{build}"
                output = run.remote.run(script, timeout=BUILD_TIMEOUT, what="build")
            except RemoteError as error:
                # the tail ends with the line the one-line message would repeat
                raise with_tail(error, f"build failed (exit {error.exited})") from error
        log.ok(run.name, f"build: {name} in {time.monotonic() - started:.1f} s")
        return pairs(output).get("image_id", "")

    def undo(self, run: HostRun) -> None:
        """Remove the new container; the one it replaced gets its name back, as it was."""
        kept = run.facts.containers.get(run.color)
        running = kept is not None and kept.running
        runs = runtime.of(self.app)
        command = runs.restore(run.host, run.color, running)
        run.remote.run(command, what="restore the kept container")
        name = runs.name(run.color)
        back = f"; {name} ({kept.release}) is back, {kept.status}" if kept else ""
        self.change.log.ok(run.name, f"clean up: removed the new {name}{back}")


def deploy(
    inventory: Inventory,
    hosts: list[Host],
    ref: str,
    log: Log,
    options: Options | None = None,
    canary: str | None = None,
    hold: float = 30.0,
    skip_release: bool = False,
) -> bool:
    """Build REF into the idle color on every host, then switch the fleet to it.

    ``source: upload`` resolves REF in the operator's checkout and uploads a ``git
    archive`` of it; ``source: git`` has every host fetch the repository and resolve REF
    itself (all hosts must agree on the commit). ``canary`` ("10,50") moves that share of
    the traffic first, holding and watching each step for ``hold`` s. ``skip_release``: the
    release command (``app.release``) is not run.
    """
    app = inventory.app
    steps = canary_steps(canary, hold, app.watch.seconds) if canary else ()
    if app.image is not None:
        return deploy_image(inventory, hosts, log, options, steps, skip_release)
    commit = None if app.source == "git" else source.resolve(Path(app.repo), ref)
    what = commit or f"{ref} (resolved on each host from {app.repo})"
    log.line(f"deploy {app.name} {what} to {names(hosts)}")
    change = Change(inventory, log, "deploy", options)
    if commit is not None and app.build == "local" and app.runtime == "process":
        built = images.build_tree(app, commit, log, change.options.dry_run)
        plan = Deploy(change, ref, commit, skip_release=skip_release, tree=built)
        return change.run(hosts, plan, commit, steps)
    if commit is not None and app.build == "local":
        return deploy_local(change, hosts, ref, commit, steps, skip_release)
    plan = Deploy(change, ref, commit, skip_release=skip_release)
    return change.run(hosts, plan, commit, steps)


def deploy_local(
    change: Change,
    hosts: list[Host],
    ref: str,
    commit: str,
    steps: tuple[Step, ...],
    skip_release: bool,
) -> bool:
    """``app.build: local``: build once with the operator's docker; stream the image to each
    host that lacks it."""
    app, log = change.inventory.app, change.log
    with tempfile.TemporaryDirectory(prefix="bluegreen-") as folder:
        built = images.build_locally(app, commit, Path(folder), log, change.options.dry_run)
        place = images.Sender(app.name, built, log).place
        plan = Deploy(change, ref, commit, place, skip_release)
        return change.run(hosts, plan, commit, steps)


def deploy_image(
    inventory: Inventory,
    hosts: list[Host],
    log: Log,
    options: Options | None,
    steps: tuple[Step, ...],
    skip_release: bool,
) -> bool:
    """``app.image``: resolve its tag to a digest once; every host pulls that digest."""
    app, login = inventory.app, inventory.secrets.registry
    reference = artifact.Reference.parse(app.image or "")
    digest = artifact.resolve(reference, login)
    release_id = artifact.release_of(digest)
    log.line(f"deploy {app.name} {reference} = {digest} to {names(hosts)}")
    change = Change(inventory, log, "deploy", options)
    puller = images.Puller(app.name, reference, digest, login, log)
    plan = Deploy(change, str(reference), release_id, puller.place, skip_release)
    return change.run(hosts, plan, release_id, steps)
