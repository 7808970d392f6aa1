"""The release's source on the operator's machine: resolve REF and archive the build context."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bluegreen.errors import SourceError
from bluegreen.local import children


def _git(repo: Path, *args: str) -> bytes:
    try:
        return children.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout
    except FileNotFoundError as e:
        raise SourceError("git is not installed on this machine") from e
    except subprocess.CalledProcessError as e:
        raise SourceError(e.stderr.decode(errors="replace").strip().splitlines()[-1]) from e


def resolve(repo: Path, ref: str) -> str:
    """The release id: the commit REF names, 12 hex digits."""
    try:
        return (
            _git(
                repo, "rev-parse", "--verify", "--short=12", "--end-of-options", f"{ref}^{{commit}}"
            )
            .decode()
            .strip()
        )
    except SourceError as e:
        raise SourceError(f"ref {ref!r} does not exist in {repo}: {e}") from e


def archive(repo: Path, release: str, path: str) -> bytes:
    """A tar.gz of the build context at that commit (committed files only, like a clean clone)."""
    tree = f"{release}:{path}" if path not in ("", ".") else release
    return _git(repo, "archive", "--format=tar.gz", "--end-of-options", tree)
