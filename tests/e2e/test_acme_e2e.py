"""``tls: acme`` on three sandbox hosts: real certbot on every host, Pebble (Let's Encrypt's
test ACME server) on the sandbox bridge doing real http-01 validation, its DNS a dnsmasq
that resolves the domain to the FIRST host only — so the challenges of the second and third
hosts land on a host that does not hold them, and are answered only because every host
asks the others (the fleet strategy: each host obtains and renews its own certificate).
Then a forced renewal under HTTPS load (the new certificate served, the cost counted), and
an unreachable ACME server (the deploy fails with certbot's reason, the old site serves).
"""

import json
import socket
import ssl
import subprocess
import textwrap
import time
import urllib.request

import pytest
import trustme

from bluegreen import sandbox as sb
from bluegreen.sandbox.app import sandbox_hosts
from bluegreen.shell import acme
from bluegreen.testing.demo import fab
from bluegreen.testing.load import Load

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2", "sandbox3"]
DOMAIN = "shop.acme.bluegreen.test"
KINDS = ("new", "keepalive-retry", "keepalive")
DNS_PORT, ACME_PORT, MANAGEMENT_PORT = 5353, 14000, 15000
EMPTY = (
    "docker rm -f shop-blue shop-green >/dev/null 2>&1; rm -rf /etc/nginx/conf.d/bluegreen-*"
    " /etc/nginx/bluegreen /srv/shop /etc/letsencrypt/* /var/lib/bluegreen; nginx -s reload"
)


def wait_port(address: str, port: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{address}:{port} did not open in {seconds} s")


@pytest.fixture(scope="module")
def pebble(sandbox, tmp_path_factory):
    """dnsmasq (DOMAIN -> the first host) and Pebble on the bridge; stopped at the end.

    Yields (directory URL, CA bundle path): the bundle holds the CA of Pebble's own HTTPS
    (for certbot) and Pebble's issuing root (for the verification and the test clients)."""
    folder = tmp_path_factory.mktemp("pebble")
    bridge, first = sb.BRIDGE_ADDRESS, sandbox[0].address
    ca = trustme.CA()
    server = ca.issue_cert(bridge)
    server.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    server.private_key_pem.write_to_path(str(folder / "key.pem"))
    config = {
        "pebble": {
            "listenAddress": f"{bridge}:{ACME_PORT}",
            "managementListenAddress": f"{bridge}:{MANAGEMENT_PORT}",
            "certificate": str(folder / "cert.pem"),
            "privateKey": str(folder / "key.pem"),
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (folder / "pebble.json").write_text(json.dumps(config))
    dns = subprocess.Popen(
        ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--user=root",
         f"--port={DNS_PORT}", f"--listen-address={bridge}", "--bind-interfaces",
         "--no-resolv", "--no-hosts", f"--address=/{DOMAIN}/{first}", "--pid-file="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    acme = subprocess.Popen(
        ["pebble", "-config", str(folder / "pebble.json"), "-dnsserver", f"{bridge}:{DNS_PORT}"],
        # no random badNonce (Pebble rejects 5 % by default to test clients; Debian's certbot 2.1
        # then crashes in its error path instead of retrying)
        env={
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_AUTHZREUSE": "0",
            "PEBBLE_WFE_NONCEREJECT": "0",
            "PATH": "/usr/bin:/bin",
        },
        stdout=(folder / "pebble.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_port(bridge, ACME_PORT)
        context = ssl.create_default_context()
        ca.configure_trust(context)
        url = f"https://{bridge}:{MANAGEMENT_PORT}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=5) as answer:
            root = answer.read().decode()
        bundle = folder / "ca.pem"
        bundle.write_text(ca.cert_pem.bytes().decode() + root)
        yield {"url": f"https://{bridge}:{ACME_PORT}/dir", "ca": bundle, "log": folder}
    finally:
        for process in (acme, dns):
            process.terminate()
            process.wait(10)


def write_inventory(path, repo, server, ca):
    text = textwrap.dedent(f"""\
        app:
          name: shop
          repo: {repo}
          health: {{attempts: 10, interval: 0.3, timeout: 2}}
          drain: 0.5
          proxy: {{release_headers: public}}  # the load reads the release from outside
          domains: [{DOMAIN}]
          tls: {{acme: {{email: ops@bluegreen.test, server: '{server}', ca: {ca}}}}}
        """)
    path.write_text(text + sandbox_hosts("fleet", HOSTS, "switch_mode: file"))
    return path


@pytest.fixture(scope="module")
def site(sandbox, pebble, app_repo, tmp_path_factory):
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, EMPTY)
    folder = tmp_path_factory.mktemp("acme")
    inventory = write_inventory(folder / "hosts.yml", app_repo.path, pebble["url"], pebble["ca"])
    context = ssl.create_default_context(cafile=str(pebble["ca"]))
    yield {"hosts": hosts, "inventory": inventory, "context": context, "folder": folder}
    for host in hosts:
        sb.run_in(host, EMPTY)


def serves_only(site, release: str) -> None:
    """Every host answers HTTPS for the domain (verified) with ``release`` and nothing else."""
    with Load(
        [(h.address, 443) for h in site["hosts"]], max_seconds=30, tls=site["context"],
        server_name=DOMAIN, max_requests=300,
    ) as load:  # fmt: skip
        time.sleep(0.3)
    assert load.stats().failed == 0 and set(load.stats().releases) == {release}, load.report()


def served_serial(host, context) -> str:
    raw = socket.create_connection((host.address, 443), timeout=5)
    with context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
        return tls.getpeercert()["serialNumber"]


def test_every_host_obtains_its_own_certificate_through_any_host(site, app_repo):
    result = fab(site["inventory"], "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    for host in site["hosts"]:
        assert f"{host.name} ✅ certificate: obtained for {DOMAIN}" in result.stdout
        assert f"{host.name} ✅ verify: port 443 serves blue" in result.stdout
    serials = {served_serial(host, site["context"]) for host in site["hosts"]}
    assert len(serials) == 3  # one certificate per host, each verified against the name
    # the validation came to the first host only; the others' tokens were forwarded
    log = sb.run_in(site["hosts"][0], "cat /var/log/nginx/access.log").stdout
    assert log.count("/.well-known/acme-challenge/") >= 3, log
    status = json.loads(fab(site["inventory"], "status", "--json").stdout)
    for record in status["hosts"]:
        assert record["tls"]["valid"] and record["tls"]["names"] == [DOMAIN], record
        assert record["tls"]["issuer"].startswith("Pebble Intermediate CA")
    serves_only(site, app_repo.releases["v1"])


def test_a_forced_renewal_is_served_after_one_reload_and_its_cost_is_counted(site):
    host = site["hosts"][1]
    before = served_serial(host, site["context"])
    targets = [(host.address, 443)]
    with Load(
        targets, max_seconds=120, tls=site["context"], server_name=DOMAIN, pause=0.01
    ) as load:
        started = time.monotonic()
        renewal = sb.run_in(host, acme.renew("shop", force=True), check=False)
        seconds = time.monotonic() - started
        time.sleep(0.5)
    assert renewal.returncode == 0, renewal.stdout + renewal.stderr
    failed = {kind: load.stats(kind).failed for kind in KINDS}
    print(f"\nrenewal: {seconds:.1f} s, failed per kind {failed}\n{load.report()}")
    assert failed["new"] == 0 and failed["keepalive-retry"] == 0, load.report()
    assert failed["keepalive"] <= 1, load.report()  # one idle connection closed by the reload
    assert served_serial(host, site["context"]) != before  # the deploy hook reloaded nginx
    conf = sb.run_in(host, "cat /etc/letsencrypt/renewal/shop.conf").stdout
    assert "renew_hook = nginx -t -q && nginx -s reload" in conf
    assert "authenticator = webroot" in conf


def test_an_unreachable_acme_server_fails_the_deploy_and_the_old_site_serves(
    site, pebble, app_repo
):
    """A new name needs a new certificate; the ACME server does not answer."""
    inventory = write_inventory(
        site["folder"] / "down.yml", app_repo.path, "https://127.0.0.1:1/dir", pebble["ca"]
    )
    text = inventory.read_text().replace(f"[{DOMAIN}]", f"[{DOMAIN}, www.{DOMAIN}]")
    inventory.write_text(text)
    result = fab(inventory, "deploy", "--ref", "v2")
    assert result.returncode == 1, result.output
    for host in site["hosts"]:
        assert f"{host.name} ❌ certificate: certbot failed:" in result.stdout
        assert served_serial(host, site["context"])  # still the old certificate, still v1
    serves_only(site, app_repo.releases["v1"])
