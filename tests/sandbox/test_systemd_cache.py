"""The per-user cache of the systemd hosts' rootfs: built once with a line per stage,
never used half made, removed only on request and never while a host or a build uses it."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest

from bluegreen.sandbox import systemd_host

DEBOOTSTRAP = """\
I: Retrieving InRelease
I: Checking Release signature
I: Retrieving Packages
I: Validating Packages
I: Resolving dependencies of required packages...
I: Retrieving adduser 3.134
I: Validating adduser 3.134
I: Retrieving apt 2.6.1
I: Extracting adduser...
I: Extracting apt...
I: Installing core packages...
I: Unpacking required packages...
I: Unpacking adduser...
I: Configuring required packages...
I: Configuring adduser...
W: a warning line
I: Base system installed successfully.
"""


def test_each_stage_of_debootstrap_is_told_once_as_it_starts():
    told, current = [], ""
    for line in DEBOOTSTRAP.splitlines():
        stage = systemd_host.stage_of(line, current)
        if stage != current:
            told.append(stage)
        current = stage
    assert told == [
        "downloading",
        "resolving dependencies",
        "downloading",
        "extracting",
        "installing core packages",
        "unpacking",
        "configuring",
    ]


def test_the_cache_is_per_user_and_named_by_what_it_is_made_of():
    assert systemd_host.ROOTFS.parent == systemd_host.CACHE
    assert systemd_host.CACHE.name == "bluegreen" and systemd_host.CACHE.parent.name == ".cache"
    assert systemd_host.ROOTFS.name.startswith(f"rootfs-{systemd_host.SUITE}-")


def test_a_cached_rootfs_is_used_as_it_is(tmp_path):
    root = tmp_path / "rootfs-x"
    root.mkdir()
    said = []
    assert systemd_host.ensure_rootfs(root, said.append) == root
    assert said == []


def test_a_failed_build_leaves_no_partial_rootfs(monkeypatch, tmp_path):
    def fails(target: Path, stage) -> None:
        (target / "etc").mkdir()
        stage("downloading: Retrieving InRelease")
        raise RuntimeError("debootstrap failed (exit 1)")

    monkeypatch.setattr(systemd_host, "_debootstrap", fails)
    (tmp_path / "rootfs-x.killed.partial" / "etc").mkdir(parents=True)  # a killed run's
    said = []
    with pytest.raises(RuntimeError, match="debootstrap failed"):
        systemd_host.ensure_rootfs(tmp_path / "rootfs-x", said.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rootfs-x.lock"]
    assert said[0].startswith("building the systemd rootfs (Debian bookworm), once per user")
    assert said[1].strip() == "0 s  downloading: Retrieving InRelease"


def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(systemd_host, "CACHE", tmp_path)
    for name in ("rootfs-a", "rootfs-a.1234.partial", "rootfs-b"):
        (tmp_path / name / "etc").mkdir(parents=True)
        (tmp_path / name / "etc" / "big").write_bytes(b"x" * 2_000_000)
    (tmp_path / "rootfs-a.lock").write_text("")
    return tmp_path


def test_removing_the_cache_keeps_what_a_running_host_uses(monkeypatch, tmp_path):
    folder = cache(tmp_path, monkeypatch)
    monkeypatch.setattr(systemd_host, "in_use", lambda root: root.name == "rootfs-b")
    said = []
    systemd_host.remove_cache(said.append)
    assert sorted(p.name for p in folder.iterdir()) == ["rootfs-b"]
    assert said == [
        f"removed {folder / 'rootfs-a'} (4 MB)",
        f"kept {folder / 'rootfs-b'}: a running sandbox host uses it",
    ]


def test_removing_the_cache_keeps_a_rootfs_being_built(monkeypatch, tmp_path):
    folder = cache(tmp_path, monkeypatch)
    monkeypatch.setattr(systemd_host, "in_use", lambda root: False)
    said = []
    with open(folder / "rootfs-a.lock", "w") as building:
        fcntl.flock(building, fcntl.LOCK_EX)
        systemd_host.remove_cache(said.append)
    assert (folder / "rootfs-a.1234.partial").is_dir() and not (folder / "rootfs-b").exists()
    assert said[0] == f"kept {folder / 'rootfs-a'}: it is being built"


def test_a_rootfs_is_in_use_while_an_overlay_has_it_as_its_lower_layer(monkeypatch, tmp_path):
    line = (
        "120 30 0:50 / /x/hosts/sandbox1/root rw,relatime - overlay overlay"
        f" rw,lowerdir={tmp_path}/rootfs-a,upperdir=/x/upper,workdir=/x/work\n"
    )
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(line)
    monkeypatch.setattr(systemd_host, "MOUNTINFO", mountinfo)
    assert systemd_host.in_use(tmp_path / "rootfs-a")
    assert not systemd_host.in_use(tmp_path / "rootfs-ab")


def test_removing_an_empty_cache_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(systemd_host, "CACHE", tmp_path / "none")
    said = []
    systemd_host.remove_cache(said.append)
    assert said == [f"no cached rootfs in {tmp_path / 'none'}"]


def test_a_second_run_waits_for_the_first_ones_build(tmp_path):
    root = tmp_path / "rootfs-x"
    said = []
    with open(tmp_path / "rootfs-x.lock", "w") as building:
        fcntl.flock(building, fcntl.LOCK_EX)
        waiting = threading.Thread(target=systemd_host.ensure_rootfs, args=(root, said.append))
        waiting.start()
        deadline = time.monotonic() + 10
        while not said and time.monotonic() < deadline:
            time.sleep(0.01)
        root.mkdir()  # the first run's build is done
    waiting.join(timeout=10)
    assert said == [f"waiting for another run's build of {root}"]  # and no build of its own
