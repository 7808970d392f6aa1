"""HTTPS with the user's own certificate (``tls: files``) on three sandbox hosts, under HTTPS
load that verifies the certificate against the domain (a test CA made by trustme).

In file mode nothing drops, keep-alive clients that never retry included; in reload mode the
retrying kinds drop nothing. A new certificate is the one reload a file-mode host needs: its
cost is printed, the new certificate served afterwards is asserted, and the key never shows
up in an output, a plan or a process list on the hosts.
"""

import datetime
import http.client
import json
import socket
import ssl
import threading
import time

import pytest
import trustme
from cryptography import x509

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import Load
from tests.e2e import support

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2", "sandbox3"]
DOMAINS = ["shop.bluegreen.test", "www.shop.bluegreen.test"]
ALL_KINDS = ("new", "keepalive-retry", "keepalive")
GUARDED = {"reload": ("new", "keepalive-retry"), "file": ALL_KINDS}
FRESH_HOST = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/conf.d/00-bluegreen-refuse.conf"
    " /etc/nginx/bluegreen /srv/example; nginx -s reload"
)


def issue(ca: trustme.CA, folder, name: str, **kw) -> tuple:
    """A certificate for DOMAINS from ``ca``: (chain path, key path, key text), key 0600."""
    cert = ca.issue_cert(*kw.pop("names", DOMAINS), **kw)
    chain, key = folder / f"{name}.crt", folder / f"{name}.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key.write_bytes(cert.private_key_pem.bytes())
    key.chmod(0o600)
    return chain, key, cert.private_key_pem.bytes().decode()


def inventory(path, repo, mode: str, chain, key):
    tls = f"tls: {{files: {{certificate: {chain}, key: {key}}}, hsts: true}}"
    return write_inventory(
        path,
        repo,
        HOSTS,
        app_extra=f"domains: [{', '.join(DOMAINS)}]\n{tls}",
        defaults_extra=f"switch_mode: {mode}",
    )


@pytest.fixture(scope="module", params=["file", "reload"])
def site(request, sandbox, app_repo, tmp_path_factory):
    mode = request.param
    folder = tmp_path_factory.mktemp(f"tls-{mode}")
    ca = trustme.CA()
    chain, key, secret = issue(ca, folder, "first")
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, FRESH_HOST)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    yield {
        "mode": mode,
        "ca": ca,
        "folder": folder,
        "hosts": hosts,
        "releases": app_repo.releases,
        "inventory": inventory(folder / "hosts.yml", app_repo.path, mode, chain, key),
        "repo": app_repo.path,
        "secrets": [secret],
        "context": context,
    }
    for host in hosts:
        sb.run_in(host, FRESH_HOST)


def get(host, context, name=DOMAINS[0], path="/version") -> http.client.HTTPResponse:
    """GET https://name/path from ``host``'s address, the certificate checked against name."""
    conn = http.client.HTTPSConnection(name, 443, timeout=5, context=context)
    conn._create_connection = lambda _where, *a, **kw: socket.create_connection(
        (host.address, 443), *a, **kw
    )
    conn.request("GET", path)
    response = conn.getresponse()
    response.body = response.read().decode()
    response.peer = conn.sock.getpeercert()
    conn.close()
    return response


def serves(site, color, release, version):
    for host in site["hosts"]:
        for name in DOMAINS:
            answer = get(host, site["context"], name)
            got = (answer.getheader("X-Bluegreen-Color"), answer.getheader("X-Bluegreen-Release"))
            assert (*got, answer.body) == (color, release, version), (host.name, name)


def under_load(site, *args, guarded=None):
    targets = [(h.address, 443) for h in site["hosts"]]
    with Load(
        targets, max_seconds=120, tls=site["context"], server_name=DOMAINS[0], pause=0.01
    ) as load:
        result = fab(site["inventory"], *args)
    print(f"\n[{site['mode']}] fab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    assert result.returncode == 0, result.output
    for kind in guarded or GUARDED[site["mode"]]:
        stats = load.stats(kind)
        assert stats.sent > 50 and stats.failed == 0, load.report()
    no_secret(site, result.output)
    return result, load


def no_secret(site, text: str) -> None:
    for secret in site["secrets"]:
        body = secret.splitlines()[1]  # a line of the key's base64
        assert body not in text


def test_first_deploy_serves_https_and_redirects_http(site):
    result = fab(site["inventory"], "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    no_secret(site, result.output)
    assert "verify: port 443 serves blue" in result.stdout
    serves(site, "blue", site["releases"]["v1"], "1.0.0")
    host = site["hosts"][0]
    answer = get(host, site["context"])
    assert answer.getheader("Strict-Transport-Security") == "max-age=63072000"
    assert answer.peer["subjectAltName"] == tuple(("DNS", name) for name in DOMAINS)
    plain = http.client.HTTPConnection(host.address, 80, timeout=5)
    plain.request("GET", "/version?x=1", headers={"Host": DOMAINS[1]})
    redirect = plain.getresponse()
    assert redirect.status == 301
    assert redirect.getheader("Location") == f"https://{DOMAINS[1]}/version?x=1"
    untrusted = ssl.create_default_context()  # the system's CAs do not know the test CA
    with pytest.raises(ssl.SSLCertVerificationError):
        get(host, untrusted)
    for host in site["hosts"]:  # the key: root's, 0600, in a root-only directory
        listing = sb.run_in(
            host, "stat -c '%a %U %n' /etc/nginx/bluegreen/tls /etc/nginx/bluegreen/tls/*"
        ).stdout.split("\n")
        assert listing[0].startswith("700 root"), listing
        keys = [line for line in listing if line.endswith(".key")]
        assert len(keys) == 1 and keys[0].startswith("600 root "), listing


def test_deploy_v2_under_https_load_drops_nothing(site):
    under_load(site, "deploy", "--ref", "v2")
    serves(site, "green", site["releases"]["v2"], "2.0.0")


def test_rollback_under_https_load(site):
    under_load(site, "rollback")
    serves(site, "blue", site["releases"]["v1"], "1.0.0")


def test_split_10_percent_under_https_load(site):
    _, load = under_load(site, "split", "--green", "10")
    assert load.stats().colors["blue"] > 0
    result, load = under_load(site, "abort")
    serves(site, "blue", site["releases"]["v1"], "1.0.0")


def test_status_shows_the_served_certificate(site):
    data = json.loads(fab(site["inventory"], "status", "--json").stdout)
    for record in data["hosts"]:
        tls = record["tls"]
        assert tls["valid"] is True and tls["error"] is None, record
        assert tls["names"] == DOMAINS
        assert tls["issuer"].startswith("trustme v")
        assert tls["days_left"] > 300  # trustme: valid for centuries
    table = fab(site["inventory"], "status").stdout
    assert table.splitlines()[0].split()[-3:] == ["tls", "unknown", "names"]
    assert "ok trustme v" in table
    assert table.count("refused 443; 80: another site's default") == len(HOSTS)  # Debian's


def test_a_new_certificate_is_served_after_one_tested_reload(site):
    """The files change (a renewal by hand): the key travels on stdin, never in ps."""
    chain, key, secret = issue(site["ca"], site["folder"], "second")
    site["secrets"].append(secret)
    new = inventory(site["folder"] / "hosts2.yml", site["repo"], site["mode"], chain, key)
    site["inventory"] = new
    plan = fab(new, "switch", "--to", "green", "--dry-run")
    assert plan.returncode == 0, plan.output
    assert "line(s) on stdin (not shown)" in plan.stdout
    no_secret(site, plan.output)
    seen: list[str] = []
    stop = threading.Event()

    def watch_ps() -> None:  # every process's full command line on the hosts, while it runs
        while not stop.is_set():
            for host in site["hosts"]:
                seen.append(sb.run_in(host, "ps -eww -o args", check=False).stdout)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_ps, daemon=True)
    watcher.start()
    try:
        # a new certificate takes a reload, in file mode too: the retrying kinds drop nothing
        result, load = under_load(site, "switch", "--to", "green", guarded=GUARDED["reload"])
    finally:
        stop.set()
        watcher.join(10)
    assert "nginx tested and reloaded" in result.stdout
    assert len(seen) > 10 and any("nginx" in text for text in seen)
    no_secret(site, "\n".join(seen))
    print(
        f"[{site['mode']}] certificate change: failed per kind",
        {kind: load.stats(kind).failed for kind in ALL_KINDS},
    )
    serial = f"{x509.load_pem_x509_certificate(chain.read_bytes()).serial_number:X}"
    for host in site["hosts"]:
        listing = sb.run_in(host, "ls /etc/nginx/bluegreen/tls").stdout.split()
        assert len(listing) == 2, listing  # the old pair pruned
        answer = get(host, site["context"])
        assert answer.getheader("X-Bluegreen-Color") == "green"
        assert answer.peer["serialNumber"].lstrip("0") == serial.lstrip("0")
    status = json.loads(fab(new, "status", "--json").stdout)
    assert all(record["tls"]["valid"] for record in status["hosts"])


@pytest.mark.parametrize(
    "fault",
    ["invalid domain", "mismatch", "expired", "not covering", "world-readable key", "no key"],
)
def test_bad_tls_input_is_one_line_before_any_host_changes(site, fault):
    folder, ca = site["folder"] / fault.replace(" ", "-"), site["ca"]
    folder.mkdir()
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    chain, key, secret = issue(ca, folder, "good")
    if fault == "mismatch":
        _, key, _ = issue(ca, folder, "other")
    elif fault == "expired":
        chain, key, secret = issue(
            ca, folder, "old", not_before=past, not_after=past + datetime.timedelta(days=1)
        )
    elif fault == "not covering":
        chain, key, secret = issue(ca, folder, "one", names=[DOMAINS[0]])
    elif fault == "world-readable key":
        key.chmod(0o644)
    elif fault == "no key":
        key.unlink()
    path = inventory(folder / "hosts.yml", site["repo"], site["mode"], chain, key)
    if fault == "invalid domain":
        path.write_text(path.read_text().replace(DOMAINS[1], "www_shop.test"))
    before = [support.snapshot(host) for host in site["hosts"]]
    result = fab(path, "deploy", "--ref", "v1")
    expected = {
        "invalid domain": "app.domains[1]: 'www_shop.test' is not a domain name",
        "mismatch": f"good.crt does not match the key {key}",
        "expired": "old.crt expired on 2020-01-02",
        "not covering": f"one.crt does not cover {DOMAINS[1]} (it names {DOMAINS[0]})",
        "world-readable key": "good.key is accessible by group/others (mode 0644); chmod 600 it",
        "no key": "good.key: key file not found",
    }[fault]
    assert result.returncode == 2, result.output
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert secret.splitlines()[1] not in result.output
    assert [support.snapshot(host) for host in site["hosts"]] == before
