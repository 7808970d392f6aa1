"""Layer 5, transport: the only code that talks SSH (``ssh``: connections with verified
host keys, sudo, commands and uploads; ``http``: HTTP(S) over SSH channels; ``ahead``:
channels opened before they are needed; ``dryrun``: the dry run's session) and the
known_hosts lines paramiko does not understand."""

from __future__ import annotations

from bluegreen.config.inventory import Host
from bluegreen.transport.dryrun import DryRemote
from bluegreen.transport.ssh import Remote


def connect(host: Host, dry_run: bool = False) -> Remote:
    """The one place a session is made (not yet opened): unit tests replace it with a
    scripted one (``bluegreen.testing``)."""
    return DryRemote(host) if dry_run else Remote(host)
