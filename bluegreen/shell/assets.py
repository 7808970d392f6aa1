"""Assets across the switch (``app.assets``): each release's fingerprinted files are copied
out of its image (or release directory) at stage into a per-host store; nginx serves the
union of the kept releases' files, so a page rendered by the old release still finds its
assets after a switch, during a split and after a rollback.

Layout: ``<app_dir>/assets/releases/<release>/`` holds one release's files;
``<app_dir>/assets/union.XXXXXX/<url>`` hard-links all of them (the newest staged release
wins a name two releases share); the link ``nginx.assets_path(app)`` points at the
current union and is replaced with one atomic rename.
"""

from __future__ import annotations

import posixpath
from shlex import quote

from bluegreen.shell import docker, nginx


def store(app_dir: str) -> str:
    return f"{app_dir}/assets"


def from_image(app: str, release: str, path: str) -> str:
    """Copy ``path`` of the release's image into ``$into`` (a stopped container, removed)."""
    image = quote(docker.image(app, release))
    return (
        f'id=$(docker create {image}) && {{ docker cp "$id":{quote(path)}/. "$into"/;'
        ' rc=$?; docker rm "$id" >/dev/null; [ $rc = 0 ]; }'
    )


def from_directory(directory: str, path: str) -> str:
    """Copy ``path`` (absolute inside the release directory) into ``$into``."""
    return f'cp -a {quote(directory + path)}/. "$into"/'


def collect(app: str, app_dir: str, release: str, copy: str, url: str) -> str:
    """Put ``release``'s files into the store (unless there) with ``copy``, then serve the
    union of every stored release."""
    releases = quote(f"{store(app_dir)}/releases")
    target, into = quote(release), quote(f"{release}.tmp")
    return "\n".join(
        [
            "set -e",
            f"mkdir -p {releases}",
            f"if [ ! -d {releases}/{target} ]; then",
            f'into={releases}/{into}; rm -rf "$into"; mkdir "$into"',
            copy,
            'chmod -R a+rX "$into"',
            f'mv "$into" {releases}/{target}',
            "fi",
            union(app, app_dir, url),
        ]
    )


def union(app: str, app_dir: str, url: str) -> str:
    """Hard-link every stored release's files, oldest first, into a new union directory,
    point the served link at it; the union it replaced stays (a request may be reading it
    now), older ones go."""
    root, link = quote(store(app_dir)), quote(nginx.assets_path(app))
    return "\n".join(
        [
            f"mkdir -p {quote(posixpath.dirname(nginx.assets_path(app)))}",
            f'u=$(mktemp -d {root}/union.XXXXXX); chmod 755 "$u"; mkdir -p "$u"{quote(url)}',
            f"for r in $(ls -1tr {root}/releases | grep -v '\\.tmp$'); do"
            f' cp -alf {root}/releases/"$r"/. "$u"{quote(url)}; done',
            f'chmod -R a+rX "$u"; old=$(readlink {link} 2>/dev/null || true)',
            f'ln -sfn "$u" {link}.new && mv -Tf {link}.new {link}',
            f'for d in {root}/union.*; do [ "$d" = "$u" ] || [ "$d" = "$old" ]'
            ' || rm -rf "$d"; done',
        ]
    )


def prune(app: str, app_dir: str, keep: list[str], recent: int, url: str) -> str:
    """Remove stored releases but ``keep`` and the ``recent`` newest others, then serve the
    union of the rest; prints ``pruned_assets=<release>`` per removal."""
    releases = quote(f"{store(app_dir)}/releases")
    names = " ".join(f"-e {quote(release)}" for release in [*keep, ""])
    return "\n".join(
        [
            f"if [ -d {releases} ]; then",
            f"ls -1t {releases} | grep -v '\\.tmp$' | grep -vxF {names} | tail -n +{recent + 1}"
            f' | while read -r r; do rm -rf {releases}/"$r" && echo pruned_assets="$r"; done',
            union(app, app_dir, url),
            "fi",
        ]
    )
