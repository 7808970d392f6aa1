"""Behind a real load balancer: HAProxy, started here on loopback, in front of the three
sandbox hosts (reload mode), checking ``GET /.bluegreen/up`` every second (fall 2, rise 2),
with retries off (like an ALB, it never sends a failed request again). Every client kind
sends its load THROUGH HAProxy.

Without the drain a ``--batch 1`` deploy reloads nginx under the balancer's idle
keep-alive connections, and requests fail; with ``app.balancer`` each host leaves the
balancer (HAProxy marks it DOWN), switches, verifies and rejoins (UP) before the next:
no request fails. Through HAProxy (which adds X-Forwarded-For) the app sees the client's
address when the bridge is a trusted proxy; a direct request cannot forge one.
"""

from __future__ import annotations

import http.client
import json
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import KINDS, Load
from tests.e2e.support import HOSTS, RESET, fake_nginx, real_nginx, served
from tests.e2e.test_fleet_e2e import IGNORE_RELOAD

pytestmark = pytest.mark.e2e

CHECK = "inter 1s fall 2 rise 2"  # HAProxy marks a host down 2 checks (<= 2 s) after its 503
BALANCER = f"balancer: {{drain: 3, rejoin: 3, trusted_proxies: [{sb.BRIDGE_ADDRESS}]}}"
CLIENT = "127.0.0.5"  # the load balancer's client, as the app should see it
ACCESS_LOG = "/var/log/nginx/bluegreen-example.access.log"
DRAIN = "/etc/nginx/bluegreen/example.drain"
# a host out of the balancer gets no client request for about drain (3 s) - fall x inter
# (<= 2 s) + the switch and its verification; in rotation the gap is a few milliseconds
QUIET = 1.0
TRANSITION = re.compile(r"Server hosts/(\S+) is (UP|DOWN)")


class HAProxy:
    """One HAProxy process of this test (stopped by its own pid), its log and stats socket."""

    def __init__(self, folder: Path, hosts) -> None:
        self.port = _free_port()
        self.socket = folder / "admin.sock"
        self.log = folder / "haproxy.log"
        servers = "\n".join(f"    server {h.name} {h.address}:4000 check" for h in hosts)
        config = folder / "haproxy.cfg"
        config.write_text(
            f"global\n    stats socket {self.socket} mode 600 level admin\n"
            "defaults\n    mode http\n    retries 0\n    option forwardfor\n"
            "    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n"
            f"frontend web\n    bind 127.0.0.1:{self.port}\n    default_backend hosts\n"
            "backend hosts\n    balance roundrobin\n    option httpchk GET /.bluegreen/up\n"
            f"    http-check expect status 200\n    default-server {CHECK}\n{servers}\n"
        )
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
            )

    def states(self) -> dict[str, str]:
        """Each host's state as HAProxy sees it (UP, DOWN, ...), from its stats socket."""
        with socket.socket(socket.AF_UNIX) as admin:
            admin.settimeout(5)
            admin.connect(str(self.socket))
            admin.sendall(b"show stat\n")
            csv = b"".join(iter(lambda: admin.recv(65536), b"")).decode()
        rows = [line.split(",") for line in csv.splitlines() if line.startswith("hosts,")]
        return {row[1]: row[17] for row in rows if row[1] != "BACKEND"}

    def wait_all_up(self, timeout: float = 20) -> None:
        deadline, states = time.monotonic() + timeout, {}
        while set(states.values()) != {"UP"}:
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"not all UP: {states}\n{self.log.read_text()}"
            time.sleep(0.2)
            if self.socket.exists():  # once HAProxy is listening
                states = self.states()

    def transitions(self) -> list[tuple[str, str]]:
        """(host, UP|DOWN) in the order HAProxy logged them."""
        return TRANSITION.findall(self.log.read_text())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def balanced(sandbox, app_repo, tmp_path_factory):
    """v1 on the three hosts (reload mode), HAProxy in front with every host UP, and the two
    inventories: without and with ``app.balancer``."""
    folder = tmp_path_factory.mktemp("balancer")
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, RESET)
    mode = "switch_mode: reload"
    plain = write_inventory(folder / "plain.yml", app_repo.path, HOSTS, defaults_extra=mode)
    drained, core = (
        write_inventory(
            folder / f"{name}.yml", app_repo.path, HOSTS, app_extra=BALANCER, defaults_extra=how
        )
        for name, how in (("drained", mode), ("core", "switch_mode: core"))
    )
    result = fab(plain, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output
    haproxy = HAProxy(folder, hosts)
    try:
        haproxy.wait_all_up()
        yield {"hosts": hosts, "plain": plain, "drained": drained, "core": core, "haproxy": haproxy}
    finally:
        haproxy.stop()
        for host in hosts:
            sb.run_in(host, RESET)


def through(haproxy: HAProxy, seconds: float = 120) -> Load:
    """Every client kind (one that never retries included), through the balancer only."""
    return Load([("127.0.0.1", haproxy.port)], kinds=KINDS, max_seconds=seconds)


def other_release(balanced, releases) -> str:
    """The tag that is not live: each test moves the fleet, whatever ran before it."""
    return "v2" if served(balanced["hosts"][0])[1] == releases["v1"] else "v1"


def client_seen(haproxy: HAProxy) -> str:
    """What address the app (cgi-bin/client echoes X-Real-IP) sees for a client at CLIENT."""
    conn = http.client.HTTPConnection("127.0.0.1", haproxy.port, 5, (CLIENT, 0))
    try:
        conn.request("GET", "/cgi-bin/client")
        reply = conn.getresponse()
        assert reply.status == 200
        return reply.read().decode()
    finally:
        conn.close()


def quiet_switches(hosts, since: float) -> dict[str, float]:
    """Per host, the longest time its access log (``$msec ...``; the balancer's health
    checks are not logged) went without a request since ``since``: how long no client
    request reached it, around its switch."""
    quiet = {}
    for host in hosts:
        log = sb.run_in(host, f"cat {ACCESS_LOG}").stdout.splitlines()
        times = [t for t in (float(line.split()[0]) for line in log) if t >= since]
        quiet[host.name] = round(max(b - a for a, b in zip(times, times[1:], strict=False)), 3)
    return quiet


def test_without_the_drain_hosts_switch_while_the_balancer_sends_them_requests(balanced, app_repo):
    """The baseline that shows the next test can fail: the hosts switch in rotation, so
    client requests reach each host right up to its reload (HAProxy hides reloads
    well: its failed count, printed, was 0 in every run here)."""
    haproxy, hosts = balanced["haproxy"], balanced["hosts"]
    assert client_seen(haproxy) == sb.BRIDGE_ADDRESS  # no trusted proxy: the balancer's
    ref = other_release(balanced, app_repo.releases)
    since = time.time()
    with through(haproxy) as load:
        result = fab(balanced["plain"], "deploy", "--ref", ref, "--batch", "1")
    assert result.returncode == 0, result.output
    gaps = quiet_switches(hosts, since)
    print(f"\nwithout the drain: {result.seconds:.1f} s, quiet {gaps}\n{load.report()}")
    assert haproxy.transitions() == []  # nobody took a host out
    assert max(gaps.values()) < QUIET, gaps


@pytest.mark.parametrize("mode", ["drained", "core"])  # reload mode, then core mode
def test_each_batch_leaves_the_balancer_and_no_request_fails(balanced, app_repo, mode):
    haproxy, hosts = balanced["haproxy"], balanced["hosts"]
    haproxy.wait_all_up()
    before = len(haproxy.transitions())
    ref = other_release(balanced, app_repo.releases)
    since = time.time()
    with through(haproxy) as load:
        result = fab(balanced[mode], "deploy", "--ref", ref, "--batch", "1")
    assert result.returncode == 0, result.output
    gaps = quiet_switches(hosts, since)
    print(f"\nwith the drain ({mode}): {result.seconds:.1f} s, quiet {gaps}\n{load.report()}")
    for kind in KINDS:
        stats = load.stats(kind)
        assert stats.sent > 100 and stats.failed == 0, load.report()
    assert all(served(h) == served(hosts[0]) for h in hosts)
    assert served(hosts[0])[1] == app_repo.releases[ref]
    # one host at a time: out of the balancer before its switch, back before the next one
    logged = haproxy.transitions()[before:]
    print("HAProxy:", ", ".join(f"{host} {state}" for host, state in logged))
    assert logged == [(h.name, state) for h in hosts for state in ("DOWN", "UP")]
    assert min(gaps.values()) >= QUIET, gaps  # no client request while it switched


def test_the_app_sees_the_client_address_only_from_a_trusted_balancer(balanced, app_repo):
    """After the drained deploy the sites trust the bridge (HAProxy's side of the hosts)."""
    haproxy, hosts = balanced["haproxy"], balanced["hosts"]
    if "set_real_ip_from" not in sb.run_in(hosts[0], "cat /etc/nginx/conf.d/*.conf").stdout:
        result = fab(balanced["drained"], "deploy", "--ref", "v1", "--batch", "1")
        assert result.returncode == 0, result.output
    assert client_seen(haproxy) == CLIENT
    forged = (
        "curl -s --max-time 5 -H 'X-Forwarded-For: 203.0.113.9'"
        f" {shlex.quote(f'http://{hosts[0].address}:4000/cgi-bin/client')}"
    )
    assert sb.run_in(hosts[1], forged).stdout == hosts[1].address  # not a trusted proxy


def test_a_host_taken_out_by_hand_is_marked_down_and_shown_drained(balanced):
    """The drain mark by hand (docs/guides/load-balancers.md): HAProxy takes the host out,
    ``fab status`` says so; removing the mark brings it back."""
    haproxy, host = balanced["haproxy"], balanced["hosts"][2]
    haproxy.wait_all_up()
    sb.run_in(host, f"touch {DRAIN}")
    try:
        deadline = time.monotonic() + 10
        while haproxy.states()[host.name] != "DOWN":
            assert time.monotonic() < deadline, haproxy.states()
            time.sleep(0.2)
        status = fab(balanced["drained"], "status", "--json")
        drained = {r["host"]: r["drained"] for r in json.loads(status.stdout)["hosts"]}
        assert drained == {h.name: h is host for h in balanced["hosts"]}, status.output
    finally:
        sb.run_in(host, f"rm -f {DRAIN}")
    haproxy.wait_all_up()


def test_a_batch_whose_switch_fails_reverts_out_of_rotation_and_rejoins(balanced, app_repo):
    """sandbox2's nginx 'reloads' without applying: its verification fails while it is out
    of the balancer; it is pointed back and rejoins on its old release, sandbox3 is never
    touched, and no request fails."""
    haproxy, hosts = balanced["haproxy"], balanced["hosts"]
    haproxy.wait_all_up()
    before, live = len(haproxy.transitions()), served(hosts[0])
    ref = other_release(balanced, app_repo.releases)
    fake_nginx(hosts[1], IGNORE_RELOAD)
    try:
        with through(haproxy) as load:
            result = fab(balanced["drained"], "deploy", "--ref", ref, "--batch", "1")
    finally:
        real_nginx(hosts[1])
    print(f"\na failed batch: {result.seconds:.1f} s\n{load.report()}")
    assert result.returncode == 1, result.output
    assert "sandbox2 ❌ port 4000 does not serve" in result.stdout
    for kind in KINDS:
        assert load.stats(kind).failed == 0, load.report()
    assert served(hosts[0])[1] == app_repo.releases[ref]
    assert served(hosts[1]) == served(hosts[2]) == live
    haproxy.wait_all_up()  # a failed batch rejoins without waiting: nothing comes after it
    logged = haproxy.transitions()[before:]
    print("HAProxy:", ", ".join(f"{host} {state}" for host, state in logged))
    assert logged == [(h.name, state) for h in hosts[:2] for state in ("DOWN", "UP")]
