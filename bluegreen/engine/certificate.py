"""ACME mode: before a host stages anything, it holds a certificate for the app's domains.

Port 80's server (challenges from the webroot, the others' challenges asked of the other
hosts) is installed first, then certbot obtains the certificate on the host itself. Every
host of the fleet gets its own certificate and renews it on its own: whichever host an
http-01 validation lands on (DNS round robin, a load balancer), the host that asked answers
through it. A failure here is before any switch: the old site keeps serving.
"""

from __future__ import annotations

import time

from bluegreen import render
from bluegreen.engine.state import HostRun
from bluegreen.engine.switcher import Switcher, md5
from bluegreen.errors import RemoteError
from bluegreen.output.log import Log
from bluegreen.shell import acme, nginx


def ensure(switcher: Switcher, log: Log, run: HostRun) -> None:
    inventory = switcher.inventory
    app, tls = inventory.app, inventory.app.tls
    if tls.mode != "acme" or set(app.domains) <= set(run.facts.acme_names):
        return
    path, text = nginx.http_path(app.name), render.http(switcher.jinja, inventory, run.host)
    if run.installed.get(path) != md5(text):
        run.holds.pointed_nginx()  # a revert takes it away again when nothing served before
        run.remote.run(nginx.install([(path, text)]), what="nginx port 80")
        run.installed[path] = md5(text)
    ca = tls.ca.read_text() if tls.ca else None
    command = acme.certonly(app.name, app.domains, tls.email or "", tls.server, ca)
    started = time.monotonic()
    try:
        run.remote.run(command, timeout=acme.CERTBOT_TIMEOUT, what="certbot")
    except RemoteError as error:
        raise RemoteError(run.name, f"certificate: certbot failed: {reason(error)}") from error
    seconds = time.monotonic() - started
    log.ok(run.name, f"certificate: obtained for {', '.join(app.domains)} ({seconds:.1f} s)")


def reason(error: RemoteError) -> str:
    """certbot's own words: its Detail/Error lines, else its last line."""
    lines = [line.strip() for line in error.output.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith(("Detail:", "Error", "An unexpected"))]
    return " | ".join(said[:3]) or (lines[-1] if lines else f"exit {error.exited}")
