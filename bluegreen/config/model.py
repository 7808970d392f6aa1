"""The hosts.yml model: frozen typed classes, each field's type and limits declared once.

The annotations are what msgspec checks a value against (``fields.check``) and what the
published JSON Schema says (``schema.py``); ``Says`` gives the words of "expected ..." where
a pattern alone would not tell the user, ``Check`` a field's own check. What depends on
other keys or on files (paths, secrets, TLS files, groups) is explicit code in ``rules.py``.

No ``from __future__ import annotations`` here: the library reads the annotations as objects.
"""

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from msgspec import Meta

from bluegreen.config import certificates, profiles, values
from bluegreen.config.fields import Check, Invalid, Says
from bluegreen.config.secrets import value as secret_value
from bluegreen.errors import InventoryError

COLORS = ("blue", "green")


def other(color: str) -> str:
    """The color that is not ``color``."""
    return "green" if color == "blue" else "blue"


# an app's name becomes container, image and nginx names; nginx's variables
# (``bluegreen_<name>_maintenance``) must fit its default variables_hash_bucket_size (64)
APP_NAME_MAX = 24
_APP_NAME = re.compile(rf"[a-z][a-z0-9_-]{{0,{APP_NAME_MAX - 1}}}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # host and group names
URL = re.compile(r"https?://\S+")
# [registry[:port]/]name[:tag][@sha256:digest], as docker spells image references
IMAGE_REFERENCE = re.compile(
    r"(?:(?P<server>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?)/)?"
    r"(?P<name>[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


def text(pattern: str | re.Pattern[str], says: str) -> object:
    """A string that must match ``pattern`` whole; ``says`` what that means to the user."""
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    # (?![\s\S]): the very end, in Python and in an editor's JavaScript ($ allows a "\n")
    return Annotated[str, Meta(pattern=f"^(?:{source})(?![\\s\\S])", description=says), Says(says)]


Port = Annotated[int, Meta(ge=1, le=65535)]
Count = Annotated[int, Meta(ge=1)]
Seconds = Annotated[float, Meta(ge=0)]
Positive = Annotated[float, Meta(gt=0)]
UrlPath = text(r"/\S*", "a URL path starting with '/'")
NonEmpty = Annotated[str, Meta(min_length=1), Says("a non-empty text")]
RelativePath = Annotated[str, Check(values.relative)]
Size = text(r"[1-9][0-9]*[bkmg]?", "a size like 512m or 2g")
Hook = text(r"\s*\S[^\n]*?\s*", "one shell command line")
CommandLine = Annotated[str, Check(values.one_line)]
Name = text(NAME, "a group or host name")
GitUrl = text(r"[^-\s]\S*", "a git URL the server can fetch")  # no option injection


@dataclass(frozen=True)
class Expect:
    """What a healthy answer holds beyond its status: an app can say "DB down" with a 200."""

    # allowed status codes; none given: any below 400
    status: Annotated[int | tuple[int, ...], Check(values.status_codes)] = ()
    contains: NonEmpty | None = None  # a text the body must contain
    # dotted field -> value (as text)
    json: Annotated[Mapping[str, str | int | float | bool], Check(values.json_fields)] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class Health:
    """How the new color is found healthy before traffic moves to it."""

    path: UrlPath = "/health"
    attempts: Count = 10
    interval: Positive = 2.0
    timeout: Positive = 2.0
    expect: Expect = field(default_factory=Expect)


@dataclass(frozen=True)
class Watch:
    """After a verified switch, judge the new color by nginx's access log; too bad → roll back."""

    seconds: Seconds = 0.0  # how long to watch; 0: off
    # share of 5xx answers from the new color
    max_error_rate: Annotated[float, Meta(ge=0, le=1), Says("a share from 0 to 1")] = 0.01
    max_p99_ms: Positive | None = None  # 99th percentile of nginx's request time; None: not judged
    min_requests: Count = 20  # fewer requests than this are too few to judge
    probe: UrlPath | None = None  # a path also requested through the public port once per second


LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


@dataclass(frozen=True)
class Tls:
    """HTTPS on ``app.domains``: off, the user's own files, or certificates from ACME (in
    hosts.yml: ``off``, ``{files: {certificate, key}}`` or ``{acme: {email}}``; see TlsFile)."""

    mode: str = "off"  # off | files | acme
    certificate: Path | None = None  # files: local PEM chain
    key: Path | None = None  # files: local PEM key (0600)
    email: str | None = None  # acme: the account's contact
    server: str = LETSENCRYPT  # acme: the directory URL
    ca: Path | None = None  # acme: CA bundle (PEM) of a private ACME server and its roots
    hsts: bool = False  # Strict-Transport-Security on every HTTPS answer (opt-in)
    pair: certificates.Pair | None = field(default=None, compare=False)  # files, read at load


@dataclass(frozen=True)
class TlsFiles:
    """The user's own certificate chain and key (PEM files on the operator's machine)."""

    certificate: Path
    key: Path


@dataclass(frozen=True)
class Acme:
    """Certificates from an ACME server (Let's Encrypt unless ``server`` says otherwise)."""

    email: text(r"""[^@\s'"]+@[^@\s'"]+\.[a-z]{2,}""", "an e-mail address")
    server: text(r"""https://[^\s'"]+""", "an https:// ACME directory URL") = LETSENCRYPT
    ca: Path | None = None  # CA bundle (PEM) of a private ACME server and its roots


@dataclass(frozen=True)
class TlsFile:
    """``app.tls`` as hosts.yml spells it: exactly one of files: or acme:."""

    files: TlsFiles | None = None
    acme: Acme | None = None
    hsts: bool = False


@dataclass(frozen=True)
class Proxy:
    """What nginx lets through to the app on the public port (docs/guides/proxy.md)."""

    # largest request body, nginx units (k, m, g); 0: unlimited
    max_body: Annotated[str | int, Check(values.size)] = "256m"
    timeout: Count = 60  # seconds nginx waits between two reads or writes of the app's traffic
    buffering: bool = False  # buffer responses (frees the app from slow clients; delays streams)
    # private: X-Bluegreen-Color/-Release only to bluegreen's own checks (from the host itself);
    # public: to every client
    release_headers: Literal["private", "public"] = "private"


@dataclass(frozen=True)
class Drain:
    """How the old color is let go after a switch (docs/guides/proxy.md): ``seconds`` for
    requests already under way, then up to ``max`` for connections still busy (streams,
    WebSockets, long requests); then it is stopped, so the app closes the rest."""

    seconds: Seconds = 3.0
    max: Seconds = 30.0


Pairs = Mapping[str, str | int | float]


@dataclass(frozen=True)
class Balancer:
    """A load balancer in front of the hosts (docs/guides/load-balancers.md): with --batch,
    each batch leaves it (health endpoint 503) before its switch and rejoins after."""

    # seconds from the 503 to the switch: marked down, in-flight done
    drain: Annotated[float, Meta(gt=0, le=600), Says("seconds above 0, at most 600")] = 10.0
    # seconds from the 200 to the next batch: marked up again
    rejoin: Annotated[float, Meta(gt=0, le=600), Says("seconds above 0, at most 600")] = 5.0
    # addresses or CIDRs whose X-Forwarded-For nginx believes (the client's real address)
    trusted_proxies: Annotated[tuple[str, ...], Check(values.networks)] = ()


@dataclass(frozen=True)
class ContainerOptions:
    """Whitelisted ``docker run`` settings, the same for both colors and release commands."""

    memory: Size | None = None  # e.g. 512m
    cpus: Positive | None = None
    ulimits: Annotated[Pairs, Check(values.option_pairs["ulimits"])] = field(default_factory=dict)
    shm_size: Size | None = None
    # name -> IP address
    extra_hosts: Annotated[Pairs, Check(values.option_pairs["extra_hosts"])] = field(
        default_factory=dict
    )
    labels: Annotated[Pairs, Check(values.option_pairs["labels"])] = field(default_factory=dict)
    log: Annotated[Pairs, Check(values.option_pairs["log"])] = field(default_factory=dict)
    user: (
        text(
            r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?",
            "uid[:gid] or name[:group]",
        )
        | None
    ) = None


# app.processes and app.schedule (docs/guides/workers.md); a process names a container
# (<app>-<name>) and a unit: not a color, nor a one-off's role (``schedule-<job>`` names a
# scheduled job's container)
PROCESS_NAME = re.compile(r"(?!(blue|green|release|exec)$|schedule-)[a-z][a-z0-9_-]{0,23}")
ProcessName = text(
    PROCESS_NAME, "a-z 0-9 _ - starting with a letter, at most 24, not blue, green, schedule-…"
)
JobName = text(PROCESS_NAME, "a-z 0-9 _ - starting with a letter, at most 24")
CommandText = text(r"\s*\S[\s\S]*", "a command line")  # one line only under runtime: process
StopTimeout = Annotated[int, Meta(ge=1, le=3600)]


@dataclass(frozen=True)
class AppProcess:
    """A named background process (a job worker) run from the live release, outside nginx."""

    name: str = field(metadata={"loaded": True})  # its key under app.processes
    command: CommandText  # a shell command line, run in the release (the image or its directory)
    # host or group names (load expands the groups); none: every host
    hosts: (
        Annotated[tuple[str, ...], Meta(min_length=1), Says("a list of host or group names")] | None
    ) = None  # noqa: E501
    # what the program takes as "finish your job, then exit" (TERM, QUIT, ...)
    stop_signal: Annotated[str, Check(values.signal)] = "SIGTERM"
    stop_timeout: StopTimeout = 30  # seconds it gets to finish before it is killed
    health: CommandText | None = None  # a command run beside it once started: exit 0 = healthy
    overlap: bool = False  # docker: start the new one before stopping the old (idempotent jobs)


@dataclass(frozen=True)
class ScheduledJob:
    """A command run once per time slot on one host of the fleet, in the live release."""

    name: str = field(metadata={"loaded": True})  # its key under app.schedule
    command: CommandText
    # seconds dividing 60: slots are its multiples since the epoch
    every: Annotated[int, Check(values.every)] | None = None
    # minute hour day-of-month month day-of-week, in UTC
    cron: Annotated[str, Check(values.cron)] | None = None
    host: text(NAME, "a host name") = ""  # the one host that runs it; default: the first host
    stop_timeout: StopTimeout = 30  # seconds a deploy waits for a running job before killing it


Env = Annotated[Mapping[str, str | int | float | bool], Check(values.env)]
Domains = Annotated[tuple[str, ...], Check(values.domains)]


@dataclass(frozen=True)
class App:
    """The app: where its source comes from, how it is built, run, checked and served."""

    name: text(
        _APP_NAME, f"a name of a-z 0-9 _ - starting with a letter, at most {APP_NAME_MAX} long"
    )
    source: Literal["upload", "git"] = "upload"
    # upload: local checkout (relative to hosts.yml); git: URL the server fetches
    repo: Annotated[str, Meta(min_length=1), Says("a path or git URL")] = "."
    path: RelativePath = "."  # build context inside the repository
    dockerfile: RelativePath = "Dockerfile"  # relative to the build context
    container_port: Port = 8080
    env: Env = field(default_factory=dict)  # settings: shown in output
    env_file: Path | None = None  # local file of KEY=VALUE lines (secrets)
    # what env_file holds (secrets: never in repr, so never in a traceback or a debug print)
    env_file_values: Mapping[str, str] = field(
        default_factory=dict, repr=False, metadata={"loaded": True}
    )
    # NAME -> value read from the operator's environment ("env:VAR") or a 0600 file
    # ("file:PATH"); masked in all output, never on a command line
    secrets: Annotated[Mapping[str, str], Check(values.secret_sources)] = field(
        default_factory=dict, repr=False
    )
    health: Health = field(default_factory=Health)
    # before the old color is stopped: seconds, or {seconds, max} (busy connections' wait)
    drain: Drain = field(default_factory=Drain)
    # keep the previous color running after a switch (rollback and the next switch skip the
    # container start, at the cost of a second running container)
    warm_standby: bool = False
    watch: Watch = field(default_factory=Watch)
    # where the release's image comes from: host (each host builds the uploaded or fetched
    # source) | local (built once by the operator's docker, sent to the hosts over SSH; with
    # runtime: process, build_command runs here and the built tree is sent);
    # ``image`` (a registry reference) instead pulls a prebuilt image by its digest
    build: Literal["host", "local"] = "host"
    image: text(IMAGE_REFERENCE, "a reference like registry.example.com/team/app:tag") | None = None
    keep_releases: Annotated[int, Meta(ge=0)] = 5  # images kept besides the live and previous
    # run once per deploy in a one-off container of the new image, before it starts: a shell
    # command line (str) or an argv (tuple); release_on: first | all | a host name
    release: Annotated[str | tuple[str, ...], Check(values.release_command)] | None = None
    release_on: text(NAME, "first, all or a host name") = "first"
    # "name:/path[:ro]" or "/host/path:/path[:ro]"
    volumes: Annotated[tuple[str, ...], Check(values.volumes)] = ()
    options: ContainerOptions = field(default_factory=ContainerOptions)
    stop_timeout: Annotated[int, Meta(ge=0, le=300)] = 10  # seconds docker stop waits
    domains: Domains = ()  # served by name on 80 (and 443 with tls), not the public port
    tls: Tls = field(default_factory=Tls)
    # docker | process: each color a plain process under systemd (``command`` in its release
    # directory, after ``build_command``); see bluegreen/shell/process.py
    runtime: Literal["docker", "process"] = "docker"
    command: CommandLine | None = None
    build_command: CommandLine | None = None
    # the language runtime bootstrap installs from the distribution's packages (runtime:
    # process): a key of LANGUAGES in bluegreen/config/profiles.py, e.g. node
    language: Literal[profiles.LANGUAGES] | None = None
    proxy: Proxy = field(default_factory=Proxy)
    # no balancer: batches switch in rotation (``balancer:`` alone: one with the defaults)
    balancer: Balancer | None = None
    # NAME: {command, hosts, ...} in hosts.yml (docs/guides/workers.md)
    processes: tuple[AppProcess, ...] = ()
    schedule: tuple[ScheduledJob, ...] = ()  # NAME: {command, every | cron, host, ...}
    # assets across the switch (docs/guides/proxy.md): the release's directory of
    # fingerprinted files (absolute, in the image or the release directory), served by nginx
    # at ``assets_url`` (default: /<its last part>/) from a store of recent releases' files
    assets: Annotated[str, Check(values.asset_dir)] | None = None
    assets_url: text(r"/([A-Za-z0-9_.-]+/)+", "a URL path like /static/") | None = None

    def assets_prefix(self) -> str:
        """The URL path the assets are served at."""
        return self.assets_url or f"/{posixpath.basename(self.assets or '')}/"

    def processes_on(self, host: str) -> tuple[AppProcess, ...]:
        """The processes ``host`` runs."""
        return tuple(p for p in self.processes if p.hosts is None or host in p.hosts)


@dataclass(frozen=True)
class RegistryLogin:
    """The registry credentials for ``app.image``; the password is read only when needed."""

    username: str
    password_from: str  # env:VAR or file:/absolute/path, as in app.secrets

    def password(self) -> str:
        """The password, from the environment or the private file (never printed)."""
        try:
            return secret_value(self.password_from, "secrets.registry.password")
        except Invalid as e:  # unset, or the file changed since the inventory was read
            raise InventoryError(str(e)) from None


@dataclass(frozen=True)
class RegistryFile:
    """``secrets.registry`` as hosts.yml spells it: never the password itself."""

    username: text(r"[^\n]+", "a user name")
    password: Annotated[str, Check(values.secret_source)]  # env:VAR or file:PATH


@dataclass(frozen=True)
class Secrets:
    """Credentials bluegreen itself uses (app secrets are ``app.secrets``)."""

    registry: RegistryLogin | None = None


@dataclass(frozen=True)
class Ports:
    """nginx's public port and the two colors' ports on 127.0.0.1 (all different)."""

    public: Port = 4000
    blue: Port = 4001
    green: Port = 4002

    def of(self, color: str) -> int:
        return {"blue": self.blue, "green": self.green}[color]


@dataclass(frozen=True)
class Host:
    """One server: where to reach it over SSH and how the app lives on it."""

    name: str = field(metadata={"loaded": True})  # its key under hosts:
    address: text(r"(?!-)[A-Za-z0-9.:%_-]+", "a hostname or IP address")
    user: text(r"[a-z_][a-z0-9_-]*", "a user name like 'ubuntu'") = "root"
    port: Port = 22
    key: Path | None = None  # null: ssh agent / default keys, even over defaults.key
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    host_keys: Literal["accept-new", "strict"] = "accept-new"  # strict when CI is set
    profile: Literal["auto", "ubuntu", "debian", "amazon-linux"] = "auto"
    # "{app}" in the configured value is replaced by the app name
    app_dir: Annotated[str, Check(values.app_dir)] = "/srv/app"
    # bridge (publish on 127.0.0.1) | host (the app listens on the color port)
    network: Literal["bridge", "host"] = "bridge"
    # how nginx changes color: reload (nginx -s reload) | file (njs reads the color per request,
    # no reload) | auto (file where the njs module is installed, else reload)
    switch_mode: Literal["auto", "reload", "file", "core"] = "auto"
    connect_timeout: Positive = 10.0
    env: Env = field(default_factory=dict)  # per-host env, over the app's
    web: bool = True  # false: a host for app.processes only (no color, no nginx site)


@dataclass(frozen=True)
class Webhook:
    """Where a change is told about as it starts, succeeds or fails."""

    # it may carry a token: then given as env:VAR or file:PATH (read like a secret)
    url: text(
        rf"{URL.pattern}|{values.SECRET_SOURCE.pattern}",
        "an http:// or https:// URL without spaces, env:VAR or file:PATH",
    ) = field(repr=False)
    format: Literal["json", "slack", "discord"] = "json"  # json (generic POST) | slack | discord
    # read from env:VAR or file:PATH: masked in all output
    secret: bool = field(default=False, metadata={"loaded": True})


@dataclass(frozen=True)
class Hooks:
    """Shell commands run on the operator's machine around a deploy, rollback or switch."""

    before: Hook | None = None  # a failure stops the change before any host is touched
    after_switch: Hook | None = None  # traffic moved and verified (before the drain)
    after: Hook | None = None  # the change succeeded
    failed: Hook | None = None  # the change failed (or was put back)
    # with app.balancer and --batch: a batch leaves the balancer (a failure puts it back),
    # and it is back in (BLUEGREEN_HOSTS: the batch); for balancers driven by an API
    before_batch: Hook | None = None
    after_batch: Hook | None = None


@dataclass(frozen=True)
class Metrics:
    """Prometheus: the state fab writes for node_exporter's textfile collector, the traffic
    mtail reads from the access log; both exporters listen on ``listen``."""

    textfile_dir: Annotated[str, Check(values.host_dir)] = (
        "/var/lib/prometheus/node-exporter"  # Debian's default
    )
    # an IP address; Prometheus usually scrapes a private network
    listen: Annotated[str, Check(values.address)] = "127.0.0.1"
    node_exporter_port: Port = 9100
    mtail_port: Port = 3903


@dataclass(frozen=True)
class Inventory:
    """A whole hosts.yml, checked. (Every dataclass here has a docstring: without one,
    dataclasses computes a signature for it at import, a cost on every command's start.)"""

    path: Path
    app: App
    ports: Ports
    hosts: Mapping[str, Host]
    groups: Mapping[str, tuple[str, ...]]  # members may be hosts or other groups
    default_group: str | None = None
    notify: tuple[Webhook, ...] = ()  # told when a change starts, succeeds or fails
    secrets: Secrets = field(default_factory=Secrets)
    hooks: Hooks = field(default_factory=Hooks)
    metrics: Metrics | None = None  # off unless the inventory has a metrics: section

    @property
    def public_port(self) -> int:
        """Where nginx serves the app: 443 with TLS, 80 for domains without, else ports.public."""
        if self.app.tls.mode != "off":
            return certificates.HTTPS_PORT
        return certificates.HTTP_PORT if self.app.domains else self.ports.public

    def select(self, names: Sequence[str] | str | None) -> list[Host]:
        """Resolve group and host names (``-H``) to hosts, in order, without duplicates.

        A string may hold several comma-separated names, as ``fab -H a,b`` passes them.
        """
        items = [names] if isinstance(names, str) else names or ()
        wanted = [n.strip() for item in items for n in item.split(",") if n.strip()]
        if not wanted:
            if self.default_group is None:
                raise InventoryError(f"no -H given and {self.path.name} has no defaults.group")
            wanted = [self.default_group]
        for name in wanted:
            if name not in self.groups and name not in self.hosts:
                raise InventoryError(
                    f"{self.path.name}: unknown host or group {name!r}; "
                    f"groups: {listed(self.groups)}; hosts: {listed(self.hosts)}"
                )
        selected = {host: self.hosts[host] for name in wanted for host in self._expand(name)}
        return list(selected.values())

    def _expand(self, name: str) -> Iterator[str]:
        """Host names in a group, depth first; load() has ruled out cycles."""
        if name in self.hosts:
            yield name
        else:
            for member in self.groups[name]:
                yield from self._expand(member)

    def env_for(self, host: Host) -> dict[str, str]:
        """The app's environment on ``host``: env_file, then app env, then host env; and the
        secrets (``load`` made sure no env key is also a secret)."""
        return {**self.app.env_file_values, **self.app.env, **host.env, **self.app.secrets}

    @property
    def secret_values(self) -> set[str]:
        """Every value the operator's output must mask: the secrets, env_file's values and
        webhook URLs given as secrets."""
        hooks = {hook.url for hook in self.notify if hook.secret}
        return {*self.app.secrets.values(), *self.app.env_file_values.values(), *hooks}


def listed(names: Mapping[str, object] | Sequence[str]) -> str:
    return ", ".join(names) or "none"
