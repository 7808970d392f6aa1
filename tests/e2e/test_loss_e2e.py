"""10 % random packet loss on every host (issue 15): deploy and rollback still succeed,
slower, with no failed request for the retrying clients.

The loss is an iptables rule in each host's network namespace (the kernel has no netem):
``-m statistic --mode random --probability 0.1 -j DROP`` on INPUT, never on loopback
(nginx to its app). Two scopes: only the SSH port (the control path; the load's HTTP
traffic is untouched) and every packet from the network (the load's own connections lose
packets too: TCP retransmits hide most of it, but a SYN retransmitted twice costs 3 s, so
a request can near the load's 5 s timeout; that count is printed and asserted as measured).
The times with and without loss are printed for the README.
"""

import time

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab

from .support import assert_no_failures, load, lock_held, served

pytestmark = pytest.mark.e2e

RULE = "iptables -A INPUT ! -i lo{match} -m statistic --mode random --probability 0.1 -j DROP"
SCOPES = {"none": None, "ssh": " -p tcp --dport 22", "all": ""}


def _lose(hosts, match: str | None) -> None:
    for host in hosts:
        sb.run_in(host, "iptables -F INPUT")
        if match is not None:
            sb.run_in(host, RULE.format(match=match))


@pytest.mark.parametrize("scope", list(SCOPES))
def test_deploy_and_rollback_survive_packet_loss(fleet, scope):
    base, hosts, releases = fleet
    times = {}
    _lose(hosts, SCOPES[scope])
    try:
        with load(hosts, seconds=240) as traffic:
            for operation, args, want in (
                ("deploy", ("--ref", "v2"), ("green", releases["v2"])),
                ("rollback", (), ("blue", releases["v1"])),
            ):
                started = time.monotonic()
                result = fab(base, operation, *args, timeout=300)
                times[operation] = time.monotonic() - started
                assert result.returncode == 0, result.output
                for host in hosts:
                    assert served(host) == want, (host.name, operation, result.output)
        dropped = [
            sb.run_in(host, "iptables -L INPUT -v -x -n | awk 'NR==3 {print $1}'").stdout.strip()
            for host in hosts
        ]
    finally:
        _lose(hosts, None)
    print(
        f"\nloss on {scope}: deploy {times['deploy']:.1f} s, rollback {times['rollback']:.1f} s,"
        f" packets dropped per host {dropped}\n{traffic.report()}"
    )
    assert_no_failures(traffic)
    for host in hosts:
        assert not lock_held(host)
    if scope != "none":
        assert all(int(n or 0) > 0 for n in dropped), dropped  # the loss really happened
