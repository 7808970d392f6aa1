"""The destructive pipelines run in a real ``sh`` against a stub directory (issue 23): what
they leave is asserted, not their text. ``docker`` and ``chown`` are stub scripts on PATH
that record their arguments."""

from __future__ import annotations

import os
import stat
import subprocess
import tarfile
from pathlib import Path

from bluegreen.config.inventory import Host, Ports
from bluegreen.shell import docker, image, process, release, tls

STUB_DOCKER = """#!/bin/sh
echo "$*" >> "$STUB_LOG"
case "$1" in
  images) printf '%s\\n' $STUB_TAGS ;;
  rmi) case " $STUB_IN_USE " in *" ${2#*:} "*) exit 1 ;; esac ;;
esac
"""
STUB_CHOWN = '#!/bin/sh\necho "chown $*" >> "$STUB_LOG"\n'


def sh(command: str, where: Path, stdin: str = "", **env: str) -> str:
    """Run ``command`` in a real sh in ``where``, with the stubs of ``where/bin`` first."""
    stubs = where / "bin"
    stubs.mkdir(exist_ok=True)
    for name, text in (("docker", STUB_DOCKER), ("chown", STUB_CHOWN)):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    path = f"{stubs}:{os.environ['PATH']}"
    full = {**os.environ, "PATH": path, "STUB_LOG": str(where / "log"), **env}
    done = subprocess.run(
        ["sh", "-c", command], cwd=where, env=full, input=stdin,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def logged(where: Path) -> list[str]:
    log = where / "log"
    return log.read_text().splitlines() if log.exists() else []


def test_release_prune_removes_only_old_unused_releases(tmp_path):
    app = tmp_path / "srv" / "my app"
    releases = app / "releases"
    names = ["r1", "r2", "r3", "r4", "r5", "r6", "r7.tmp"]
    for age, name in enumerate(reversed(names)):  # r7.tmp newest, r1 oldest
        (releases / name).mkdir(parents=True)
        (releases / name / "file").write_text(name)
        os.utime(releases / name, (1_000_000 - age * 100,) * 2)
    os.symlink(releases / "r1", process.link(str(app), "blue"))  # oldest, but live
    os.symlink(releases / "r2", process.aside(str(app), "green"))  # set aside
    (app / "outside").mkdir()
    out = sh(process.prune(str(app), keep=2), tmp_path)
    assert sorted(out.split()) == ["pruned=r3", "pruned=r4"]
    assert sorted(p.name for p in releases.iterdir()) == ["r1", "r2", "r5", "r6", "r7.tmp"]
    assert (app / "outside").is_dir() and (releases / "r1" / "file").read_text() == "r1"


def test_release_prune_of_a_missing_folder_removes_nothing(tmp_path):
    (tmp_path / "keep").mkdir()
    assert sh(process.prune(str(tmp_path / "none"), keep=0), tmp_path) == ""
    assert (tmp_path / "keep").is_dir()


def test_unpack_replaces_the_target_and_removes_the_archive(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "app.py").write_text("v2")
    archive = tmp_path / "up load.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / "app.py", arcname="app.py")
    target = tmp_path / "releases" / "abc"
    target.mkdir(parents=True)
    (target / "stale.py").write_text("v1")
    (tmp_path / "releases" / "abc.tmp").mkdir()  # a crashed earlier unpack
    sh(release.unpack(str(archive), str(target)), tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["app.py"]
    assert (target / "app.py").read_text() == "v2"
    assert not archive.exists() and not (tmp_path / "releases" / "abc.tmp").exists()


def test_unpack_of_a_broken_archive_keeps_the_old_target_and_the_archive(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_text("not a tarball")
    target = tmp_path / "abc"
    target.mkdir()
    (target / "app.py").write_text("v1")
    done = subprocess.run(["sh", "-c", release.unpack(str(archive), str(target))],
                          capture_output=True)  # fmt: skip
    assert done.returncode != 0
    assert (target / "app.py").read_text() == "v1" and archive.exists()


def test_the_tls_key_is_written_0600_from_stdin_and_chowned_before_it_is_moved(tmp_path):
    folder = tmp_path / "tls"
    cert, key = folder / "app-abc.crt", folder / "app-abc.key"
    put = "umask 022; " + tls.put_pair(str(cert), str(key), "CHAIN")  # a usual login's umask
    sh(put, tmp_path, stdin="SECRET KEY")
    assert key.read_text() == "SECRET KEY"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert cert.read_text() == "CHAIN"
    assert logged(tmp_path) == [f"chown 0:0 {key}.new"]
    assert sorted(p.name for p in folder.iterdir()) == ["app-abc.crt", "app-abc.key"]
    sh(tls.put_pair(str(cert), str(key), "CHAIN2"), tmp_path, stdin="OTHER KEY")
    assert key.read_text() == "SECRET KEY" and cert.read_text() == "CHAIN2"  # same pair kept


def test_image_prune_removes_old_unused_tags_only(tmp_path):
    tags = "r9 r8 blue1 r7 <none> r6 r5"  # newest first, as docker images lists them
    out = sh(image.prune("my app", keep=["blue1"], recent=1), tmp_path,
             STUB_TAGS=tags, STUB_IN_USE="r6")  # fmt: skip
    # r9 is the newest other, r6 is refused (a container uses it)
    assert out.split() == ["pruned=r8", "pruned=r7", "pruned=r5"]
    assert logged(tmp_path) == [
        "images --format {{.Tag}} my app",
        "rmi my app:r8", "rmi my app:r7", "rmi my app:r6", "rmi my app:r5",
    ]  # fmt: skip


def test_pull_removes_only_the_pulled_reference(tmp_path):
    reference = "registry.example/app@sha256:" + "a" * 64
    sh(image.pull("app", "r1", reference, "registry.example", None), tmp_path)
    removed = [line for line in logged(tmp_path) if line.startswith("rmi")]
    assert removed == [f"rmi {reference}"]


def test_an_env_file_that_cannot_be_written_leaves_no_half_file(tmp_path):
    """A full disk: ``cat`` fails after writing part of the env (the soak found the
    ``.env.new`` left behind); nothing is started and nothing half-written stays."""
    app_dir = tmp_path / "srv"
    host = Host(name="web1", address="10.0.0.1", app_dir=str(app_dir))
    command = docker.run("web", "green", "r1", host, Ports(), 8080)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, text in (("docker", STUB_DOCKER), ("cat", "#!/bin/sh\nprintf 'A='; exit 1\n")):
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "STUB_LOG": str(tmp_path / "log")}
    done = subprocess.run(["sh", "-c", command], env=env, input=b"A=1\n", capture_output=True)
    assert done.returncode != 0
    assert list(app_dir.iterdir()) == [] and logged(tmp_path) == []  # docker never ran
