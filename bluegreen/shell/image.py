"""Image commands: ship a saved image, pull one by digest, read an image id, prune old ones.

Whatever its source, a release's image ends up on each host under one name,
``<app>:<release>`` (``docker.image``), so starting, rollback and pruning do not care
where it came from. Commands that end with an image print ``image_id=sha256:...``.
"""

from __future__ import annotations

from shlex import quote

from bluegreen.shell.docker import image


def save(name: str) -> list[str]:
    """The operator's side (argv): the image as a tar on stdout, compressed by the caller."""
    return ["docker", "save", name]


def image_id(app: str, release: str) -> str:
    """``image_id=sha256:...`` of the release's image, or ``image_id=`` when it is absent."""
    name = quote(image(app, release))
    return (
        f"printf 'image_id=%s\\n' \"$(docker image inspect -f '{{{{.Id}}}}' {name} 2>/dev/null)\""
    )


def load(app: str, release: str) -> str:
    """The host's side of the stream: a gzip'd ``docker save`` on stdin becomes the image."""
    return f"gunzip | docker load -q >/dev/null && {image_id(app, release)}"


def pull(app: str, release: str, reference: str, server: str, username: str | None) -> str:
    """Pull ``reference`` (name@sha256:...) and name it ``<app>:<release>``, nothing else.

    With a ``username`` the password comes on stdin (``docker login --password-stdin``) into a
    private, temporary ``DOCKER_CONFIG`` that is removed at the end: the credentials are on
    no command line and stay on no host.
    """
    pulled = quote(reference)
    named = quote(image(app, release))
    steps = [
        f"docker pull -q {pulled} >/dev/null",
        f"docker tag {pulled} {named}",
        f"docker rmi {pulled} >/dev/null",  # the release's own name is the only one left
        image_id(app, release),
    ]
    if username is not None:
        login = f"docker login -u {quote(username)} --password-stdin {quote(server)} >/dev/null"
        private = 'cfg=$(mktemp -d) && trap \'rm -rf "$cfg"\' EXIT && export DOCKER_CONFIG="$cfg"'
        steps = [private, login, *steps]
    return " && ".join(steps)


def prune(app: str, keep: list[str], recent: int) -> str:
    """Remove the app's images but ``keep`` and the ``recent`` newest others; print
    ``pruned=<release>`` for each one removed.

    ``docker rmi`` without ``-f`` refuses an image that any container (running or stopped)
    uses, so a color's image is never removed.
    """
    names = " ".join(f"-e {quote(release)}" for release in [*keep, "<none>"])
    repository = quote(app)
    return (
        f"docker images --format '{{{{.Tag}}}}' {repository} | grep -vxF {names}"
        f" | tail -n +{int(recent) + 1} | while read -r tag; do"
        f' docker rmi {repository}:"$tag" >/dev/null 2>&1 && echo "pruned=$tag"; done; true'
    )
