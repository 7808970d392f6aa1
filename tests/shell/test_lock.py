"""The lock builders as exact strings, and run by real shells racing on a scratch directory:
one winner, every loser names it, and a take-over of an expired lock is won once."""

import subprocess
from pathlib import Path

from bluegreen.shell import lock

RACERS = 8
ROUNDS = 10  # the old mkdir-then-write lock showed a loser an empty record within 40


def _info(n: int, expires: int = 2**40) -> lock.LockInfo:
    return lock.LockInfo(f"op{n}@here", n, "switch", "2026-12-06T00:00:00+00:00", expires, f"t{n}")


def _race(commands: list[str]) -> list[str]:
    """Start every command at once in its own shell; their outputs, in order."""
    shells = [
        subprocess.Popen(["sh", "-c", c], stdout=subprocess.PIPE, text=True) for c in commands
    ]
    return [shell.communicate()[0] for shell in shells]


def _verdict(outputs: list[str], app: Path, before: lock.LockInfo | None = None) -> None:
    """Exactly one took the lock, its record is on disk, every other saw that record (or the
    one ``before`` it, while the winner was taking it over)."""
    winners = [i for i, out in enumerate(outputs) if out.startswith("lock=taken")]
    assert len(winners) == 1, outputs
    on_disk = lock.parse((app / ".lock" / "info").read_text())
    assert on_disk == _info(winners[0])
    seen = {f"lock=held {info.to_json()}" for info in (on_disk, before) if info}
    if before:  # or none: the expired lock was renamed aside between its mv and its read
        seen.add("lock=held ")
    for out in outputs[: winners[0]] + outputs[winners[0] + 1 :]:
        assert out.splitlines()[0] in seen, out
    assert sorted(p.name for p in app.iterdir()) == [".lock"]  # no temporary left over


def test_acquire_writes_the_record_privately_then_renames_it_into_place():
    assert lock.acquire("/srv/a b", _info(1)) == (
        "mkdir -p '/srv/a b' && t=$(mktemp -d '/srv/a b'/.lock-new.XXXXXXXX)"
        f" && printf '%s' '{_info(1).to_json()}' > \"$t/info\""
        " && if mv -T \"$t\" '/srv/a b/.lock' 2>/dev/null; then echo lock=taken;"
        ' else rm -rf "$t"; echo "lock=held $(cat \'/srv/a b/.lock\'/info 2>/dev/null)";'
        ' echo "lock_now=$(date +%s)"; fi'
    )


def test_take_over_renames_aside_only_the_expired_lock_and_only_once():
    command = lock.take_over("/srv/app", _info(2), _info(1, expires=1))
    assert command == (
        "if mkdir /srv/app/.lock-taker.t1 2>/dev/null; then if grep -qsF t1 /srv/app/.lock/info"
        " && mv -T /srv/app/.lock /srv/app/.lock-old.t1 2>/dev/null;"
        " then rm -rf /srv/app/.lock-old.t1; fi; rm -rf /srv/app/.lock-taker.t1; fi; "
        + lock.acquire("/srv/app", _info(2))
    )
    assert "! test -s /srv/app/.lock/info" in lock.take_over("/srv/app", _info(2), None)


def test_release_renames_its_own_lock_aside_before_removing_it():
    assert lock.release("/srv/app", "t1") == (
        "if grep -qs t1 /srv/app/.lock/info; then mv -T /srv/app/.lock /srv/app/.lock-old.t1"
        " && rm -rf /srv/app/.lock-old.t1; fi"
    )


def test_racing_shells_acquire_the_lock_once_and_the_others_see_the_winner(tmp_path):
    for round_ in range(ROUNDS):
        app = tmp_path / str(round_)
        _verdict(_race([lock.acquire(str(app), _info(n)) for n in range(RACERS)]), app)


def test_racing_shells_take_over_an_expired_lock_once(tmp_path):
    for round_ in range(3):
        app = tmp_path / str(round_)
        expired = lock.LockInfo("old@there", 1, "deploy", "then", 1, "expired")
        subprocess.run(
            ["sh", "-c", lock.acquire(str(app), expired)], check=True, stdout=subprocess.DEVNULL
        )
        outputs = _race([lock.take_over(str(app), _info(n), expired) for n in range(RACERS)])
        _verdict(outputs, app, before=expired)


def test_a_release_leaves_someone_elses_lock(tmp_path):
    subprocess.run(
        ["sh", "-c", lock.acquire(str(tmp_path), _info(1))], check=True, stdout=subprocess.DEVNULL
    )
    subprocess.run(["sh", "-c", lock.release(str(tmp_path), "t2")], check=True)
    assert (tmp_path / ".lock" / "info").exists()
    subprocess.run(["sh", "-c", lock.release(str(tmp_path), "t1")], check=True)
    assert list(tmp_path.iterdir()) == []


def test_a_guarded_command_runs_only_while_the_lock_is_its_runs(tmp_path):
    assert lock.held("/srv/app", "t1") == (
        "grep -qs t1 /srv/app/.lock/info ||"
        " { echo 'the lock is no longer this run'\"'\"'s (taken over?)' >&2; exit 4; }"
    )
    subprocess.run(["sh", "-c", lock.acquire(str(tmp_path), _info(1))], stdout=subprocess.DEVNULL)
    for token, exited, out in (("t1", 0, "acted\n"), ("t2", lock.LOST, "")):
        command = f"{lock.held(str(tmp_path), token)}\necho acted"
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        assert (done.returncode, done.stdout) == (exited, out)


def test_the_host_writes_the_expiry_on_its_own_clock(tmp_path):
    """The operator's clock may be hours off the host's: only the host's counts."""
    subprocess.run(["sh", "-c", lock.acquire(str(tmp_path), _info(1), ttl=600)], check=True)
    written = lock.parse((tmp_path / ".lock" / "info").read_text())
    now = int(subprocess.run(["date", "+%s"], capture_output=True, text=True).stdout)
    assert written == lock.LockInfo(**{**vars(_info(1)), "expires": written.expires})
    assert now + 595 <= written.expires <= now + 600


def test_a_refresh_pushes_the_expiry_on_the_hosts_clock_only_while_the_lock_is_ours(tmp_path):
    subprocess.run(["sh", "-c", lock.acquire(str(tmp_path), _info(1, expires=5))], check=True)
    mine = subprocess.run(["sh", "-c", lock.refresh(str(tmp_path), _info(1), ttl=600)])
    now = int(subprocess.run(["date", "+%s"], capture_output=True, text=True).stdout)
    written = lock.parse((tmp_path / ".lock" / "info").read_text())
    assert mine.returncode == 0 and now + 595 <= written.expires <= now + 600
    assert written == lock.LockInfo(**{**vars(_info(1)), "expires": written.expires})

    theirs = subprocess.run(["sh", "-c", lock.refresh(str(tmp_path), _info(2), ttl=600)])
    assert theirs.returncode == lock.LOST
    assert lock.parse((tmp_path / ".lock" / "info").read_text()) == written  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]
    assert sorted(p.name for p in (tmp_path / ".lock").iterdir()) == ["info"]


def test_a_switch_mark_is_written_whole_and_only_its_own_run_removes_it(tmp_path):
    """The mark stays when another run finishes (its history line says nothing of the
    switch that left it); one that cannot be written stops the command before nginx's."""
    mark = subprocess.run(["sh", "-c", f"{lock.mark(str(tmp_path), _info(1))}\necho switched"],
                          capture_output=True, text=True)  # fmt: skip
    assert (mark.returncode, mark.stdout) == (0, "switched\n")
    assert lock.parse((tmp_path / ".unsettled").read_text()) == _info(1)
    subprocess.run(["sh", "-c", lock.unmark(str(tmp_path), "t2")], check=True)
    assert lock.parse((tmp_path / ".unsettled").read_text()) == _info(1)
    subprocess.run(["sh", "-c", lock.unmark(str(tmp_path), "t1")], check=True)
    assert list(tmp_path.iterdir()) == []

    gone = tmp_path / "gone"  # a directory that cannot take it (as a full disk cannot)
    mark = subprocess.run(["sh", "-c", f"{lock.mark(str(gone), _info(1))}\necho switched"],
                          capture_output=True, text=True)  # fmt: skip
    assert (mark.returncode, mark.stdout) == (lock.UNMARKED, "")
    assert list(tmp_path.iterdir()) == []
