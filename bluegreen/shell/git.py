"""git on the server (``source: git``): keep a bare mirror, resolve REF, export a tree."""

from __future__ import annotations

from shlex import quote

from bluegreen.shell import docker


def mirror(app_dir: str) -> str:
    return f"{app_dir}/repo.git"


def fetch_and_resolve(app: str, app_dir: str, url: str, ref: str) -> str:
    """Clone or update the mirror; print ``release=<12 hex>`` and ``image=present`` if built."""
    repo = quote(mirror(app_dir))
    refspecs = "'+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*'"
    commit = quote(ref + "^{commit}")
    resolve = f"git -C {repo} rev-parse --verify --short=12 --end-of-options {commit}"
    return (
        f"set -e; mkdir -p {quote(app_dir)}\n"
        f"if [ -d {repo} ]; then git -C {repo} fetch -q --force --prune {quote(url)} {refspecs};"
        f" else git clone --quiet --bare -- {quote(url)} {repo}; fi\n"
        f"release=$({resolve} 2>/dev/null)"
        f" || {{ echo {quote(f'ref {ref!r} does not exist in {url}')} >&2; exit 1; }}\n"
        'echo "release=$release"\n'
        f'docker image inspect "{docker.image(app, "$release")}" >/dev/null 2>&1'
        " && echo image=present || true"
    )


def export(app_dir: str, release: str, path: str, target: str) -> str:
    """Write the build context at ``release`` into ``target`` (replacing it)."""
    tree = f"{release}:{path}" if path not in ("", ".") else release
    t, repo = quote(target), quote(mirror(app_dir))
    return (
        f"set -e; git -C {repo} cat-file -e {quote(tree)}; rm -rf {t}.tmp; mkdir -p {t}.tmp"
        f" && git -C {repo} archive --format=tar {quote(tree)} | tar -x -C {t}.tmp"
        f" && rm -rf {t} && mv {t}.tmp {t}"
    )
