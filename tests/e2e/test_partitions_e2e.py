"""Network partitions: one host stops answering (every packet dropped, no reset) in each
phase of a deploy. Killing sshd gives a reset at once; a real network can just go silent.

The host partitions itself at the exact moment, with iptables DROP rules (in and out, but
loopback) in its network namespace: from its login shell when the phase's command arrives
(bash sees it in BASH_EXECUTION_STRING), from a wrapper around nginx, or when fab prints
the line that opens the phase (health, which runs over an SSH channel and no command).
Every fab call ends within PARTITION_BOUND seconds (SSH keepalives plus TCP_USER_TIMEOUT
end a silent session within 5 + 15 s, also mid-command); the rest of
the fleet is reverted (a failure up to verify) or finished (drain, finish), the partitioned
host is named with what it was doing, and the next deploy after the partition heals
repairs it. The load runs against the other hosts (the partitioned one is an outage).
"""

import re
import shlex
import time

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab

from .support import (
    Fab,
    assert_no_failures,
    fake_nginx,
    inventory,
    load,
    lock_held,
    restore,
    served,
)

pytestmark = pytest.mark.e2e

PARTITION_BOUND = 60.0  # seconds a fab call may take with one host partitioned
# every packet in and out dropped, but the host's own loopback (nginx to its app) works
PARTITION = "iptables -A INPUT ! -i lo -j DROP; iptables -A OUTPUT ! -o lo -j DROP"
HEAL = "iptables -F INPUT; iptables -F OUTPUT"


# phase -> (how the partition starts, fab's outcome: 1 failed and reverted | 0 finished)
CASES = {
    "preflight": ("before", 1),
    "stage": ("shell:docker build", 1),
    "health": ("line:✅ start:", 1),
    "switch": ("nginx:-t", 1),  # the new files are in place, the reload not done
    "verify": ("nginx:-s reload", 1),  # reloaded, then silent
    "drain": ("shell:is shutting down", 0),  # drain's wait for old nginx workers
    "finish": ("shell:>> /srv/example/history.jsonl", 0),  # history and unlock
}


def _partition_on(victim, how: str) -> None:
    """Arm the partition: now, or when the phase's command or nginx call comes."""
    kind, _, what = how.partition(":")
    if kind == "before":
        sb.run_in(victim, PARTITION)
    elif kind == "nginx":
        fake_nginx(victim, f'case "$*" in *"{what}"*) {PARTITION};; esac')
    elif kind == "shell":
        hook = f'case "$BASH_EXECUTION_STRING" in *"{what}"*) {PARTITION};; esac\n'
        sb.run_in(
            victim,
            f"cp -p /root/.bashrc /root/.bashrc.orig && printf '%s' {shlex.quote(hook)}"
            " >> /root/.bashrc",
        )


@pytest.mark.parametrize("phase", list(CASES))
def test_a_partitioned_host_ends_the_deploy_in_bounded_time(fleet, repo, tmp_path, phase):
    base, hosts, releases = fleet
    victim, others = hosts[2], hosts[:2]
    how, expected = CASES[phase]
    # START_DELAY keeps the health phase open long enough to partition inside it
    inv = inventory(tmp_path, repo, name="slow.yml", env="START_DELAY: 1")
    _partition_on(victim, how)
    try:
        with load(others) as traffic:
            started = time.monotonic()
            deploy = Fab(inv, "deploy", "--ref", "v2")
            if how.startswith("line:"):
                marker = f"{victim.name} {how.removeprefix('line:')}"
                deploy.wait_for(lambda lines: any(marker in line for line in lines), 60)
                sb.run_in(victim, PARTITION)
            code = deploy.finish(timeout=PARTITION_BOUND + 30)
            took = time.monotonic() - started
    finally:
        sb.run_in(victim, HEAL)
        restore(victim)  # the real nginx and .bashrc again
    out = deploy.output
    print(f"\n{phase}: fab took {took:.1f} s, exit {code}\n{out}")
    assert took < PARTITION_BOUND, out
    assert code == expected, out
    assert_no_failures(traffic)
    want = ("blue", releases["v1"]) if expected else ("green", releases["v2"])
    for host in others:
        assert served(host) == want, (host.name, out)
        assert not lock_held(host)
    assert re.search(rf"^{victim.name} +(❌|⚠️ ) ", out, re.M), out  # the host is named

    repair = fab(base, "deploy", "--ref", "v2")  # after the partition healed
    assert repair.returncode == 0, repair.output
    for host in hosts:
        assert served(host)[1] == releases["v2"], (host.name, repair.output)
        assert not lock_held(host)
