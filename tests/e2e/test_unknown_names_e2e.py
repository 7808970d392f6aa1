"""Names nobody deployed get a refusal: an app on ``domains`` + ``tls: files`` on three sandbox
hosts, two with Debian's stock default site and one bare (its default site removed).

The hosts start as an older bluegreen left them (the app deployed, no default server of
ours): an unknown name then gets the app and its certificate on 443. A deploy under HTTPS
load installs the default server; afterwards an unknown name (``curl --resolve``) fails the
handshake on 443, as does a handshake without SNI, and on 80 the bare host closes the
connection (444) while the stock hosts still answer with Debian's page, untouched. The
app's names and its ACME challenges keep working.
"""

import json
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest
import trustme

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab
from tests.e2e.test_tls_e2e import (
    ALL_KINDS,
    DOMAINS,
    FRESH_HOST,
    GUARDED,
    HOSTS,
    inventory,
    issue,
    serves,
    under_load,
)

pytestmark = pytest.mark.e2e

BARE = "sandbox3"  # its distribution default site removed
REFUSE = "/etc/nginx/conf.d/00-bluegreen-refuse.conf"
UNKNOWN = "other.bluegreen.test"
DEBIAN_SITE = "/etc/nginx/sites-enabled/default"
CHALLENGE = "/var/lib/bluegreen/acme/.well-known/acme-challenge"


@pytest.fixture(scope="module")
def site(sandbox, app_repo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("unknown-names")
    ca = trustme.CA()
    chain, key, secret = issue(ca, folder, "shop")
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    bare = next(h for h in hosts if h.name == BARE)
    sb.run_in(bare, f"rm {DEBIAN_SITE} && nginx -s reload")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    yield {
        "mode": "core",
        "hosts": hosts,
        "releases": app_repo.releases,
        "inventory": inventory(folder / "hosts.yml", app_repo.path, "core", chain, key),
        "secrets": [secret],
        "context": context,
    }
    sb.run_in(bare, f"ln -sfn /etc/nginx/sites-available/default {DEBIAN_SITE}")
    for host in hosts:
        sb.run_in(host, FRESH_HOST)


def curl(host, port: int, name: str = UNKNOWN) -> subprocess.CompletedProcess:
    """``curl --resolve name:port:address`` (certificate not checked: what does the host show?)."""
    scheme = "https" if port == 443 else "http"
    return subprocess.run(
        ["curl", "-sk", "--max-time", "5", "--resolve", f"{name}:{port}:{host.address}"]
        + ["-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}", f"{scheme}://{name}/"],
        capture_output=True,
        text=True,
        timeout=10,
    )


def health(host, port: int, name: str) -> str:
    """``GET /.bluegreen/up`` as a balancer sends it: '<http code> <body>'."""
    scheme = "https" if port == 443 else "http"
    done = subprocess.run(
        ["curl", "-sk", "--max-time", "5", "--resolve", f"{name}:{port}:{host.address}"]
        + ["-w", "%{http_code} ", f"{scheme}://{name}/.bluegreen/up"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    body, _, code = done.stdout.rpartition("\n")
    return f"{code.strip()} {body}\n"


def shows_certificate(host, name: str | None) -> bool:
    """Whether a handshake with SNI ``name`` (None: no SNI) gets a certificate shown."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host.address, 443), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                return bool(tls.getpeercert(binary_form=True))
        except ssl.SSLError:
            return False


def answers(host) -> dict[str, str]:
    """What an unknown name gets, as curl says: '<port>': '<exit> <http code>'."""
    said = {}
    for port in (80, 443):
        done = curl(host, port)
        said[str(port)] = f"exit {done.returncode} http {done.stdout.split(' ')[0]}"
    return said


def refusals(site) -> dict[str, list[int]]:
    """``fab status --json``: the ports where each host refuses unknown names."""
    status = fab(site["inventory"], "status", "--json")
    assert status.returncode == 0, status.output
    return {r["host"]: r["unknown_names"]["refused"] for r in json.loads(status.stdout)["hosts"]}


def shown_within(host, seconds: float = 10.0) -> bool:
    """Whether the app's certificate is shown to an unknown name within ``seconds``: ``nginx -s
    reload`` returns before the new workers take over."""
    deadline = time.monotonic() + seconds
    while not shows_certificate(host, UNKNOWN):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_a_deploy_under_load_installs_the_refusal_and_keeps_the_app(site):
    first = fab(site["inventory"], "deploy", "--ref", "v1")
    assert first.returncode == 0, first.output
    for host in site["hosts"]:  # as an older bluegreen left the host: no default of ours
        sb.run_in(host, f"rm -f {REFUSE} && nginx -s reload")
    for host in site["hosts"]:
        assert shown_within(host), host.name  # the app's certificate
    before = {host.name: answers(host) for host in site["hosts"]}
    print("\nunknown name before:", before)
    assert refusals(site) == {h.name: [] for h in site["hosts"]}  # status: NOT refused

    result, load = under_load(site, "deploy", "--ref", "v2", guarded=GUARDED["reload"])
    print("deploy installing the default server, failed per kind:")
    print({kind: (load.stats(kind).sent, load.stats(kind).failed) for kind in ALL_KINDS})
    assert "nginx tested and reloaded" in result.stdout
    serves(site, "green", site["releases"]["v2"], "2.0.0")

    after = {host.name: answers(host) for host in site["hosts"]}
    print("unknown name after:", after)
    assert refusals(site) == {h.name: [80, 443] if h.name == BARE else [443] for h in site["hosts"]}
    for host in site["hosts"]:
        ours = sb.run_in(host, f"cat {REFUSE}").stdout
        assert ours.startswith(
            "# bluegreen refuse ports=" + ("80,443" if host.name == BARE else "443")
        )
        # 443: the handshake fails (curl 35), for an unknown name and without SNI
        assert after[host.name]["443"] == "exit 35 http 000", after
        assert not shows_certificate(host, UNKNOWN) and not shows_certificate(host, None)
        if host.name == BARE:  # 444: the connection closes without an answer (curl 52)
            assert after[host.name]["80"] == "exit 52 http 000", after
        else:  # the stock site still owns port 80 and answers as before
            assert after[host.name]["80"] == before[host.name]["80"] == "exit 0 http 200"
            sb.run_in(host, f"test -L {DEBIAN_SITE}")
        # the app's names: the redirect on 80, an http-01 challenge from the webroot
        assert curl(host, 80, DOMAINS[1]).stdout.startswith("301 ")
        sb.run_in(host, f"mkdir -p {CHALLENGE} && echo token-{host.name} > {CHALLENGE}/t1")
        request = urllib.request.Request(
            f"http://{host.address}/.well-known/acme-challenge/t1", headers={"Host": DOMAINS[0]}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.read().decode().strip() == f"token-{host.name}"
        # a load balancer's health check: by address where the default server is ours, by
        # the app's name on 443 everywhere (docs/guides/load-balancers.md)
        if host.name == BARE:
            assert health(host, 80, host.address) == "200 up\n"
        live = f"green {site['releases']['v2']}"  # write_inventory's release headers: public
        assert health(host, 443, DOMAINS[0]) == f"200 {live}\n"
