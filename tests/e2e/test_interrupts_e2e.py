"""SIGINT and SIGTERM to `fab deploy` in each phase, under load on three hosts (issue 5).

Each phase is made slow for real (a slow login, a slow build, a slow-starting app, a slow
``nginx -t``, a reload that applies late, a long drain), and the signal comes once fab's
output (or the hosts) show that phase running on every host. fab finishes the current
step on every host, then puts everything back: the old release serves everywhere, no
lock is left and the new containers are gone. After every switch was verified (drain)
there is nothing to put back: the deploy ends as done, the old color stopped (kept).
"""

import re
import shlex
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bluegreen import sandbox as sb

from .support import (
    RETRYING,
    SLOW_RELOAD,
    SLOW_TEST,
    Fab,
    assert_no_failures,
    containers,
    failed,
    fake_nginx,
    inventory,
    load,
    lock_held,
    served,
    wait_until,
)

pytestmark = pytest.mark.e2e

PHASES = ["preflight", "stage", "health", "switch", "verify", "drain"]
# What each host prints when the phase ends: the signal must come before it, on every host.
ENDS = {
    "stage": "✅ start:",
    "health": "✅ health:",
    "switch": "✅ switch:",
    "verify": "✅ verify:",
    "drain": "✅ drain:",
}
# A login on sandbox3 that sleeps once (preflight's first command), then is fast again.
SLOW_LOGIN = (
    "if [ -e /tmp/slow-login ]; then rm -f /tmp/slow-login; touch /tmp/login-slowed; sleep 3; fi\n"
)


@dataclass
class Slow:
    """One phase made slow: the inventory and ref to deploy, and how to see it running."""

    inventory: Path
    ref: str
    running: Callable[[Fab], None]  # blocks until the phase runs on every host


def _after(marker: str, settle: float = 0.3) -> Callable[[Fab], None]:
    """The previous phase ended on every host (its ``marker`` once per host), and the next
    one had ``settle`` s to begin (the slow part lasts 2 s or more)."""

    def running(deploy: Fab) -> None:
        deploy.wait_for(deploy.count(marker))
        time.sleep(settle)

    return running


def _slow(phase: str, hosts, repo, tmp_path: Path, base: Path) -> Slow:
    if phase == "preflight":
        victim = hosts[2]
        sb.run_in(
            victim,
            "cp -p /root/.bashrc /root/.bashrc.orig"
            f" && printf '%s' {shlex.quote(SLOW_LOGIN)} >> /root/.bashrc && touch /tmp/slow-login",
        )

        def logging_in(deploy: Fab) -> None:
            deploy.wait_for(lambda lines: any(line.startswith("deploy example") for line in lines))
            wait_until(
                lambda: sb.run_in(victim, "test -e /tmp/login-slowed", check=False).returncode == 0,
                what="sandbox3's slow login",
            )

        return Slow(base, "v2", logging_in)
    if phase == "stage":  # the slow release's build takes ~3 s

        def building(deploy: Fab) -> None:
            command = "pgrep -f '[d]ocker build' >/dev/null"
            wait_until(
                lambda: all(sb.run_in(h, command, check=False).returncode == 0 for h in hosts),
                what="the build running on every host",
            )

        return Slow(base, "slow", building)
    if phase == "health":  # the app listens after 2 s; health polls up to 30 × 0.3 s
        slow = inventory(tmp_path, repo, "slow-start.yml", env="START_DELAY: 2")
        slow.write_text(slow.read_text().replace("attempts: 10,", "attempts: 30,"))
        return Slow(slow, "v2", _after("✅ start:"))
    if phase == "switch":  # nginx -t takes 2 s
        for host in hosts:
            fake_nginx(host, SLOW_TEST)
        return Slow(base, "v2", _after("✅ health:"))
    if phase == "verify":  # the reload applies 2 s after `nginx -s reload` returned
        for host in hosts:
            fake_nginx(host, SLOW_RELOAD)
        return Slow(base, "v2", _after("✅ switch:"))
    assert phase == "drain"
    slow = inventory(tmp_path, repo, "slow-drain.yml")
    slow.write_text(slow.read_text().replace("drain: 0.5", "drain: 3"))
    return Slow(slow, "v2", _after("✅ verify:"))


def _line_of(lines: list[str], text: str) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", PHASES)
def test_an_interrupt_finishes_the_step_and_leaves_every_host_serving(
    fleet, repo, tmp_path, phase, sig
):
    base, hosts, releases = fleet
    slow = _slow(phase, hosts, repo, tmp_path, base)
    with load(hosts) as traffic:
        deploy = Fab(slow.inventory, "deploy", "--ref", slow.ref)
        slow.running(deploy)
        deploy.process.send_signal(sig)
        code = deploy.finish()  # no traceback
    out, lines = deploy.output, deploy.lines
    now = {h.name: served(h) for h in hosts}
    print(
        f"\n{phase} {sig.name}: exit {code}, {failed(traffic)} failed requests"
        f" ({', '.join(RETRYING)}), serving {now}\n{traffic.report()}"
    )
    warned = _line_of(lines, f"⚠️  {sig.name}: finishing the current step on every host")
    if phase in ENDS:  # the signal came while the phase was running on every host
        for host in hosts:
            assert warned < _line_of(lines, f"{host.name} {ENDS[phase]}"), out
    assert_no_failures(traffic)
    for host in hosts:
        assert not lock_held(host), host.name

    if phase == "drain":  # every switch was verified: done, nothing put back
        assert code == 0, out
        assert "✅ done (interrupted after every switch was verified" in out
        for host in hosts:
            assert now[host.name] == ("green", releases["v2"]), host.name
            assert containers(host) == ["example-blue exited", "example-green running"]
            assert re.search(rf"^{host.name} +switched +green {releases['v2']} ", out, re.M)
        return

    assert code == 1, out
    for host in hosts:
        assert now[host.name] == ("blue", releases["v1"]), host.name
        assert containers(host) == ["example-blue running"], host.name
    if phase == "preflight":
        assert "❌ nothing changed" in out
        assert "build:" not in out
        return
    assert "❌ interrupted: every host serves what the table says" in out
    following = PHASES[PHASES.index(phase) + 1]
    assert f"{following}:" not in out  # no phase began after the interrupted one
    for host in hosts:
        assert re.search(
            rf"^{host.name} +✅ clean up: removed the new example-green$", out, re.M
        ), out
        if phase in ("switch", "verify"):
            assert re.search(rf"^{host.name} +✅ revert: port 4000 serves blue", out, re.M), out
            assert re.search(rf"^{host.name} +reverted +blue {releases['v1']} ", out, re.M)
        else:
            assert re.search(rf"^{host.name} +unchanged +blue {releases['v1']} ", out, re.M)
