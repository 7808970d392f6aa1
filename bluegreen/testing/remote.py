"""A scripted remote for unit tests of the fleet engine: no SSH, no root, no sleeps.

In the spirit of ``fabric.testing`` and of pyinfra's facts→commands fixtures: a
``FakeHost`` is a small, stateful model of one server (the app's containers per color,
its images, nginx's files and what the public port serves, the deploy lock, the history
file). A ``ScriptedRemote`` is the session ``bluegreen.transport.connect`` would return:
it recognises each command the engine sends by stable markers of the builders in
``bluegreen.shell`` (``docker run``, the nginx file paths, the lock directory,
``history.jsonl``, ...), applies it to the model (a deploy sets the idle color's container
aside while the new one starts, and puts it back on undo), records it, and answers ``http_get``
from the model. So a test states a fleet, injects a fault by name, runs a real
``deploy``/``rollback``/``switch`` and asserts what was sent and where every host ended.

Faults (``FakeHost(fail={"health"})``, or a mapping name -> message):

- ``connect``: ``open()`` fails, as an unreachable host does.
- ``build``: ``docker build`` exits 1 with a few lines of build output.
- ``health``: containers started during the test answer 503 on their color's port.
- ``nginx -t``: an nginx install exits ``nginx.TEST_FAILED``; the files stay as they were.
- ``verify``: the public port keeps serving what it served at the start (as when a reload
  "succeeds" but nginx never applies the new configuration).
- ``watch``: the access log shows only 5xx answers for whatever color serves.
- ``revert``: every nginx write after the switch fails (exit 1, as on a disk that filled up
  meanwhile): the revert's install or uninstall writes nothing and nginx keeps serving
  what it was switched to. Combine it with a fault that makes the change go back
  (``fail=["watch", "revert"]``).
- ``drop``: the SSH session drops right after the switch: every command and probe fails
  as on a lost connection until the engine connects again (``reconnect``).
- ``lost``: as ``drop``, but the host cannot be reached again (a reconnect is refused).
- ``public``: the public port never answers the engine's probes (a TLS or connection error
  it cannot see past); nginx still serves.
- ``drain``: the command that stops the old color fails.
- ``long build``: ``docker build`` takes that many seconds (over half the lock's TTL) on the
  host's ``clock`` (a ``VirtualClock`` shared with the engine's lock heartbeat).
- ``waiting rival``: another run waits for the lock and takes it over the moment it
  expires on the host's clock (checked before each command).
- ``release``: the release command exits 3 after printing a few lines.
- ``exec``: ``docker exec`` exits 3 after printing its arguments.

A release command (``docker run --rm ... --entrypoint``) is recorded in ``released`` with
the image it ran and the env it got on stdin.

Recognising commands by markers rather than whole strings keeps the fake valid while the
engine's command text changes; a command it does not recognise is recorded in
``unknown`` and fails like a broken shell script would, so a test notices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shlex
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bluegreen.config.inventory import COLORS, Host, Ports
from bluegreen.errors import RemoteError
from bluegreen.facts import traffic
from bluegreen.facts.traffic import Traffic
from bluegreen.shell import docker, history, lock, nginx
from bluegreen.shell.lock import LockInfo
from bluegreen.transport.http import HttpReply

FAULTS = {
    "connect": "connection refused",
    "probe": "Connection reset by peer",  # the probe ran (and took the lock); its answer is lost
    "lock lost": "other@ci",  # the lock is taken over by this holder right after it was taken
    "lock lost later": "other@ci",  # ... after the first switch (a canary's hold outlived it)
    "build": "step 2/3: RUN make: exit code 2",
    "health": "starting",
    "nginx -t": 'nginx: [emerg] unknown directive "proxy_pas"',
    "verify": "",
    "watch": "",
    "revert": "printf: write error: No space left on device",
    "drop": "SSH connection lost",
    "lost": "connection refused",
    "public": "certificate verify failed",
    "drain": "Error response from daemon: cannot stop container",
    "long build": "2200",  # seconds: two in a row last longer than the lock's TTL
    "waiting rival": "rival@ci",
    "busy": "ss: command not found",  # a revert's wait for busy connections fails
    "release": "migration 0042 failed: relation exists",
    "exec": "command failed",
}
LOG_LINES_PER_READ = 10  # requests the access log gained between two reads of a watch
DEFAULT_PORTS = Ports()


HOME = "/root"  # the login user's home, where relative uploads land


class CommandFailed(Exception):
    """A command exited non-zero on the fake host (``ScriptedRemote`` turns it into a
    RemoteError exactly where the real executor would)."""

    def __init__(self, exited: int, stderr: str) -> None:
        super().__init__(stderr)
        self.exited, self.stderr = exited, stderr


@dataclass
class Container:
    """One color's container: the release it runs (its label) and whether it runs."""

    release: str
    running: bool = True
    fresh: bool = False  # created or started during the test (the ``health`` fault hits these)


@dataclass(frozen=True)
class Sent:
    """One command as the engine sent it, and what the fake took it for."""

    kind: str  # probe, build, run, start, stop, remove, nginx, uninstall, logs, log, ...
    what: str
    command: str
    stdin: str | None = None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _head(text: str | None) -> str:
    return (text or "").split("\n", 1)[0]


def _words(line: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


class Nginx:
    """nginx on one host: the files on disk and the configuration it loaded at its last reload.

    What the public port serves follows nginx's real rules: in reload mode the include
    loaded at the last reload; in file mode (njs) the state file as it is now, read per
    request; in core mode the state link as it is now (kept as its target, like a file).
    """

    def __init__(self, app: str) -> None:
        self.site, self.live = nginx.site_path(app), nginx.live_path(app)
        self.state, self.script = nginx.state_path(app), nginx.script_path(app)
        self.current = nginx.current_path(app)
        self.page = nginx.maintenance_path(app)
        self.files: dict[str, str] = {}
        self.prev: dict[str, str | None] = {}  # the ``.prev`` copy an install kept (None: none)
        self.loaded: dict[str, str] = {}
        self.reloads = 0

    def serve(self, what: Traffic, mode: str) -> None:
        """Install a minimal site serving ``what`` and load it (the host's starting point)."""
        self.files[self.site] = f"# bluegreen site mode={mode}\n"
        if mode == "file":
            self.files[self.state] = what.line() + "\n"
        elif mode == "core":
            self.files[self.current] = what.link_name()
        else:
            header = f"live={what.color} release={what.release}"
            if what.split is not None:
                s = what.split
                header += f" other={s.color} other_release={s.release} percent={s.percent}"
                header += f" sticky={'yes' if s.sticky else 'no'}"
            header += " maintenance=on" if what.maintenance else ""
            self.files[self.live] = f"# bluegreen {header}\n"
        self.reload()

    def reload(self) -> None:
        self.loaded = dict(self.files)
        self.reloads += 1

    def serving(self) -> Traffic | None:
        site = self.loaded.get(self.site)
        if site is None:
            return None
        mode = _words(_head(site)).get("mode")
        if mode == "file":
            return traffic.parse(_head(self.files.get(self.state)))
        if mode == "core":
            return traffic.from_link(self.files.get(self.current, ""))
        return traffic.from_header(_words(_head(self.loaded.get(self.live))))

    def written(self, command: str) -> dict[str, str]:
        """The files an install command writes: ``<content> > <path>.new`` for our paths, and
        the state link (``ln -sfn <target> <link>.new``)."""
        tokens = shlex.split(command)
        out = {}
        for i, token in enumerate(tokens):
            path = token.removesuffix(".new")
            if token.endswith(".new") and path in self.paths and i >= 2 and tokens[i - 1] == ">":
                out[path] = tokens[i - 2]
            if token == f"{self.current}.new" and tokens[i - 2] == "-sfn":
                out[self.current] = tokens[i - 1]
        return out

    def put_back(self, command: str) -> None:
        """The lines of ``nginx.put_back``: each file gets its ``.prev`` back (or goes)."""
        for path in re.findall(r"^if \[ -f '?([^\s']+?)'?\.prev \]; then mv", command, re.M):
            previous = self.prev.pop(path, None)
            if previous is None:
                self.files.pop(path, None)
            else:
                self.files[path] = previous

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.site, self.live, self.state, self.script, self.current, self.page)


class FakeHost:
    """One server's state, changed by the commands the engine sends; faults by name.

    ``live`` is what nginx serves at the start (its color's container runs that release and
    its image exists); ``containers`` adds or overrides containers (e.g. the previous release,
    stopped); ``mode`` is how the installed site switches (``file`` also means nginx has njs).
    """

    def __init__(
        self,
        name: str,
        live: Traffic | None = None,
        *,
        app: str = "web",
        app_dir: str = "/srv/app",
        mode: str = "file",
        containers: Mapping[str, Container] | None = None,
        images: Iterable[str] = (),
        lock: LockInfo | None = None,
        history: Iterable[dict] = (),
        fail: Iterable[str] | Mapping[str, str] = (),
        ports: Ports = DEFAULT_PORTS,
        docker_bridge: str = "yes",
        systemd: str = "",
        clock: VirtualClock | None = None,
    ) -> None:
        unknown = set(fail) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(FAULTS)}")
        self.name, self.app, self.app_dir, self.ports = name, app, app_dir, ports
        self.fail = {k: fail[k] for k in fail} if isinstance(fail, Mapping) else {}
        self.fail.update({k: FAULTS[k] for k in fail if k not in self.fail})
        self.njs = mode == "file"
        self.docker_bridge = docker_bridge  # yes | no (dockerd --bridge=none) | down
        self.systemd = systemd  # yes | no: what a runtime: process probe says ("" not asked)
        self.clock = clock  # time passing on this host beyond the real time (``long build``)
        self.nginx = Nginx(app)
        self.containers: dict[str, Container] = {}
        self.aside: dict[str, Container] = {}  # color -> its container set aside by a deploy
        self.images: set[str] = set(images)
        if live is not None:
            self.nginx.serve(live, mode)
            for color, release in live.releases.items():
                self.containers[color] = Container(release)
                self.images.add(release)
        self.containers.update(containers or {})
        self.images.update(c.release for c in self.containers.values())
        self.lock = lock
        self.mark: LockInfo | None = None  # the run whose switch is unsettled (``lock.mark``)
        self.history: list[dict] = list(history)
        self.started_with = len(self.history)
        self.access_log = ""
        self.drained = False  # out of the load balancer (its health endpoint says 503)
        self.frozen = self.nginx.serving()  # what the public port keeps serving under "verify"
        self.sent: list[Sent] = []
        self.released: list[tuple[str, str | None]] = []  # (release, env) per release command
        self.unknown: list[str] = []
        self.opened = 0
        self.ahead: list[int] = []  # ports whose next probe's channel was opened ahead, in order
        self.answered = 0  # requests to the public port (alternates colors in a split)
        self.asked_for: set[str | None] = set()  # Hosts its public port was asked for (None: -)
        self.switches = 0  # guarded nginx installs that went through (the switch's)
        self.dropped = False  # the session is lost (``drop``) until a reconnect
        self._lock = threading.Lock()
        self.names = {docker.container(app, color): color for color in COLORS}

    # -- what tests read --------------------------------------------------------------------

    @property
    def commands(self) -> list[tuple[str, str]]:
        """(what, command) of every command run, in order."""
        return [(s.what, s.command) for s in self.sent]

    @property
    def kinds(self) -> list[str]:
        """What the fake took each command for, in order."""
        return [s.kind for s in self.sent]

    def serving(self) -> Traffic | None:
        """What the public port serves now."""
        return self.frozen if "verify" in self.fail else self.nginx.serving()

    def new_history(self) -> list[dict]:
        """The history lines written during the test."""
        return self.history[self.started_with :]

    def now(self) -> int:
        """The host's clock (``date +%s``): real time, plus what its ``clock`` was advanced."""
        passed = self.clock.now - VirtualClock.START if self.clock else 0.0
        return int(time.time() + passed)

    def remote(self, host: Host, dry_run: bool = False) -> ScriptedRemote:
        return ScriptedRemote(self, host, dry_run)

    # -- commands -----------------------------------------------------------------------------

    def kind(self, command: str) -> str:
        """What a command is, by the markers of the builders in ``bluegreen.shell``."""
        n = self.nginx
        for kind, found in (
            # first: the files an install writes may hold any of the other markers
            ("nginx", lambda c: any(f"{p}.new" in c for p in n.paths)),
            ("probe", lambda c: "/etc/os-release" in c),
            ("uninstall", lambda c: n.site in c and "rm -f" in c),
            ("log", lambda c: nginx.access_log_path(self.app) in c),
            ("history", lambda c: history.path(self.app_dir) in c),
            ("leave", lambda c: f": > {nginx.drain_path(self.app)}" in c),
            ("rejoin", lambda c: f"rm -f {nginx.drain_path(self.app)}" in c),
            ("build", lambda c: "docker build" in c),
            ("release", lambda c: "docker run --rm" in c and "--entrypoint" in c),
            ("run", lambda c: "docker run" in c),
            ("restore", lambda c: "docker rename" in c),
            ("retire", lambda c: "docker rm -f" in c and self._colors("rm -f", c, aside=True)),
            ("drain", lambda c: "pgrep" in c and "docker stop" in c),
            ("busy", lambda c: "ss -Htni" in c),
            ("stop", lambda c: "docker stop" in c),
            ("start", lambda c: "docker start" in c),
            ("logs", lambda c: "docker logs" in c),
            ("exec", lambda c: "docker exec" in c),
            ("image", lambda c: "docker image inspect" in c),
            ("take over", lambda c: f"{self.app_dir}/.lock-taker." in c),
            ("heartbeat", lambda c: f"{self.app_dir}/.lock/info.new" in c),
            ("unlock", lambda c: f"{self.app_dir}/.lock" in c and "rm -rf" in c),
        ):
            if found(command):
                return kind
        return "unknown"

    def answer(self, kind: str, command: str, stdin: str | None) -> str:
        """Apply ``command`` to the model; return its stdout or raise CommandFailed."""
        handler: Callable[[str, str | None], str] = getattr(self, "_" + kind.replace(" ", "_"))
        with self._lock:
            self._rival()
            return handler(command, stdin)

    def _rival(self) -> None:
        """The ``waiting rival`` takes the lock over once it expired on this host's clock."""
        if "waiting rival" in self.fail and self.lock and self.lock.expires <= self.now():
            rival = self.fail["waiting rival"]
            self.lock = dataclasses.replace(self.lock, holder=rival, token=rival)

    def _probe(self, command: str, stdin: str | None) -> str:
        n = self.nginx
        values: list[tuple[str, str]] = [("os_ID", "debian"), ("os_VERSION_ID", '"12"')]
        values += [
            ("live", _head(n.files.get(n.live))),
            ("state", _head(n.files.get(n.state))),
            ("current", n.files.get(n.current, "")),
            ("site", f"{_md5(n.files[n.site])}  {n.site}" if n.site in n.files else ""),
            ("script", f"{_md5(n.files[n.script])}  {n.script}" if n.script in n.files else ""),
            ("site_head", _head(n.files.get(n.site))),
            ("njs", "yes" if self.njs else ""),
            ("docker_bridge", self.docker_bridge),
            ("systemd", self.systemd),
            ("drained", "yes" if self.drained else ""),
        ]
        values += [("history", json.dumps(record)) for record in self.history[-20:]]
        values.append(("lock_info", self.lock.to_json() if self.lock else ""))
        values.append(("mark", self.mark.to_json() if self.mark else ""))
        for color in COLORS:
            c = self.containers.get(color)
            status = f"{'running' if c.running else 'exited'} {c.release}" if c else ""
            values.append((f"container_{color}", status))
        image = re.search(r"docker image inspect (\S+)", command)
        if image:
            present = image.group(1).partition(":")[2] in self.images
            values.append(("image", "present" if present else ""))
        if "lock=taken" in command:  # the probe also takes the lock
            values += self._acquire(command)
        if "probe" in self.fail:
            raise CommandFailed(255, self.fail["probe"])
        return "".join(f"{key}={value}\n" for key, value in values)

    def _acquire(self, command: str) -> list[tuple[str, str]]:
        if self.lock is not None:
            return [("lock", f"held {self.lock.to_json()}"), ("lock_now", str(self.now()))]
        self.lock = _lock_info(command, self.now())
        if "lock lost" in self.fail:  # e.g. it expired during a long build
            self.lock = dataclasses.replace(self.lock, holder=self.fail["lock lost"], token="x")
        return [("lock", "taken")]

    def _take_over(self, command: str, stdin: str | None) -> str:
        self.lock = _lock_info(command, self.now())
        return "lock=taken\n"

    def _heartbeat(self, command: str, stdin: str | None) -> str:
        """The lock's expiry refreshed, only while it is this run's (``lock.refresh``)."""
        self._guard(command)
        self.lock = _lock_info(command, self.now())
        return ""

    def _history(self, command: str, stdin: str | None) -> str:
        """The history line, the unlock, its own switch mark removed, and (after a switch)
        dropping what was set aside."""
        for color in self._colors("rm -f", command, aside=True):
            self.aside.pop(color, None)
        for token in shlex.split(command):
            if token.startswith('{"'):  # a history record (not a docker --format)
                self.history.append(json.loads(token))
        if self.mark and lock.unmark(self.app_dir, self.mark.token) in command:
            self.mark = None
        return self._unlock(command, stdin)

    def _unlock(self, command: str, stdin: str | None) -> str:
        """Give the lock back only when the command names its token (``lock.release``)."""
        if self.lock is not None and self.lock.token in command:
            self.lock = None
        return ""

    def _build(self, command: str, stdin: str | None) -> str:
        if "build" in self.fail:
            raise CommandFailed(1, f"#5 [2/3] RUN make\n#5 ERROR: {self.fail['build']}")
        if "long build" in self.fail and self.clock:
            self.clock.sleep(float(self.fail["long build"]))
        self.images.add(re.search(r"bluegreen\.release=(\S+)", command).group(1))
        return ""

    def _run(self, command: str, stdin: str | None) -> str:
        color = self.names[re.search(r"--name (\S+)", command).group(1)]
        release = re.search(r"--label bluegreen\.release=(\S+)", command).group(1)
        self.aside.pop(color, None)
        if color in self.containers:  # set aside, stopped
            self.aside[color] = self.containers.pop(color)
            self.aside[color].running = False
        if release not in self.images:
            raise CommandFailed(125, f"Unable to find image '{self.app}:{release}' locally")
        self.containers[color] = Container(release, running=True, fresh=True)
        return ""

    def _release(self, command: str, stdin: str | None) -> str:
        release = re.search(rf"--entrypoint \S+ '?{self.app}:([^\s']+)", command).group(1)
        if release not in self.images:
            raise CommandFailed(125, f"Unable to find image '{self.app}:{release}' locally")
        self.released.append((release, stdin))
        if "release" in self.fail:
            raise CommandFailed(3, f"applying 0041\napplying 0042\n{self.fail['release']}")
        return "applying 0041\napplying 0042\ndone\n"

    def _exec(self, command: str, stdin: str | None) -> str:
        """Prints the arguments it got, one per line, as ``[arg]``."""
        words = shlex.split(command.removesuffix(" 2>&1"))
        color = self.names[words[2]]
        if color not in self.containers or not self.containers[color].running:
            raise CommandFailed(1, f"Error: container {words[2]} is not running")
        output = "".join(f"[{word}]\n" for word in words[3:])
        if "exec" in self.fail:
            raise CommandFailed(3, output + self.fail["exec"])
        return output

    def _restore(self, command: str, stdin: str | None) -> str:
        """Remove the new container; the one set aside gets the color's name back."""
        for color in self._colors("rm -f", command):
            self.containers.pop(color, None)
            if color in self.aside:
                self.containers[color] = self.aside.pop(color)
                self.containers[color].running = "docker start" in command
        return ""

    def _retire(self, command: str, stdin: str | None) -> str:
        """Drop the containers a switched deploy had set aside (a repair's or a finish's)."""
        for color in self._colors("rm -f", command, aside=True):
            self.aside.pop(color, None)
        return ""

    def _colors(self, verb: str, command: str, aside: bool = False) -> list[str]:
        """The colors whose containers (or, with ``aside``, set-aside containers) ``docker
        <verb>`` names in ``command``."""
        segments = re.findall(rf"docker {verb}(?: -t \d+)? '?([^;&|\s']+)", command)
        names = {docker.aside(self.app, c) if aside else n: c for n, c in self.names.items()}
        return [color for name, color in names.items() if name in segments]

    def _drain(self, command: str, stdin: str | None) -> str:
        """Wait for old nginx workers (none here), then stop the old color."""
        if "drain" in self.fail:
            raise CommandFailed(1, self.fail["drain"])
        return self._stop(command, stdin)

    def _busy(self, command: str, stdin: str | None) -> str:
        """No connection is busy here (a revert's wait for the colors it leaves)."""
        if "busy" in self.fail:
            raise CommandFailed(127, self.fail["busy"])
        return "busy=0 waited=0.0\n"

    def _stop(self, command: str, stdin: str | None) -> str:
        for color in self._colors("stop", command):
            self.containers[color].running = False
        return ""

    def _start(self, command: str, stdin: str | None) -> str:
        for color in self._colors("start", command):
            if color not in self.containers:
                raise CommandFailed(1, f"Error: No such container: {self.app}-{color}")
            self.containers[color].running = self.containers[color].fresh = True
        return ""

    def _logs(self, command: str, stdin: str | None) -> str:
        return "listening on :8080\nGET /health 503\n"

    def _image(self, command: str, stdin: str | None) -> str:
        image = re.search(r"docker image inspect '?([^\s']+)", command).group(1)
        present = image.partition(":")[2] in self.images
        return "image=present\n" if present else "image=\n"

    def _leave(self, command: str, stdin: str | None) -> str:
        self._guard(command)
        self.drained = True
        return ""

    def _rejoin(self, command: str, stdin: str | None) -> str:
        self.drained = False
        return ""

    def _nginx(self, command: str, stdin: str | None) -> str:
        guard = self._guard(command)
        if lock.mark_path(self.app_dir) in command:  # a switch's: marked before anything
            self.mark = _lock_info(command, self.now())
        self._full()
        self.nginx.put_back(command)
        files = self.nginx.written(command)
        tested = "nginx -t" in command
        if tested and "nginx -t" in self.fail:
            raise CommandFailed(nginx.TEST_FAILED, self.fail["nginx -t"])
        self.nginx.prev.update((path, self.nginx.files.get(path)) for path in files)
        self.nginx.files.update(files)
        if "nginx -s reload" in command:
            self.nginx.reload()
        self.switches += bool(guard)
        self.dropped = guard and bool({"drop", "lost"} & set(self.fail)) and self.switches == 1
        return ""

    def _guard(self, command: str) -> bool:
        """A command that starts with ``lock.held`` stops unless the lock is this run's;
        True when it starts so."""
        guard = re.match(rf"grep -qs (\S+) {re.escape(self.app_dir)}/\.lock/info \|\|", command)
        if guard and self.switches and "lock lost later" in self.fail and self.lock is not None:
            self.lock = dataclasses.replace(
                self.lock, holder=self.fail["lock lost later"], token="x"
            )
        if guard and (self.lock is None or self.lock.token != guard.group(1)):
            raise CommandFailed(lock.LOST, lock.LOST_WHY)
        return guard is not None

    def _full(self) -> None:
        """The ``revert`` fault: no nginx file can be written once the switch went through."""
        if "revert" in self.fail and self.switches:
            raise CommandFailed(1, self.fail["revert"])

    def _uninstall(self, command: str, stdin: str | None) -> str:
        self._full()
        for path in self.nginx.paths:
            self.nginx.files.pop(path, None)
        self.nginx.reload()
        return ""

    def _log(self, command: str, stdin: str | None) -> str:
        start = re.search(r"start=(\d+)", command)
        if start is None:  # where the watch begins
            return f"size={len(self.access_log.encode())}\n"
        served = self.serving()
        if served is not None:
            status = 502 if "watch" in self.fail else 200
            port = self.ports.of(served.color)
            self.access_log += f"{time.time():.3f} {status} 0.002 127.0.0.1:{port}\n" * (
                LOG_LINES_PER_READ
            )
        data = self.access_log.encode()
        offset = int(start.group(1))
        offset = offset if len(data) >= offset else 0
        return f"size={len(data)}\nstart={offset}\n{data[offset:].decode()}"

    # -- HTTP -----------------------------------------------------------------------------

    def http(self, port: int, path: str, name: str | None = None) -> HttpReply:
        """The color ports answer health for their container; 4000 answers what nginx serves
        (asked for ``name``, kept in ``asked_for``)."""
        with self._lock:
            for color in COLORS:
                if port == self.ports.of(color):
                    return self._health(color)
            self.asked_for.add(name)
            served = self.serving()
            if "public" in self.fail:
                raise ConnectionResetError(self.fail["public"])
            if served is None:
                raise ConnectionRefusedError(f"127.0.0.1:{port}: nothing listens")
            self.answered += 1
            if served.maintenance:  # nginx answers with the page, asks no container
                headers = {"x-bluegreen-maintenance": "on", "retry-after": "60"}
                return HttpReply(503, headers, self.nginx.files.get(self.nginx.page, ""))
            colors = list(served.releases.items())
            color, release = colors[self.answered % len(colors)]
            container = self.containers.get(color)
            up = container is not None and container.running
            headers = {"x-bluegreen-color": color, "x-bluegreen-release": release}
            return HttpReply(200 if up else 502, headers, "ok" if up else "Bad Gateway")

    def _health(self, color: str) -> HttpReply:
        container = self.containers.get(color)
        if container is None or not container.running:
            raise ConnectionRefusedError(f"127.0.0.1:{self.ports.of(color)}: connection refused")
        if container.fresh and "health" in self.fail:
            return HttpReply(503, {}, self.fail["health"])
        return HttpReply(200, {}, "ok")


def _lock_info(command: str, now: int) -> LockInfo:
    """The record a lock command writes, its expiry on the host's clock (``now``)."""
    host_clock = re.compile(r"\$\(\(\$\(date \+%s\) \+ (\d+)\)\)")
    command = host_clock.sub(lambda m: str(now + int(m[1])), command)
    for token in shlex.split(command):
        if token.startswith("{") and '"token"' in token:
            return LockInfo(**json.loads(token))
    raise CommandFailed(1, "no lock info in the command")


class ScriptedRemote:
    """The session ``executor.connect`` returns in tests: same methods as ``Remote``.

    With ``dry_run`` it behaves like ``DryRemote``: read-only commands are answered,
    everything else only goes into ``plan``.
    """

    def __init__(self, fake: FakeHost, host: Host, dry_run: bool = False) -> None:
        self.fake, self.host, self.dry_run = fake, host, dry_run
        self.round_trips = 0
        self.plan: list[str] = []
        self.closed = False

    def open(self) -> None:
        self.fake.opened += 1
        if "connect" in self.fake.fail:
            where = f"{self.host.user}@{self.host.address}:{self.host.port}"
            raise RemoteError(self.host.name, f"connection to {where} {self.fake.fail['connect']}")

    def close(self) -> None:
        self.closed = True

    def reconnect(self) -> bool:
        """Connect again when the session dropped; True when it had."""
        if not self.fake.dropped:
            return False
        if "lost" in self.fake.fail:
            raise RemoteError(self.host.name, f"connection to {self.host.address} refused")
        self.fake.dropped = False
        self.open()
        return True

    def _lost(self, what: str) -> None:
        if self.fake.dropped:
            raise RemoteError(self.host.name, f"{what}: connection lost (SSH connection lost)")

    def run(
        self,
        command: str,
        *,
        timeout: float = 120,
        stdin: str | None = None,
        check: bool = True,
        what: str = "command",
        readonly: bool = False,
    ) -> str:
        if self.dry_run and not readonly:
            self.plan.append(command)
            if stdin is not None:
                self.plan.append(f"# with {len(stdin.splitlines())} line(s) on stdin (not shown)")
            return ""
        self.round_trips += 1
        self._lost(what)
        kind = self.fake.kind(command)
        self.fake.sent.append(Sent(kind, what, command, stdin))
        try:
            if kind == "unknown":
                self.fake.unknown.append(command)
                raise CommandFailed(127, f"fake host {self.fake.name}: unrecognised command")
            return self.fake.answer(kind, command, stdin)
        except CommandFailed as error:
            if not check:
                return ""
            lines = error.stderr.strip().splitlines()
            raise RemoteError(
                self.host.name,
                f"{what} failed (exit {error.exited}): {lines[-1] if lines else ''}",
                output="\n".join(lines),
                exited=error.exited,
            ) from error

    def put(self, data: bytes, remote_path: str) -> str:
        path = f"{HOME}/{remote_path}"
        if self.dry_run:
            self.plan.append(f"# upload {len(data)} bytes over SFTP to ~/{remote_path}")
            return f"~/{remote_path}"
        self.round_trips += 1
        self.fake.sent.append(Sent("upload", "upload", path))
        return path

    def connect_ahead(self, port: int, timeout: float) -> None:
        self.fake.ahead.append(port)

    def http_get(
        self, port: int, path: str, timeout: float, tls: object = None, name: str | None = None
    ) -> HttpReply:
        if self.fake.dropped:
            raise ConnectionResetError("SSH connection lost")
        return self.fake.http(port, path, name)

    def stream(self, command: str, on_line: Callable[[str], None]) -> None:
        self.round_trips += 1
        for line in self.run(command, readonly=True, what="stream").splitlines():
            on_line(line)


class VirtualClock:
    """``time.monotonic``/``time.sleep`` for a module under test: sleeping advances the clock
    at once, so deadlines (verification's 10 s) pass without waiting. Shared by threads."""

    START = 1000.0

    def __init__(self) -> None:
        self.now = self.START
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(seconds, 0.0)
        time.sleep(0)  # let the other hosts' threads run


def hosts_by_name(fakes: Iterable[FakeHost]) -> Callable[..., ScriptedRemote]:
    """A replacement for ``executor.connect`` that hands out each fake host's session."""
    table = {fake.name: fake for fake in fakes}

    def connect(host: Host, dry_run: bool = False) -> ScriptedRemote:
        return table[host.name].remote(host, dry_run)

    return connect
