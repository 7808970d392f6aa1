"""Release directories on a host: where an uploaded source lands and is unpacked."""

from __future__ import annotations

from shlex import quote


def directory(app_dir: str, release: str) -> str:
    return f"{app_dir}/releases/{release}"


def upload_path(app: str, release: str, host: str, run: str) -> str:
    """Where the uploaded ``git archive`` lands, relative to the login user's home: a folder
    only that user can write (never a guessable name in a world-writable /tmp), named for
    the host and the run, so hosts sharing that home (NFS) never write the same file."""
    return f".bluegreen/uploads/{app}-{release}-{host}-{run}.tar.gz"


def unpack(archive: str, target: str) -> str:
    """Unpack the uploaded source into ``target`` (replacing it), then remove the archive."""
    t, tarball = quote(target), quote(archive)
    return (
        f"set -e; rm -rf {t}.tmp; mkdir -p {t}.tmp && tar -xzf {tarball} -C {t}.tmp"
        f" && rm -f {tarball} && rm -rf {t} && mv {t}.tmp {t}"
    )
