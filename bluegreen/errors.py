"""The one exception root: every error an operator can act on is a ``BluegreenError``, and
its message is one readable line (the tasks print it and exit 2 before any change, or the
engine logs it per host). Anything else escaping is a bug."""

from __future__ import annotations


class BluegreenError(Exception):
    """Root of bluegreen's errors."""


BUG_EXIT = 3  # fab's exit code when bluegreen itself broke (a bug): not 1, not 2


class BugFound(Exception):  # noqa: N818 - it is what happened, not an error of the input
    """Raised at the end of a change in which a host's step hit a bug (an exception that is
    not a BluegreenError; its traceback was printed under that host). Deliberately not a
    BluegreenError: fab exits ``BUG_EXIT``."""


class InventoryError(BluegreenError, ValueError):
    """hosts.yml is missing or invalid; the message names the file, the key and the problem."""


class InitError(BluegreenError):
    """``bluegreen init``: the folder cannot get an inventory; says why and what to do."""


class SourceError(BluegreenError):
    """The app's source cannot be read at the requested ref."""


class TemplateError(BluegreenError):
    """A template that does not render; names the template and the line."""


class UnsupportedSystem(BluegreenError):
    """A host's /etc/os-release names a distribution bluegreen has no profile for."""


class DockerConfigError(BluegreenError):
    """A host's /etc/docker/daemon.json cannot be merged (not a JSON object)."""


class Refused(BluegreenError):
    """The requested change cannot be made on a host (e.g. no previous release to go back to)."""


class RemoteError(BluegreenError):
    """A host could not be reached or a command failed; the message is one readable line."""

    def __init__(self, host: str, message: str, output: str = "", exited: int | None = None):
        super().__init__(f"{host}: {message}")
        self.host = host
        self.output = output
        self.exited = exited  # the command's exit status, when it ran and failed


class CheckFailed(BluegreenError):
    """A color never became healthy, or the public port does not serve what it should."""


class WatchFailed(CheckFailed):
    """The watched color answered too many errors or too slowly; the message is the evidence."""


class ImageError(BluegreenError):
    """The release's image cannot be built, saved or resolved on the operator's machine."""
