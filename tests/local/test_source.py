import io
import subprocess
import tarfile

import pytest

from bluegreen.local import source


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    (path / "app").mkdir(parents=True)
    (path / "app" / "Dockerfile").write_text("FROM scratch\n")
    (path / "README").write_text("outside the build context\n")
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"],
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True)
    return path


def test_resolve_gives_the_short_commit(repo):
    full = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert source.resolve(repo, "HEAD") == full[:12]


@pytest.mark.parametrize(
    "ref", ["no-such-branch", "$(touch pwned)", "--output=x", "--git-dir=x", "a b;c"]
)
def test_a_bad_ref_is_refused_and_runs_nothing(repo, tmp_path, ref, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(source.SourceError) as error:
        source.resolve(repo, ref)
    assert str(error.value).startswith(f"ref {ref!r} does not exist in {repo}: ")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "x").exists()


def test_archive_holds_only_the_build_context_at_that_commit(repo):
    release = source.resolve(repo, "HEAD")
    (repo / "app" / "uncommitted").write_text("not in the release\n")
    with tarfile.open(fileobj=io.BytesIO(source.archive(repo, release, "app"))) as tar:
        assert tar.getnames() == ["Dockerfile"]
