"""A randomized fault soak: random operations on sandbox hosts under continuous load, a random
share of them with a fault injected at a random moment, and the invariants checked after each.

Seeded (``random.Random(seed)``, the seed printed first) so a failure replays exactly with
the same seed: the same operations, faults, victims and moments (timing on a busy machine
may still differ). Used by tests/e2e/test_soak_e2e.py (short) and bench/soak.py (long)::

    soak = Soak(hosts, repo, workdir, seed=7)
    result = soak.run(operations=200)
    print(result.table())

The app directory's filesystem on every host is a small tmpfs for the soak (so "disk
full" fills only it); everything the soak mounts or breaks is undone by ``close``.
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import shlex
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bluegreen import sandbox as sb
from bluegreen.shell import nginx
from bluegreen.testing.demo import FAB, PROJECT, AppRepo, write_inventory
from bluegreen.testing.load import Load

APP, APP_DIR = "example", "/srv/example"
RETRYING = ("new", "keepalive-retry")  # client kinds that must never see a failure
OPERATIONS = ("deploy", "deploy-broken", "rollback", "switch", "split-abort", "canary")
FAULTS = (
    "kill-app", "kill-sshd", "partition", "sigint", "sigterm", "sigkill",
    "disk-full", "nginx-t", "slow-health", "revert-fails", "lock-expires", "ssh-drop",
)  # fmt: skip
SIGNALS = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}
FAB_BOUND = 120.0  # seconds one fab call may take, even with a host partitioned
PARTITION = "iptables -A INPUT ! -i lo -j DROP; iptables -A OUTPUT ! -o lo -j DROP"
HEAL = "iptables -F INPUT; iptables -F OUTPUT"
BROKEN_CONF = "/etc/nginx/conf.d/zz-soak-broken.conf"
FILLER = "/srv/.soak-filler"
# revert-fails: a watched deploy whose watch fails on the victim once it switched, with nginx's
# state directory read-only (or nginx -t failing) from then on, so its revert fails
WATCH = "watch: {seconds: 6, min_requests: 10, max_error_rate: 0.01}"
STATE_DIR = nginx.live_path(APP).rsplit("/", 1)[0]
READ_ONLY = (
    f"touch /run/soak-ro && mount --bind {STATE_DIR} {STATE_DIR}"
    f" && mount -o remount,bind,ro {STATE_DIR}"
)
BREAKERS = {"read-only": READ_ONLY, "nginx-t": f"echo 'bogus_directive on;' > {BROKEN_CONF}"}
WATCHER = "/run/soak-watcher.pid"  # the background script that waits for the switch
# lock-expires: the run's lock expired and a rival took it over (its own record expired too,
# so the next operation takes it over in turn)
RIVAL = (
    """printf '{"expires": %s, "holder": "rival@soak", "operation": "deploy", "pid": 1,"""
    """ "started": "2026-01-01T00:00:00+00:00", "token": "soak-rival"}' $(($(date +%s) - 1))"""
)
RELEASE = re.compile(r"\b[0-9a-f]{12}\b")
# what a finished fab leaves nowhere: half-written files and uploads
LEFTOVERS = (
    f"find {APP_DIR} /etc/nginx $HOME/.bluegreen/uploads \\( -name '*.new' -o -name '*.tmp'"
    " -o -name '*.tar.gz' \\) 2>/dev/null"
)


@dataclass
class Fault:
    """One injected fault: its kind, the host it hits (None: fab itself), when (s after start)."""

    kind: str
    host: str | None
    at: float
    outage: bool = False  # the fault itself takes the host's public port down
    color: str | None = None  # kill-app: the color whose app was killed; revert-fails: new
    how: str | None = None  # revert-fails: what breaks the revert (a key of BREAKERS)
    ref: str | None = None  # revert-fails: a good release the victim does not serve yet


@dataclass
class Call:
    """One fab call: its arguments, exit code, output, seconds."""

    args: tuple[str, ...]
    code: int
    output: str
    seconds: float


@dataclass
class Step:
    """One operation of the soak: what ran, the fault if any, and what broke."""

    number: int
    operation: str
    fault: Fault | None
    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


@dataclass
class SoakResult:
    seed: int
    steps: list[Step]
    load_report: str

    @property
    def violations(self) -> list[str]:
        return [f"#{s.number} {s.operation}: {v}" for s in self.steps for v in s.violations]

    def table(self) -> str:
        """Operations, faults by kind, exit codes and the invariant violations."""
        ops = collections.Counter(s.operation for s in self.steps)
        faults = collections.Counter(s.fault.kind for s in self.steps if s.fault)
        codes = collections.Counter(c.code for s in self.steps for c in s.calls)
        seconds = sum(c.seconds for s in self.steps for c in s.calls)
        rows = [f"soak seed {self.seed}: {len(self.steps)} operations, fab {seconds:.0f} s"]
        rows += [f"  operation {name:<14} {ops[name]:>4}" for name in OPERATIONS]
        rows += [f"  fault     {name:<14} {faults[name]:>4}" for name in FAULTS]
        rows.append(f"  no fault                 {len(self.steps) - sum(faults.values()):>4}")
        rows.append(f"  fab exit codes           {dict(sorted(codes.items()))}")
        rows.append(f"  invariant violations     {len(self.violations):>4}")
        rows += [f"    {v}" for v in self.violations]
        rows.append(self.load_report)
        return "\n".join(rows)


class Soak:
    """The soak on ``hosts`` with the app ``repo`` (v1, v2, broken); files go to ``workdir``."""

    def __init__(
        self, hosts: list[sb.SandboxHost], repo: AppRepo, workdir: Path, seed: int,
        fault_share: float = 0.5, log: Callable[[str], None] = print,
        faults: tuple[str, ...] = FAULTS,
    ) -> None:  # fmt: skip
        self.hosts = hosts
        self.repo = repo
        self.rng = random.Random(seed)
        self.seed = seed
        self.fault_share = fault_share
        self.faults = faults
        self.log = log
        names = [h.name for h in hosts]
        workdir.mkdir(parents=True, exist_ok=True)
        self.inventory = write_inventory(workdir / "hosts.yml", repo.path, names)
        self.slow = {
            delay: write_inventory(workdir / f"slow{delay}.yml", repo.path, names,
                                   env=f"START_DELAY: {delay}")
            for delay in (1, 5)  # 1 s: health passes late; 5 s: it never passes in time
        }  # fmt: skip
        self.watched = write_inventory(workdir / "watched.yml", repo.path, names, app_extra=WATCH)
        self.verified: set[str] = set()
        self.steps: list[Step] = []
        # the last operation left a lock (fab was killed, or lost a host): the next call takes
        # it over, unless it is cut short before that (a signal, the host's disk or sshd gone)
        self._stale_lock = False

    # -- set-up and clean-up ------------------------------------------------------------

    def open(self) -> None:
        """Fresh hosts, the app dir's filesystem a small tmpfs, v1 live everywhere."""
        for host in self.hosts:
            sb.run_in(
                host,
                f"docker rm -f {APP}-blue {APP}-green {APP}-blue-prev {APP}-green-prev"
                " >/dev/null 2>&1; rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen"
                f" {APP_DIR}; [ $(stat -f -c %T /srv) = tmpfs ]"
                " || mount -t tmpfs -o size=32m soak /srv;"
                " nginx -s reload",
            )
        call = self._fab(self.inventory, "deploy", "--ref", "v1")
        if call.code:
            raise RuntimeError(f"the soak's first deploy failed:\n{call.output}")
        self._note_verified(call.output)

    def close(self) -> None:
        """Undo every fault and the tmpfs (the hosts keep running, with no app)."""
        for host in self.hosts:
            self._heal(host)
            sb.run_in(
                host,
                f"docker rm -f {APP}-blue {APP}-green {APP}-blue-prev {APP}-green-prev"
                " >/dev/null 2>&1; rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen;"
                " nginx -s reload; umount /srv 2>/dev/null; true",
                check=False,
            )

    # -- the run ------------------------------------------------------------------------

    def run(self, operations: int, minutes: float | None = None) -> SoakResult:
        """Up to ``operations`` operations, fewer when ``minutes`` have passed first."""
        stop_at = time.monotonic() + minutes * 60 if minutes else float("inf")
        self.log(f"soak seed {self.seed}: {operations} operations on {len(self.hosts)} hosts")
        targets = [(h.address, 4000) for h in self.hosts]
        self.open()
        try:
            with Load(targets, max_seconds=operations * 60 + 120, timeout=5.0) as load:
                for number in range(1, operations + 1):
                    if time.monotonic() > stop_at:
                        self.log(f"soak: {minutes:g} minutes up after {number - 1} operations")
                        break
                    step = self._step(number, load)
                    self.steps.append(step)
                    fault = f" + {step.fault.kind}@{step.fault.host or 'fab'}" if step.fault else ""
                    codes = ",".join(str(c.code) for c in step.calls)
                    mark = "❌ " + "; ".join(step.violations) if step.violations else "✅"
                    self.log(f"#{number} {step.operation}{fault} exit {codes} {mark}{_seen(step)}")
                    for call in step.calls if step.violations else ():
                        self.log(f"  $ fab {' '.join(call.args)}\n{call.output.rstrip()}")
                report = load.report()
        finally:
            self.close()
        return SoakResult(self.seed, self.steps, report)

    def _step(self, number: int, load: Load) -> Step:
        operation = self.rng.choice(OPERATIONS)
        fault = self._pick_fault(operation) if self.rng.random() < self.fault_share else None
        step = Step(number, operation, fault)
        before = self._observe(load)
        live = before[self.hosts[0].name][2]
        if fault and fault.kind == "revert-fails":  # the color the deploy starts there
            fault.color = "green" if before[fault.host][2] == {"blue"} else "blue"
            served = {r for _, r in self._served_set(self._host(fault.host))}
            fresh = [t for t in ("v1", "v2") if self.repo.releases[t] not in served]
            fault.ref = fresh[0] if fresh else "v2"  # a switch to it, never "already live"
        for args, inventory in self._calls(operation, fault, live):
            step.calls.append(self._call(inventory, args, None if step.calls else fault))
            if fault and fault.kind in SIGNALS:
                break  # the operation was cut short; the next one picks up
        for host in self.hosts:
            self._heal(host)
        for call in step.calls:
            self._note_verified(call.output)
        after = self._observe(load)
        if fault and fault.kind == "kill-app":  # an outage when that color served meanwhile
            served = before[fault.host][2] | after[fault.host][2]
            fault.outage = fault.color in served | _verified_colors(step.calls, fault.host)
        step.violations = self._check(step, before, after)
        return step

    def _pick_fault(self, operation: str) -> Fault | None:
        only = {"slow-health": ("deploy", "canary"), "revert-fails": ("deploy",)}
        kinds = [k for k in self.faults if operation in only.get(k, (operation,))]
        if not kinds:  # none of the chosen faults fits this operation
            return None
        kind = self.rng.choice(kinds)
        host = None if kind in SIGNALS or kind == "slow-health" else self.rng.choice(self.hosts)
        color = self.rng.choice(("blue", "green")) if kind == "kill-app" else None
        how = self.rng.choice(sorted(BREAKERS)) if kind == "revert-fails" else None
        at = round(self.rng.uniform(0.0, 4.0), 2)
        return Fault(kind, host and host.name, at, color=color, how=how)

    def _calls(
        self, operation: str, fault: Fault | None, live: set[str]
    ) -> list[tuple[tuple[str, ...], Path]]:
        """The fab calls of an operation (split-abort is two: a share for the color the first
        host does not serve, then abort) and their inventory."""
        inventory = self.inventory
        if fault and fault.kind == "slow-health":
            inventory = self.slow[self.rng.choice((1, 5))]
        if fault and fault.kind == "revert-fails":
            inventory = self.watched
        good = self.rng.choice(("v1", "v2"))
        if fault and fault.ref:
            good = fault.ref
        if operation == "deploy":
            return [(("deploy", "--ref", good), inventory)]
        if operation == "deploy-broken":
            return [(("deploy", "--ref", "broken"), inventory)]
        if operation == "rollback":
            return [(("rollback",), inventory)]
        if operation == "switch":
            return [(("switch", "--to", self.rng.choice(("blue", "green"))), inventory)]
        if operation == "canary":
            return [(("deploy", "--ref", good, "--canary", "50", "--hold", "1"), inventory)]
        idle = "green" if live == {"blue"} else "blue"
        share = (f"--{idle}", str(self.rng.choice((10, 50))))
        return [(("split", *share), inventory), (("abort",), inventory)]

    # -- one fab call with its fault ------------------------------------------------------

    def _call(self, inventory: Path, args: tuple[str, ...], fault: Fault | None) -> Call:
        env = {**os.environ, "FABRIC_BLUEGREEN_INVENTORY": str(inventory)}
        started = time.monotonic()
        process = subprocess.Popen(
            [str(FAB), *args], cwd=PROJECT, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        injector = None
        if fault and fault.kind != "slow-health":
            injector = threading.Timer(fault.at, self._inject, (fault, process))
            injector.start()
        try:
            output, _ = process.communicate(timeout=FAB_BOUND)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            output += f"\n[soak: fab still running after {FAB_BOUND:g} s, killed]"
        if injector:
            injector.cancel()
            injector.join()
        return Call(args, process.returncode, output, time.monotonic() - started)

    def _inject(self, fault: Fault, process: subprocess.Popen) -> None:
        if fault.kind in SIGNALS:
            if process.poll() is None:
                process.send_signal(SIGNALS[fault.kind])
            return
        host = self._host(fault.host)
        if fault.kind == "kill-app":  # a crash (not docker kill: the restart policy applies)
            command = (
                f"pid=$(docker inspect -f '{{{{.State.Pid}}}}' {APP}-{fault.color} 2>/dev/null)"
                ' && [ "$pid" != 0 ] && kill -9 "$pid"'
            )
        elif fault.kind == "kill-sshd":  # the listener only: open sessions go on
            command = "kill $(cat /run/sshd.pid)"
        elif fault.kind == "partition":
            fault.outage = True
            command = PARTITION
        elif fault.kind == "ssh-drop":  # fab's open sessions drop; the listener stays
            command = "pkill -P $(cat /run/sshd.pid)"
        elif fault.kind == "lock-expires":  # only a lock that is there (fab's)
            lock = f"{APP_DIR}/.lock/info"
            command = f"[ -s {lock} ] && {RIVAL} > {lock}.new && mv -f {lock}.new {lock}"
        elif fault.kind == "revert-fails":
            command = _break_after_switch(fault)
        elif fault.kind == "disk-full":
            # only ever into the soak's tmpfs, never the machine's disk
            command = (
                f"[ $(stat -f -c %T /srv) = tmpfs ] && timeout 20 dd if=/dev/zero of={FILLER} bs=1M"
            )
        else:  # nginx-t: any nginx -t (and a reload) fails from now on
            command = f"echo 'bogus_directive on;' > {BROKEN_CONF}"
        sb.run_in(host, command, check=False)

    def _heal(self, host: sb.SandboxHost) -> None:
        config = sb.host_dir(sb.DEFAULT_STATE, host.name) / "sshd_config"
        sb.run_in(
            host,
            f"{{ test -e {WATCHER} && kill $(cat {WATCHER}); rm -f {WATCHER}; }} 2>/dev/null;"
            f" {{ test -e /run/soak-ro && umount {STATE_DIR}; rm -f /run/soak-ro; }} 2>/dev/null;"
            f" {HEAL}; rm -f {FILLER} {BROKEN_CONF};"
            " { test -e /run/sshd.pid && kill -0 $(cat /run/sshd.pid); } 2>/dev/null"
            f" || /usr/sbin/sshd -f {shlex.quote(str(config))}",
            check=False,
        )

    # -- invariants -------------------------------------------------------------------------

    def _observe(self, load: Load) -> dict:
        """Per host: failed retrying requests so far, the history's length, colors served."""
        return {
            host.name: (
                sum(load.stats(kind, (host.address, 4000)).failed for kind in RETRYING),
                self._history_length(host),
                {color for color, _ in self._served_set(host)},
            )
            for host in self.hosts
        }

    def _check(self, step: Step, before: dict, after: dict) -> list[str]:
        fault = step.fault
        # killed now, or interrupted before it took over the lock a killed run left
        inherited = self._stale_lock
        killed = bool(fault and (fault.kind == "sigkill" or (inherited and fault.kind in SIGNALS)))
        status = self._status()
        problems = []
        for host in self.hosts:
            name = host.name
            victim = fault is not None and fault.host == name
            failed = after[name][0] - before[name][0]
            if failed and not (victim and fault.outage):
                problems.append(f"{name}: {failed} failed requests (retrying clients)")
            served = self._served_set(host)
            unverified = {r for _, r in served} - self.verified
            if not served or unverified:
                problems.append(f"{name}: serves {sorted(served)}, unverified {sorted(unverified)}")
            record = status.get(name)
            if record is None or not record["reachable"]:
                problems.append(f"{name}: status has no answer: {record and record['error']}")
            elif not served <= _status_serving(record):
                problems.append(f"{name}: status says {_status_serving(record)}, port serves"
                                f" {sorted(served)}")  # fmt: skip
            elif record["lock"] and not _lock_kept(fault, victim, inherited):
                problems.append(f"{name}: lock left after fab exited: {record['lock']}")
            added = after[name][1] - before[name][1]
            reached = sum(bool(re.search(rf"^{name} ", c.output, re.M)) for c in step.calls)
            cut_kinds = ("partition", "kill-sshd", "disk-full", "ssh-drop", "lock-expires")
            excused = killed or (victim and fault.kind in cut_kinds)
            if added > len(step.calls) or (added != reached and not excused):
                problems.append(f"{name}: {added} history records for {reached} fab calls")
            # cleaned up by the next operation (a killed run's leftovers need its lock)
            unchanged = {color for color, _ in served} == before[name][2]
            problems += _attention(name, record, served, unchanged, step.calls)
            # a host that needs attention keeps what it set aside for the next change's repair
            stuck = victim and inherited and fault.kind in ("disk-full", "kill-sshd")
            cut = stuck or (victim and fault.kind in ("partition", "ssh-drop", "lock-expires"))
            cut = cut or _said(name, "needs attention", step.calls)
            problems += self._host_leftovers(host, killed or cut)
        self._stale_lock = any(record and record["lock"] for record in status.values())
        return problems

    def _host_leftovers(self, host: sb.SandboxHost, cut_off: bool) -> list[str]:
        if cut_off:  # the next operation cleans up after a killed fab or a lost host
            return []
        names = sb.run_in(host, "docker ps -a --format '{{.Names}}'").stdout.split()
        stray = sorted(set(names) - {f"{APP}-blue", f"{APP}-green"})
        files = sb.run_in(host, LEFTOVERS, check=False).stdout.split()
        return [f"{host.name}: stray {what}: {found}"
                for what, found in (("containers", stray), ("files", files)) if found]  # fmt: skip

    # -- reading the hosts ------------------------------------------------------------------

    def _status(self) -> dict[str, dict]:
        output = self._fab(self.inventory, "status", "--json").output
        try:  # the JSON follows any line about an unreachable host
            document = json.loads(output[output.index("{\n") :])
            return {record["host"]: record for record in document["hosts"]}
        except (ValueError, TypeError, KeyError):
            return {}

    def _fab(self, inventory: Path, *args: str) -> Call:
        return self._call(inventory, args, None)

    def _note_verified(self, output: str) -> None:
        """Releases fab saw serving through the public port (verify, revert lines)."""
        for line in output.splitlines():
            if "✅ verify:" in line or "✅ revert:" in line:
                self.verified.update(RELEASE.findall(line))

    def _served_set(self, host: sb.SandboxHost, tries: int = 8) -> set[tuple[str, str]]:
        seen = set()
        for _ in range(tries):  # a split serves two; a few requests see both (mostly)
            try:
                url = f"http://{host.address}:4000/version"
                with urllib.request.urlopen(url, timeout=5) as reply:
                    seen.add((reply.headers["X-Bluegreen-Color"],
                              reply.headers["X-Bluegreen-Release"]))  # fmt: skip
            except OSError:
                pass
        return seen

    def _history_length(self, host: sb.SandboxHost) -> int:
        out = sb.run_in(host, f"cat {APP_DIR}/history.jsonl 2>/dev/null | wc -l", check=False)
        return int(out.stdout.strip() or 0)

    def _host(self, name: str | None) -> sb.SandboxHost:
        return next(h for h in self.hosts if h.name == name)


def _verified_colors(calls: list[Call], host: str) -> set[str]:
    """The colors fab saw the host's public port serve during the calls (a split: both)."""
    lines = [
        line
        for call in calls
        for line in call.output.splitlines()
        if line.startswith(f"{host} ✅ verify:")
    ]
    return {color for color in ("blue", "green") if any(color in line for line in lines)}


# what fab said when a fault bit (for the log: whether the fault hit the run at all)
EFFECTS = {
    "needs attention": re.compile(r"⚠️ +needs attention"),
    "lock lost": re.compile(r"no longer this run's"),
    "lock taken over": re.compile(r"lock: took over"),
    "reconnected": re.compile(r"SSH connection had dropped: connected again"),
    "unsettled": re.compile(r"left unsettled: switched by"),
}


def _seen(step: Step) -> str:
    found = [n for n, p in EFFECTS.items() if any(p.search(c.output) for c in step.calls)]
    return f" ({', '.join(found)})" if found else ""


def _break_after_switch(fault: Fault) -> str:
    """In the background on the victim: once nginx serves the new color, break what the
    revert needs (BREAKERS) and log 5xx answers of that color for the watch to see."""
    port = 4001 if fault.color == "blue" else 4002
    failing = (
        f'for i in $(seq 40); do echo "$(date +%s.%N) 502 0.001 127.0.0.1:{port}"'
        f" >> {nginx.access_log_path(APP)}; done"
    )
    answers = "curl -s -m 2 -o /dev/null -D - http://127.0.0.1:4000/version"  # any switch mode
    wait = (
        f"i=0; until {answers} | grep -qi '^x-bluegreen-color: {fault.color}';"
        " do i=$((i+1)); [ $i -lt 600 ] || exit 0; sleep 0.1; done"
    )
    breaker = BREAKERS[fault.how or "read-only"]
    script = f"{wait}; {breaker}; for j in 1 2 3 4 5 6; do {failing}; sleep 0.5; done"
    return f"( {script} ) >/dev/null 2>&1 & echo $! > {WATCHER}"


def _lock_kept(fault: Fault | None, victim: bool, inherited: bool) -> bool:
    """Whether a host may keep a lock after an operation with ``fault`` (the next operation
    takes it over, checked then): fab was killed; the host was cut off (a partition or a
    dropped session can eat the answer of the round trip that took it; a rival took it
    over); or the lock is one the operation before left (``inherited``) and this one was cut
    short before its take-over (a signal; the host's disk full or its sshd gone)."""
    if fault is None:
        return False
    cut_off = victim and fault.kind in ("partition", "ssh-drop", "lock-expires")
    not_taken = fault.kind in SIGNALS or (victim and fault.kind in ("disk-full", "kill-sshd"))
    return fault.kind == "sigkill" or cut_off or (inherited and not_taken)


def _said(name: str, warning: str, calls: list[Call]) -> bool:
    """Whether the operation's last fab call warned ``warning`` about host ``name``."""
    output = calls[-1].output if calls else ""
    return bool(re.search(rf"^{name} +⚠️ +{warning}", output, re.M))


def _attention(
    name: str,
    record: dict | None,
    served: set[tuple[str, str]],
    unchanged: bool,
    calls: list[Call],
) -> list[str]:
    """A host fab reported as needing attention (its revert failed) is marked so in
    ``status`` and still serves (docs/guides/recovery.md): by its history line, or, when fab
    could not reach it again to write that, by the switch's mark it left. A switch cut off
    before it reached the host left no mark: the host serves what it served before
    (``unchanged``) and status rightly finds nothing to attend to."""
    said = _said(name, "needs attention", calls)
    if not said or record is None or not record.get("reachable"):
        return []
    problems = [] if served else [f"{name}: needs attention and serves nothing"]
    if not record.get("needs_attention") and not unchanged:
        problems.append(f"{name}: fab said it needs attention, status does not")
    return problems


def _status_serving(record: dict) -> set[tuple[str, str]]:
    """What ``status --json`` says the public port serves: the live color, and a split's."""
    colors = record.get("colors") or {}
    serving = set()
    for color in filter(None, (record.get("live"), (record.get("split") or {}).get("color"))):
        if colors.get(color):
            serving.add((color, colors[color]["release"]))
    return serving
