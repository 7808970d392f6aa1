"""Parse and validate ``hosts.yml`` into immutable objects, before any host is touched.

Every error names the file, the key and the problem (``InventoryError``).
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import posixpath
import re
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from bluegreen.config import certificates, child_env, profiles
from bluegreen.errors import InventoryError

COLORS = ("blue", "green")


def other(color: str) -> str:
    """The color that is not ``color``."""
    return "green" if color == "blue" else "blue"


@dataclass(frozen=True)
class Expect:
    """What a healthy answer holds beyond its status: an app can say "DB down" with a 200."""

    status: tuple[int, ...] = ()  # allowed status codes; none given: any below 400
    contains: str | None = None  # a text the body must contain
    json: Mapping[str, str] = field(default_factory=dict)  # dotted field -> value (as text)


@dataclass(frozen=True)
class Health:
    path: str = "/health"
    attempts: int = 10
    interval: float = 2.0
    timeout: float = 2.0
    expect: Expect = field(default_factory=Expect)


@dataclass(frozen=True)
class Watch:
    """After a verified switch, judge the new color by nginx's access log; too bad → roll back."""

    seconds: float = 0.0  # how long to watch; 0: off
    max_error_rate: float = 0.01  # share of 5xx answers from the new color
    max_p99_ms: float | None = None  # 99th percentile of nginx's request time; None: not judged
    min_requests: int = 20  # fewer requests than this are too few to judge
    probe: str | None = None  # a path also requested through the public port once per second


LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


@dataclass(frozen=True)
class Tls:
    """HTTPS on ``app.domains``: off, the user's own files, or certificates from ACME."""

    mode: str = "off"  # off | files | acme
    certificate: Path | None = None  # files: local PEM chain
    key: Path | None = None  # files: local PEM key (0600)
    email: str | None = None  # acme: the account's contact
    server: str = LETSENCRYPT  # acme: the directory URL
    ca: Path | None = None  # acme: CA bundle (PEM) of a private ACME server and its roots
    hsts: bool = False  # Strict-Transport-Security on every HTTPS answer (opt-in)
    pair: certificates.Pair | None = field(default=None, compare=False)  # files, read at load


@dataclass(frozen=True)
class Proxy:
    """What nginx lets through to the app on the public port (docs/guides/proxy.md)."""

    max_body: str = "100m"  # largest request body, nginx units (k, m, g); 0: unlimited
    timeout: int = 60  # seconds nginx waits between two reads or writes of the app's traffic
    buffering: bool = False  # buffer responses (frees the app from slow clients; delays streams)
    # private: X-Bluegreen-Color/-Release only to bluegreen's own checks (from the host itself);
    # public: to every client
    release_headers: str = "private"


@dataclass(frozen=True)
class Drain:
    """How the old color is let go after a switch (docs/guides/proxy.md): ``seconds`` for
    requests already under way, then up to ``max`` for connections still busy (streams,
    WebSockets, long requests); then it is stopped, so the app closes the rest."""

    seconds: float = 3.0
    max: float = 30.0


@dataclass(frozen=True)
class Balancer:
    """A load balancer in front of the hosts (docs/guides/load-balancers.md): with --batch,
    each batch leaves it (health endpoint 503) before its switch and rejoins after."""

    drain: float = 10.0  # seconds from the 503 to the switch: marked down, in-flight done
    rejoin: float = 5.0  # seconds from the 200 to the next batch: marked up again
    # addresses or CIDRs whose X-Forwarded-For nginx believes (the client's real address)
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerOptions:
    """Whitelisted ``docker run`` settings, the same for both colors and release commands."""

    memory: str | None = None  # e.g. 512m
    cpus: float | None = None
    ulimits: Mapping[str, str] = field(default_factory=dict)  # nofile: "1024:2048"
    shm_size: str | None = None
    extra_hosts: Mapping[str, str] = field(default_factory=dict)  # name -> IP address
    labels: Mapping[str, str] = field(default_factory=dict)
    log: Mapping[str, str] = field(default_factory=dict)  # --log-opt KEY=VALUE
    user: str | None = None  # uid[:gid] or name[:group]


@dataclass(frozen=True)
class AppProcess:
    """A named background process (a job worker) run from the live release, outside nginx."""

    name: str
    command: str  # a shell command line, run in the release (the image or its directory)
    hosts: tuple[str, ...] | None = None  # host names (groups expanded); None: every host
    stop_signal: str = "SIGTERM"  # what the program takes as "finish your job, then exit"
    stop_timeout: int = 30  # seconds it gets to finish before it is killed
    health: str | None = None  # a command run beside it once started: exit 0 = healthy
    overlap: bool = False  # docker: start the new one before stopping the old (idempotent jobs)


@dataclass(frozen=True)
class ScheduledJob:
    """A command run once per time slot on one host of the fleet, in the live release."""

    name: str
    command: str
    every: int | None = None  # seconds dividing 60: slots are its multiples since the epoch
    cron: str | None = None  # minute hour day-of-month month day-of-week, in UTC
    host: str = ""  # the one host that runs it; default: the inventory's first host
    stop_timeout: int = 30  # seconds a deploy waits for a running job before killing it


@dataclass(frozen=True)
class App:
    name: str
    source: str = "upload"  # upload | git
    repo: str = "."  # upload: local checkout (relative to hosts.yml); git: URL the server fetches
    path: str = "."  # build context inside the repository
    dockerfile: str = "Dockerfile"  # relative to the build context
    container_port: int = 8080
    env: Mapping[str, str] = field(default_factory=dict)  # settings: shown in output
    env_file: Path | None = None  # local file of KEY=VALUE lines (secrets)
    # what env_file holds (secrets: never in repr, so never in a traceback or a debug print)
    env_file_values: Mapping[str, str] = field(default_factory=dict, repr=False)
    # NAME -> value read from the operator's environment ("env:VAR") or a 0600 file
    # ("file:PATH"); masked in all output, never on a command line
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    health: Health = field(default_factory=Health)
    drain: Drain = field(default_factory=Drain)  # before the old color is stopped
    # keep the previous color running after a switch (rollback and the next switch skip the
    # container start, at the cost of a second running container)
    warm_standby: bool = False
    watch: Watch = field(default_factory=Watch)
    # where the release's image comes from: host (each host builds the uploaded or fetched
    # source) | local (built once by the operator's docker, sent to the hosts over SSH; with
    # runtime: process, build_command runs here and the built tree is sent);
    # ``image`` (a registry reference) instead pulls a prebuilt image by its digest
    build: str = "host"
    image: str | None = None
    keep_releases: int = 5  # images kept per host besides the live and the previous one
    # run once per deploy in a one-off container of the new image, before it starts: a shell
    # command line (str) or an argv (tuple); release_on: first | all | a host name
    release: str | tuple[str, ...] | None = None
    release_on: str = "first"
    volumes: tuple[str, ...] = ()  # "name:/path[:ro]" or "/host/path:/path[:ro]"
    options: ContainerOptions = field(default_factory=ContainerOptions)
    stop_timeout: int = 10  # seconds docker stop waits for the app before killing it
    domains: tuple[str, ...] = ()  # served by name on 80 (and 443 with tls), not the public port
    tls: Tls = field(default_factory=Tls)
    # docker | process: each color a plain process under systemd (``command`` in its release
    # directory, after ``build_command``); see bluegreen/shell/process.py
    runtime: str = "docker"
    command: str | None = None
    build_command: str | None = None
    # the language runtime bootstrap installs from the distribution's packages (runtime:
    # process): a key of LANGUAGES in bluegreen/config/profiles.py, e.g. node
    language: str | None = None
    proxy: Proxy = field(default_factory=Proxy)
    balancer: Balancer | None = None  # no balancer: batches switch in rotation
    processes: tuple[AppProcess, ...] = ()  # docs/guides/workers.md
    schedule: tuple[ScheduledJob, ...] = ()
    # assets across the switch (docs/guides/proxy.md): the release's directory of
    # fingerprinted files (absolute, in the image or the release directory), served by nginx
    # at ``assets_url`` (default: /<its last part>/) from a store of recent releases' files
    assets: str | None = None
    assets_url: str | None = None

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
            return _secret_value(self.password_from, "secrets.registry.password")
        except _Invalid as e:  # unset, or the file changed since the inventory was read
            raise InventoryError(str(e)) from None


@dataclass(frozen=True)
class Secrets:
    registry: RegistryLogin | None = None


@dataclass(frozen=True)
class Ports:
    public: int = 4000
    blue: int = 4001
    green: int = 4002

    def of(self, color: str) -> int:
        return {"blue": self.blue, "green": self.green}[color]


@dataclass(frozen=True)
class Host:
    name: str
    address: str
    user: str = "root"
    port: int = 22
    key: Path | None = None
    known_hosts: Path = Path("~/.ssh/known_hosts").expanduser()
    host_keys: str = "accept-new"  # accept-new | strict
    profile: str = "auto"  # auto | ubuntu | debian | amazon-linux
    app_dir: str = "/srv/app"  # "{app}" in the configured value is replaced by the app name
    # bridge (publish on 127.0.0.1) | host (the app listens on the color port)
    network: str = "bridge"
    # how nginx changes color: reload (nginx -s reload) | file (njs reads the color per request,
    # no reload) | auto (file where the njs module is installed, else reload)
    switch_mode: str = "auto"
    connect_timeout: float = 10.0
    env: Mapping[str, str] = field(default_factory=dict)  # per-host env, over the app's
    web: bool = True  # false: a host for app.processes only (no color, no nginx site)


@dataclass(frozen=True)
class Webhook:
    url: str = field(repr=False)  # it may carry a token (then given as env:VAR or file:PATH)
    format: str = "json"  # json (generic POST) | slack | discord
    secret: bool = False  # read from env:VAR or file:PATH: masked in all output


@dataclass(frozen=True)
class Hooks:
    """Shell commands run on the operator's machine around a deploy, rollback or switch."""

    before: str | None = None  # a failure stops the change before any host is touched
    after_switch: str | None = None  # traffic moved and verified (before the drain)
    after: str | None = None  # the change succeeded
    failed: str | None = None  # the change failed (or was put back)
    # with app.balancer and --batch: a batch leaves the balancer (a failure puts it back),
    # and it is back in (BLUEGREEN_HOSTS: the batch); for balancers driven by an API
    before_batch: str | None = None
    after_batch: str | None = None


@dataclass(frozen=True)
class Metrics:
    """Prometheus: the state fab writes for node_exporter's textfile collector, the traffic
    mtail reads from the access log; both exporters listen on ``listen``."""

    textfile_dir: str = "/var/lib/prometheus/node-exporter"  # Debian's default
    listen: str = "127.0.0.1"  # an IP address; Prometheus usually scrapes a private network
    node_exporter_port: int = 9100
    mtail_port: int = 3903


@dataclass(frozen=True)
class Inventory:
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
                    f"groups: {_list(self.groups)}; hosts: {_list(self.hosts)}"
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


# --- loading -------------------------------------------------------------------------------

Check = Callable[[Any, str], Any]  # (value, dotted key) -> checked value; raises _Invalid

# an app's name becomes container, image and nginx names; nginx's variables
# (``bluegreen_<name>_maintenance``) must fit its default variables_hash_bucket_size (64)
APP_NAME_MAX = 24
_APP_NAME = re.compile(rf"[a-z][a-z0-9_-]{{0,{APP_NAME_MAX - 1}}}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # host and group names
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIR_PART = re.compile(r"[A-Za-z0-9_.-]+")
_URL = re.compile(r"https?://\S+")
_GIT_URL = re.compile(r"[^-\s]\S*")  # no option injection, no spaces
_TOP_KEYS = ("app", "ports", "defaults", "groups", "hosts", "notify", "secrets", "hooks", "metrics")
# [registry[:port]/]name[:tag][@sha256:digest], as docker spells image references
IMAGE_REFERENCE = re.compile(
    r"(?:(?P<server>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?)/)?"
    r"(?P<name>[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


class _Invalid(Exception):
    """A problem at a dotted key; ``load`` prefixes the file name."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, which PyYAML would silently drop."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # complex keys are rare and rejected later as bad names
            if (key_node.tag, key_node.value) in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                )
            seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep)


def load(path: str | Path) -> Inventory:
    """Read and validate an inventory file; every problem is an ``InventoryError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InventoryError(f"{path}: file not found ({os.path.abspath(path)})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InventoryError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        data = yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InventoryError(
            f"{where}: YAML syntax error: {getattr(e, 'problem', None) or e}"
        ) from None
    if data is None:
        raise InventoryError(f"{path}: empty file (expected at least app: and hosts:)")
    if not isinstance(data, dict):
        raise InventoryError(f"{path}: expected a mapping at the top level, got {_kind(data)}")
    try:
        return _parse(data, Path(os.path.abspath(path)))
    except _Invalid as e:
        raise InventoryError(f"{path}: {e}") from None


def _parse(data: dict, path: Path) -> Inventory:
    _check_keys(data, "", _TOP_KEYS)
    base = path.parent
    app = _app(data.get("app"), base)
    ports = _ports(data.get("ports"))
    hosts, default_group = _hosts(data.get("defaults"), data.get("hosts"), base, app.name)
    groups = _groups(data.get("groups"), hosts)
    if default_group is not None and default_group not in groups and default_group not in hosts:
        raise _Invalid("defaults.group", f"{default_group!r} is {_neither(groups, hosts)}")
    if app.release_on not in ("first", "all", *hosts):
        raise _Invalid("app.release_on", f"{app.release_on!r} is not first, all or a host name")
    app = _process_hosts(app, hosts, groups)
    for host in hosts.values():
        for name in set(host.env) & set(app.secrets):
            raise _Invalid(f"hosts.{host.name}.env.{name}", f"{_BOTH} (app.secrets.{name})")
    notify = _notify(data.get("notify"), base)
    secrets = _registry_secrets(data.get("secrets"), base)
    metrics = _metrics(data["metrics"]) if "metrics" in data else None
    hooks = _record(Hooks, dict.fromkeys(_names(Hooks), _HOOK))(data.get("hooks"), "hooks")
    return Inventory(
        path, app, ports, hosts, groups, default_group, notify, secrets, hooks, metrics
    )


def _metrics(value: Any) -> Metrics:
    """``metrics: {textfile_dir, listen, node_exporter_port, mtail_port}`` (``metrics: {}``:
    the defaults)."""
    checks: dict[str, Check] = {
        "textfile_dir": _expect(_is_host_dir, "an absolute directory path on the hosts"),
        "listen": _expect(_is_address, "an IP address (e.g. 127.0.0.1 or 10.0.0.5)"),
        "node_exporter_port": _int(1, 65535),
        "mtail_port": _int(1, 65535),
    }
    metrics = _record(Metrics, checks)(value, "metrics")
    if metrics.node_exporter_port == metrics.mtail_port:
        raise _Invalid("metrics.mtail_port", "must differ from metrics.node_exporter_port")
    return metrics


def _is_host_dir(value: Any) -> bool:
    return (
        isinstance(value, str)
        and value.startswith("/")
        and value != "/"
        and all(
            part not in (".", "..") and _DIR_PART.fullmatch(part)
            for part in value.strip("/").split("/")
        )
    )


def _is_address(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _registry_secrets(value: Any, base: Path) -> Secrets:
    """``secrets: {registry: {username, password: env:VAR | file:PATH}}``."""
    data = _mapping(value, "secrets")
    _check_keys(data, "secrets", ["registry"])
    if data.get("registry") is None:
        return Secrets()
    key = "secrets.registry"
    login = _mapping(data["registry"], key)
    _check_keys(login, key, ["username", "password"], required=("username", "password"))
    username = login["username"]
    if not isinstance(username, str) or not username or "\n" in username:
        raise _Invalid(f"{key}.username", "expected a user name")
    source = _secret_source(login["password"], f"{key}.password", base)
    if source.startswith("file:"):
        _private_file(Path(source[5:]), f"{key}.password")
    return Secrets(RegistryLogin(username, source))


def _private_file(path: Path, key: str) -> Path:
    """A secret's file: it must exist and be readable by its owner only (0600)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        raise _Invalid(key, f"{path}: file not found") from None
    except OSError as e:
        raise _Invalid(key, f"{path}: cannot read: {e.strerror}") from None
    if mode & 0o077:
        raise _Invalid(key, f"{path} is accessible by group/others (mode {mode:04o}); chmod 600 it")
    return path


def _notify(value: Any, base: Path) -> tuple[Webhook, ...]:
    """A list of webhooks: ``{url: https://... | env:VAR | file:PATH, format: json|slack|
    discord}``; a URL that carries a token is read like a secret, so it is never committed."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Invalid("notify", f"expected a list of webhooks, got {_kind(value)}")
    plain = _match(_URL, "an http:// or https:// URL without spaces")

    def url(given: Any, key: str) -> str:
        if not isinstance(given, str) or not _SECRET_SOURCE.fullmatch(given):
            return plain(given, key)
        source = _secret_source(given, key, base)
        found = _secret_value(source, key).strip()
        if not _URL.fullmatch(found):  # the value is a secret: never in the message
            where = source.partition(":")[2]
            raise _Invalid(key, f"{where} holds no http:// or https:// URL without spaces")
        return found

    checks = {"url": url, "format": _choice("json", "slack", "discord")}
    hooks = []
    for i, item in enumerate(value):
        given = {"url": item} if isinstance(item, str) else item
        found = _fields(given, f"notify[{i}]", tuple(checks), checks, required=("url",))
        secret = isinstance(given, dict) and bool(_SECRET_SOURCE.fullmatch(str(given.get("url"))))
        hooks.append(Webhook(**found, secret=secret))
    return tuple(hooks)


def _app(value: Any, base: Path) -> App:
    """The app section; relative local paths resolve against the inventory's directory."""
    checks: dict[str, Check] = {
        "name": _match(
            _APP_NAME, f"a name of a-z 0-9 _ - starting with a letter, at most {APP_NAME_MAX} long"
        ),
        "source": _choice("upload", "git"),
        "repo": _expect(lambda v: isinstance(v, str) and v, "a path or git URL"),
        "path": _relative,
        "dockerfile": _relative,
        "container_port": _int(1, 65535),
        "env": _env,
        "env_file": _path(base),
        "secrets": _app_secrets(base),
        "health": _record(Health, _HEALTH),
        "drain": _drain,
        "warm_standby": _BOOL,
        "watch": _record(Watch, _WATCH),
        "build": _choice("host", "local"),
        "image": _match(IMAGE_REFERENCE, "a reference like registry.example.com/team/app:tag"),
        "keep_releases": _int(0),
        "release": _release_command,
        "release_on": _match(_NAME, "first, all or a host name"),
        "volumes": _volumes,
        "options": _record(ContainerOptions, _OPTIONS),
        "stop_timeout": _int(0, 300),
        "domains": _domains,
        "tls": _any,  # checked with the domains below
        "runtime": _choice("docker", "process"),
        "command": _one_line,
        "build_command": _one_line,
        "language": _choice(*profiles.LANGUAGES),
        "proxy": _record(Proxy, _PROXY),
        "balancer": _record(Balancer, _BALANCER),
        "processes": _processes,
        "schedule": _schedule,
        "assets": _expect(_is_asset_dir, "an absolute path, e.g. /app/static"),
        "assets_url": _match(re.compile(r"/([A-Za-z0-9_.-]+/)+"), "a URL path like /static/"),
    }
    kw = _fields(value, "app", _names(App, "env_file_values"), checks, required=("name",))
    kw["tls"] = _tls(kw.get("tls"), kw.get("domains", ()), base)
    if "image" in kw and "build" in kw:
        raise _Invalid("app.build", "app.image is prebuilt, nothing is built: give one of the two")
    if kw.get("build") == "local" and kw.get("source") == "git":
        raise _Invalid("app.build", "local builds use your checkout: source: git builds on hosts")
    if kw.get("source") == "git":
        if "repo" not in kw:
            raise _Invalid("app.repo", "required with source: git")
        _match(_GIT_URL, "a git URL the server can fetch")(kw["repo"], "app.repo")
    else:
        kw["repo"] = os.path.abspath(base / Path(kw.get("repo", ".")).expanduser())
    if "env_file" in kw:
        kw["env_file_values"] = _read_env_file(kw["env_file"], "app.env_file")
    for name in kw.get("secrets", {}):
        if name in kw.get("env", {}):
            raise _Invalid(f"app.secrets.{name}", f"{_BOTH} (app.env.{name})")
    _runtime(kw)
    return App(**kw)


# what only a container has: refused with runtime: process rather than silently ignored
_DOCKER_ONLY = ("dockerfile", "container_port", "image", "release", "volumes")
_DOCKER_ONLY_OPTIONS = ("ulimits", "shm_size", "extra_hosts", "labels", "log")


def _runtime(kw: dict[str, Any]) -> None:
    """``runtime: process`` needs ``command`` and takes no Docker-only key; docker takes no
    ``command``/``build_command`` (its image says what runs)."""
    if kw.get("runtime", "docker") == "docker":
        for name in ("command", "build_command", "language"):
            if name in kw:
                raise _Invalid(f"app.{name}", "only for runtime: process (an image says what runs)")
        return
    if kw.get("build") == "local" and "build_command" not in kw:
        raise _Invalid(
            "app.build_command", "required with build: local (what builds the tree, e.g. npm ci)"
        )
    for process in kw.get("processes", ()):
        _one_line(process.command, f"app.processes.{process.name}.command")
        if process.overlap:  # one unit per process: no second instance to overlap with
            raise _Invalid(f"app.processes.{process.name}.overlap", "only for runtime: docker")
        if process.health is not None:
            _one_line(process.health, f"app.processes.{process.name}.health")
    for job in kw.get("schedule", ()):
        _one_line(job.command, f"app.schedule.{job.name}.command")
    if "command" not in kw:
        raise _Invalid("app.command", "required with runtime: process (e.g. python3 app.py)")
    for name in ("HOST", "PORT"):
        if name in kw.get("env", {}) or name in kw.get("secrets", {}):
            raise _Invalid(f"app.env.{name}", "set by bluegreen for each color (its port)")
    for name in _DOCKER_ONLY:
        if name in kw:
            raise _Invalid(f"app.{name}", "only for runtime: docker, not with runtime: process")
    options = kw.get("options", ContainerOptions())
    for name in _DOCKER_ONLY_OPTIONS:
        if getattr(options, name) != getattr(ContainerOptions(), name):
            raise _Invalid(
                f"app.options.{name}", "only for runtime: docker, not with runtime: process"
            )


def _domains(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise _Invalid(key, f"expected a non-empty list of domain names, got {_kind(value)}")
    for i, name in enumerate(value):
        try:
            certificates.check_domain(name, wildcard=False)
        except certificates.TlsInvalid as e:
            raise _Invalid(f"{key}[{i}]", str(e)) from None
    if len(set(value)) != len(value):
        raise _Invalid(key, "a domain is listed twice")
    return tuple(value)


def _tls(value: Any, domains: tuple[str, ...], base: Path) -> Tls:
    """``off`` (YAML reads it as false), ``{files: {certificate, key}}`` or ``{acme: {email,
    server}}``, each with ``hsts``; the files are read and checked now."""
    if value in (None, False, "off"):
        return Tls()
    if not isinstance(value, dict):
        raise _Invalid("app.tls", f"expected off, files: or acme:, got {value!r}")
    kw = _fields(value, "app.tls", ("files", "acme", "hsts"), _tls_checks(base))
    modes = [mode for mode in ("files", "acme") if mode in kw]
    if len(modes) != 1:
        raise _Invalid("app.tls", "expected exactly one of files: or acme:")
    if not domains:
        raise _Invalid("app.tls", "needs app.domains (the names the certificate is for)")
    settings = kw.pop(modes[0])
    tls = Tls(mode=modes[0], hsts=kw.get("hsts", False), **settings)
    if tls.mode == "acme":
        if tls.ca is None:
            return tls
        ca = Path(os.path.abspath(base / Path(tls.ca).expanduser()))
        if not ca.is_file():
            raise _Invalid("app.tls.acme.ca", f"{ca}: file not found")
        return replace(tls, ca=ca)
    key = "app.tls.files"
    for name in ("certificate", "key"):
        if getattr(tls, name) is None:
            raise _Invalid(f"{key}.{name}", "required")
    try:
        pair = certificates.read_pair(tls.certificate, tls.key, domains)
    except certificates.TlsInvalid as e:
        raise _Invalid(key, str(e)) from None
    return replace(tls, pair=pair)


def default_host_keys(environ: Mapping[str, str]) -> str:
    """``strict`` in CI (``CI`` set, as every CI service does): a CI machine starts with an
    empty known_hosts, where ``accept-new`` would trust whoever answers first."""
    return "strict" if environ.get("CI", "").lower() not in ("", "0", "false") else "accept-new"


def _hosts(defaults: Any, value: Any, base: Path, app: str) -> tuple[dict[str, Host], str | None]:
    """The hosts, each with ``defaults`` under its own keys; also the default group."""
    checks: dict[str, Check] = {
        "address": _match(re.compile(r"(?!-)[A-Za-z0-9.:%_-]+"), "a hostname or IP address"),
        "user": _match(re.compile(r"[a-z_][a-z0-9_-]*"), "a user name like 'ubuntu'"),
        "port": _int(1, 65535),
        "key": _or_none(_path(base)),  # null: ssh agent / default keys, even over defaults.key
        "known_hosts": _path(base),
        "host_keys": _choice("accept-new", "strict"),
        "profile": _choice("auto", "ubuntu", "debian", "amazon-linux"),
        "app_dir": _app_dir(app),
        "network": _choice("bridge", "host"),
        "switch_mode": _choice("auto", "reload", "file", "core"),
        "connect_timeout": _number(0),
        "env": _env,
        "group": _match(_NAME, "a group or host name"),
        "web": _BOOL,
    }
    allowed = [*_names(Host, "name", "address", "env", "web"), "group"]
    shared = {
        "app_dir": f"/srv/{app}",
        "host_keys": default_host_keys(os.environ),
        **_fields(defaults, "defaults", allowed, checks),
    }
    default_group = shared.pop("group", None)
    if not value:
        raise _Invalid("hosts", "required (at least one host)")
    hosts: dict[str, Host] = {}
    seen: dict[tuple[str, int], str] = {}
    for name, spec in _mapping(value, "hosts").items():
        key = f"hosts.{name}"
        _check_name(name, key)
        spec = {"address": spec} if isinstance(spec, str) else spec
        own = _fields(spec, key, _names(Host, "name"), checks, required=("address",))
        host = hosts[name] = Host(name=name, **{**shared, **own})
        other = seen.setdefault((host.address, host.port), name)
        if other != name:
            where = f"{host.address}:{host.port}"
            raise _Invalid(f"{key}.address", f"same address and port as hosts.{other} ({where})")
    return hosts, default_group


def _groups(value: Any, hosts: Mapping[str, Host]) -> dict[str, tuple[str, ...]]:
    """Groups of host and group names, checked for unknown members and cycles."""
    groups: dict[str, tuple[str, ...]] = {}
    for name, members in _mapping(value, "groups").items():
        key = f"groups.{name}"
        _check_name(name, key)
        if name in hosts:
            raise _Invalid(key, f"{name!r} is also a host name; a name must be one or the other")
        if not members or not isinstance(members, list):
            raise _Invalid(
                key, f"expected a non-empty list of host or group names, got {members!r}"
            )
        groups[name] = tuple(_check_name(member, key) for member in members)
    for name, members in groups.items():
        for member in members:
            if member not in hosts and member not in groups:
                raise _Invalid(f"groups.{name}", f"{member!r} is {_neither(groups, hosts)}")
    for name in groups:
        _no_cycle(groups, [name])
    return groups


def _no_cycle(groups: Mapping[str, tuple[str, ...]], trail: list[str]) -> None:
    """Walk the groups reachable from ``trail[-1]``, failing on one that includes itself."""
    for member in groups.get(trail[-1], ()):
        if member in trail:
            cycle = " -> ".join([*trail[trail.index(member) :], member])
            raise _Invalid(f"groups.{member}", f"includes itself: {cycle}")
        _no_cycle(groups, [*trail, member])


def _ports(value: Any) -> Ports:
    """The three ports; nginx and both colors cannot share one."""
    ports = _record(Ports, dict.fromkeys(_names(Ports), _int(1, 65535)))(value, "ports")
    roles: dict[int, str] = {}
    for role in _names(Ports):
        number = getattr(ports, role)
        if number in roles:
            raise _Invalid(f"ports.{role}", f"{number} is also ports.{roles[number]}")
        roles[number] = role
    return ports


def _read_env_file(path: Path, key: str) -> dict[str, str]:
    """KEY=VALUE lines, like ``docker run --env-file``; the file must be private (0600).

    Values are secrets: messages name the file, lines and keys, never values.
    """
    try:
        lines = _private_file(path, key).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise _Invalid(key, f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    env = {}
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            name, equals, env_value = line.partition("=")
            if not equals or not _ENV_NAME.fullmatch(name.strip()):
                raise _Invalid(key, f"{path}:{number}: expected NAME=value")
            env[name.strip()] = env_value
    return env


# --- field checkers ------------------------------------------------------------------------


def _names(cls: type, *exclude: str) -> list[str]:
    """The keys a section accepts: its dataclass's fields."""
    return [f.name for f in fields(cls) if f.name not in exclude]


def _mapping(value: Any, key: str) -> dict:
    """A mapping; absent or empty (None) counts as empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(key, f"expected a mapping, got {_kind(value)}")
    return value


def _fields(
    value: Any,
    key: str,
    allowed: Sequence[str],
    checks: Mapping[str, Check],
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Check a section's keys against ``allowed`` and its values with ``checks``."""
    data = _mapping(value, key)
    _check_keys(data, key, allowed, required)
    return {name: checks[name](item, f"{key}.{name}") for name, item in data.items()}


def _check_keys(data: dict, key: str, allowed: Sequence[str], required: Iterable[str] = ()) -> None:
    dotted = f"{key}." if key else ""
    for name in data:
        if name not in allowed:
            close = difflib.get_close_matches(str(name), allowed, n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(allowed)}"
            )
            raise _Invalid(f"{dotted}{name}", f"unknown key ({hint})")
    for name in required:
        if name not in data:
            raise _Invalid(f"{dotted}{name}", "required")


def _record(cls: type, checks: Mapping[str, Check]) -> Check:
    """A nested section that becomes a ``cls``, with its defaults for absent keys."""
    return lambda value, key: cls(**_fields(value, key, _names(cls), checks))


def _expect(ok: Callable[[Any], Any], what: str, convert: Callable[[Any], Any] = str) -> Check:
    """A checker: ``convert(value)`` if ``ok(value)``, else "expected <what>, got <value>"."""

    def check(value: Any, key: str) -> Any:
        if not ok(value):
            raise _Invalid(key, f"expected {what}, got {value!r}")
        return convert(value)

    return check


def _int(low: int, high: int | None = None) -> Check:
    # bool is an int in Python, and "22" is a string in YAML: both are mistakes here.
    what = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    return _expect(lambda v: type(v) is int and low <= v and (high is None or v <= high), what, int)


def _number(low: float, inclusive: bool = False) -> Check:
    what = f"a number {'>=' if inclusive else '>'} {low}"
    return _expect(
        lambda v: (
            type(v) in (int, float) and math.isfinite(v) and (v >= low if inclusive else v > low)
        ),
        what,
        float,
    )


def _choice(*options: str) -> Check:
    return _expect(lambda v: v in options, " or ".join(map(repr, options)))


def _match(pattern: re.Pattern[str], what: str) -> Check:
    return _expect(lambda v: isinstance(v, str) and pattern.fullmatch(v), what)


def _path(base: Path) -> Check:
    """A local path: ``~`` expanded, relative to the inventory's directory."""
    return _expect(
        lambda v: isinstance(v, str) and v,
        "a path",
        lambda v: Path(os.path.abspath(base / Path(v).expanduser())),
    )


def _or_none(check: Check) -> Check:
    return lambda value, key: None if value is None else check(value, key)


def _is_relative(v: Any) -> bool:
    parts = posixpath.normpath(v).split("/") if isinstance(v, str) and v else ["/"]
    return parts[0] not in ("", "..")


_relative = _expect(_is_relative, "a relative path inside the repository")
_HOOK = _expect(
    lambda v: isinstance(v, str) and v.strip() and "\n" not in v.strip(), "one shell command line"
)
_URL_PATH = _match(re.compile(r"/\S*"), "a URL path starting with '/'")


_BOOL = _expect(lambda v: isinstance(v, bool), "true or false", bool)
_PROXY: dict[str, Check] = {
    "max_body": _expect(
        lambda v: (
            (type(v) is int and v >= 0)
            or (isinstance(v, str) and re.fullmatch(r"(0|[1-9][0-9]{0,9}[kmg]?)", v))
        ),
        "a size like 512m, 2g or 0 (unlimited)",
    ),
    "timeout": _int(1),
    "buffering": _BOOL,
    "release_headers": _choice("private", "public"),
}
_DRAIN: dict[str, Check] = {
    "seconds": _number(0, inclusive=True),
    "max": _number(0, inclusive=True),
}


def _drain(value: Any, key: str) -> Drain:
    """``drain: 3`` (seconds, busy connections waited for up to the default maximum or those
    seconds if more) or ``drain: {seconds: 3, max: 30}``; the maximum is never below."""
    if not isinstance(value, dict):
        seconds = _DRAIN["seconds"](value, key)
        return Drain(seconds, max(seconds, Drain.max))
    drain = _record(Drain, _DRAIN)(value, key)
    if drain.max < drain.seconds:
        raise _Invalid(f"{key}.max", f"{drain.max:g} is below {key}.seconds ({drain.seconds:g})")
    return drain


def _networks(value: Any, key: str) -> tuple[str, ...]:
    """Addresses or CIDRs (nginx's set_real_ip_from), normalised: 10.0.0.1/8 -> 10.0.0.0/8."""
    items = value if isinstance(value, list) else [value]
    found = []
    for i, item in enumerate(items):
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except (TypeError, ValueError):
            what = "an address or CIDR like 10.0.0.0/8"
            raise _Invalid(f"{key}[{i}]", f"expected {what}, got {item!r}") from None
    return tuple(found)


_BALANCER_SECONDS = _expect(
    lambda v: type(v) in (int, float) and 0 < v <= 600, "seconds above 0, at most 600", float
)
_BALANCER: dict[str, Check] = {
    "drain": _BALANCER_SECONDS,
    "rejoin": _BALANCER_SECONDS,
    "trusted_proxies": _networks,
}


def _status_codes(value: Any, key: str) -> tuple[int, ...]:
    codes = value if isinstance(value, list) else [value]
    if not codes or not all(type(c) is int and 100 <= c <= 599 for c in codes):
        raise _Invalid(key, f"expected HTTP status codes (200 or [200, 204]), got {value!r}")
    return tuple(codes)


def _json_fields(value: Any, key: str) -> dict[str, str]:
    """Dotted field names (``checks.db``) and the scalar each must equal, as text."""
    fields_ = {}
    for name, item in _mapping(value, key).items():
        if not isinstance(name, str) or not re.fullmatch(
            r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", name
        ):
            raise _Invalid(key, f"{name!r} is not a field name (dotted for nested: checks.db)")
        if type(item) not in (str, int, float, bool):
            raise _Invalid(
                f"{key}.{name}", f"expected a string, number or boolean, got {_kind(item)}"
            )
        fields_[name] = json_text(item)
    return fields_


def json_text(value: Any) -> str:
    """A JSON scalar as the text it is compared by (true, 3, 0.5, up)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


_EXPECT: dict[str, Check] = {
    "status": _status_codes,
    "contains": _expect(lambda v: isinstance(v, str) and v, "a non-empty text"),
    "json": _json_fields,
}
_HEALTH: dict[str, Check] = {
    "path": _URL_PATH,
    "attempts": _int(1),
    "interval": _number(0),
    "timeout": _number(0),
    "expect": _record(Expect, _EXPECT),
}
_WATCH: dict[str, Check] = {
    "seconds": _number(0, inclusive=True),
    "max_error_rate": _expect(
        lambda v: type(v) in (int, float) and 0 <= v <= 1, "a share from 0 to 1", float
    ),
    "max_p99_ms": _or_none(_number(0)),
    "min_requests": _int(1),
    "probe": _or_none(_URL_PATH),
}


def _any(value: Any, key: str) -> Any:
    return value


def _tls_checks(base: Path) -> dict[str, Check]:
    files = dict.fromkeys(("certificate", "key"), _path(base))
    return {
        "files": lambda value, key: _fields(value, key, tuple(files), files),
        "acme": _acme,
        "hsts": _BOOL,
    }


_ACME_CHECKS: dict[str, Check] = {
    "ca": _expect(lambda v: isinstance(v, str) and v, "a path"),
    "email": _match(re.compile(r"[^@\s'\"]+@[^@\s'\"]+\.[a-z]{2,}"), "an e-mail address"),
    "server": _match(re.compile(r"https://[^\s'\"]+"), "an https:// ACME directory URL"),
}


def _acme(value: Any, key: str) -> dict[str, Any]:
    return _fields(value, key, tuple(_ACME_CHECKS), _ACME_CHECKS, required=("email",))


def _is_asset_dir(value: Any) -> bool:
    parts = value.split("/") if isinstance(value, str) else []
    return (
        len(parts) > 1
        and parts[0] == ""
        and all(p not in (".", "..") and _DIR_PART.fullmatch(p) for p in parts[1:])
    )


def _app_dir(app: str) -> Check:
    """An absolute directory of safe characters, with ``{app}`` replaced by the app name."""

    def ok(v: Any) -> bool:
        parts = v.replace("{app}", app).rstrip("/").split("/") if isinstance(v, str) else []
        return (
            len(parts) > 1
            and parts[0] == ""
            and all(p not in (".", "..") and _DIR_PART.fullmatch(p) for p in parts[1:])
        )

    what = "an absolute path of [A-Za-z0-9_./-] characters ('{app}' = app name)"
    return _expect(ok, what, lambda v: v.replace("{app}", app).rstrip("/"))


def _env(value: Any, key: str) -> dict[str, str]:
    """NAME: value pairs: settings (shown in output), though messages show only their type."""
    if not isinstance(value, dict):
        raise _Invalid(key, f"expected a mapping of NAME: value, got {_kind(value)}")
    env = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise _Invalid(key, f"{name!r} is not a valid variable name")
        if isinstance(item, bool):
            item = "true" if item else "false"  # as written in YAML, not Python's True
        elif not isinstance(item, (str, int, float)):
            raise _Invalid(
                f"{key}.{name}", f"expected a string, number or boolean, got {_kind(item)}"
            )
        if "\n" in str(item) or "\r" in str(item):
            raise _Invalid(f"{key}.{name}", "contains a line break (env files hold one line each)")
        env[name] = str(item)
    return env


def _one_line(value: Any, key: str) -> str:
    """A shell command line: one line (a unit file's ExecStart cannot hold more)."""
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(key, f"expected a command line, got {value!r}")
    if "\n" in value or "\r" in value:
        raise _Invalid(key, "must be one line (join commands with && or ;)")
    return value


def _release_command(value: Any, key: str) -> str | tuple[str, ...]:
    """A shell command line, or a list of arguments run as they are (no shell)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise _Invalid(key, f"expected a command (string) or a list of arguments, got {value!r}")


_VOLUME_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*|(/[A-Za-z0-9_.@+-]+)+/?")
_CONTAINER_PATH = re.compile(r"(/[A-Za-z0-9_.@+-]+)+/?")


def _volumes(value: Any, key: str) -> tuple[str, ...]:
    """Named volumes (``data:/var/lib/app``) and absolute host paths (``/srv/up:/up:ro``)."""
    if not isinstance(value, list):
        raise _Invalid(key, f"expected a list of SOURCE:/path[:ro], got {_kind(value)}")
    shape = "SOURCE:/container/path[:ro|:rw] (SOURCE a volume name or an absolute host path)"
    for i, spec in enumerate(value):
        parts = spec.split(":") if isinstance(spec, str) else []
        ok = len(parts) in (2, 3) and parts[2:] in ([], ["ro"], ["rw"])
        ok = ok and all(_VOLUME_SOURCE.fullmatch(parts[0]) and _CONTAINER_PATH.fullmatch(p)
                        for p in parts[1:2])  # fmt: skip
        if not ok or "/../" in f"{spec}/" or "/./" in f"{spec}/":
            raise _Invalid(f"{key}[{i}]", f"expected {shape}, got {spec!r}")
    return tuple(value)


_SIZE = _match(re.compile(r"[1-9][0-9]*[bkmg]?"), "a size like 512m or 2g")
_TEXT = re.compile(r"[^\x00-\x1f\x7f]*")  # one line, no control characters


def _pairs(name: re.Pattern[str], value: re.Pattern[str], what: str) -> Check:
    """A mapping of checked names to checked one-line strings (numbers as written)."""

    def check(data: Any, key: str) -> dict[str, str]:
        pairs = {}
        for item, setting in _mapping(data, key).items():
            text = str(setting) if type(setting) in (str, int, float) else None
            if not isinstance(item, str) or not name.fullmatch(item):
                raise _Invalid(key, f"{item!r} is not a valid name")
            if text is None or not value.fullmatch(text):
                raise _Invalid(f"{key}.{item}", f"expected {what}, got {setting!r}")
            pairs[item] = text
        return pairs

    return check


_OPTIONS: dict[str, Check] = {
    "memory": _SIZE,
    "cpus": _number(0),
    "ulimits": _pairs(re.compile(r"[a-z]+"), re.compile(r"-?[0-9]+(:-?[0-9]+)?"), "N or SOFT:HARD"),
    "shm_size": _SIZE,
    "extra_hosts": _pairs(
        re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*"), re.compile(r"[0-9a-fA-F.:]+"), "an IP address"
    ),
    "labels": _pairs(re.compile(r"(?!bluegreen\.)[A-Za-z0-9][A-Za-z0-9._/-]*"), _TEXT, "one line"),
    "log": _pairs(re.compile(r"[a-z][a-z0-9_-]*"), _TEXT, "one line"),
    "user": _match(
        re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?"),
        "uid[:gid] or name[:group]",
    ),
}


_BOTH = "a secret and a plain env setting at once; keep it in one of them"
_SECRET_SOURCE = re.compile(r"(env):([A-Za-z_][A-Za-z0-9_]*)|(file):(.+)")


def _app_secrets(base: Path) -> Check:
    """NAME: "env:VAR" (the operator's environment) or "file:PATH" (a 0600 file, relative to
    the inventory, one value; a trailing newline is dropped). Messages never show values."""

    def check(value: Any, key: str) -> dict[str, str]:
        if not isinstance(value, dict):
            raise _Invalid(
                key, f"expected a mapping of NAME: env:VAR or file:PATH, got {_kind(value)}"
            )
        secrets = {}
        for name, source in value.items():
            if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
                raise _Invalid(key, f"{name!r} is not a valid variable name")
            secret = _secret_value(_secret_source(source, f"{key}.{name}", base), f"{key}.{name}")
            if "\n" in secret or "\r" in secret:
                raise _Invalid(
                    f"{key}.{name}", "contains a line break (env files hold one line each)"
                )
            secrets[name] = secret
        return secrets

    return check


def _secret_source(source: Any, key: str, base: Path) -> str:
    """Where a secret comes from, checked: ``env:VAR``, or ``file:`` with an absolute path."""
    found = _SECRET_SOURCE.fullmatch(source) if isinstance(source, str) else None
    if found is None:
        raise _Invalid(key, "expected env:VAR or file:PATH (never the value itself)")
    if found.group(1):
        child_env.hide(found.group(2))  # kept from the processes fab starts (ps e)
        return source
    return f"file:{os.path.abspath(base / Path(found.group(4)).expanduser())}"


def _secret_value(source: str, key: str) -> str:
    """A secret's value, read from the operator's environment or a private file."""
    kind, _, where = source.partition(":")
    if kind == "env":
        secret = os.environ.get(where)
        if not secret:
            raise _Invalid(key, f"{where} is not set in your environment")
        return secret
    path = _private_file(Path(where), key)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _Invalid(key, f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    if not text.strip():
        raise _Invalid(key, f"{path} is empty")
    return text.removesuffix("\n")


def _check_name(name: Any, key: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _Invalid(key, f"{name!r} is not a valid name (letters, digits, '_', '.', '-')")
    return name


def _neither(groups: Mapping[str, Any], hosts: Mapping[str, Any]) -> str:
    return f"neither a group nor a host (groups: {_list(groups)}; hosts: {_list(hosts)})"


def _list(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# --- app.processes (docs/guides/workers.md) ---------------------------------------------

# a process names a container (<app>-<name>) and a unit: not a color, nor a one-off's role
# (``schedule-<job>`` names a scheduled job's container)
_PROCESS_NAME = re.compile(r"(?!(blue|green|release|exec)$|schedule-)[a-z][a-z0-9_-]{0,23}")
_SIGNALS = {s.name for s in signal.Signals if s.name.startswith("SIG") and "_" not in s.name}


def _signal(value: Any, key: str) -> str:
    """A signal's name, with or without SIG (TERM, SIGQUIT); kept as SIGNAME."""
    name = f"SIG{value.upper().removeprefix('SIG')}" if isinstance(value, str) else ""
    if name not in _SIGNALS - {"SIGKILL", "SIGSTOP"}:
        raise _Invalid(key, f"{value!r} is not a signal name a program can handle (TERM, QUIT…)")
    return name


_PROCESS: dict[str, Check] = {
    "command": _expect(lambda v: isinstance(v, str) and v.strip(), "a command line"),
    "hosts": _expect(
        lambda v: isinstance(v, list) and v and all(isinstance(n, str) for n in v),
        "a list of host or group names",
        tuple,
    ),
    "stop_signal": _signal,
    "stop_timeout": _int(1, 3600),
    "health": _expect(lambda v: isinstance(v, str) and v.strip(), "a command line"),
    "overlap": _expect(lambda v: isinstance(v, bool), "true or false", bool),
}


def _processes(value: Any, key: str) -> tuple[AppProcess, ...]:
    """``processes: {NAME: {command, hosts, stop_signal, stop_timeout, health, overlap}}``."""
    found = []
    for name, item in _mapping(value, key).items():
        what = "a-z 0-9 _ - starting with a letter, at most 24, not blue, green, schedule-…"
        _match(_PROCESS_NAME, what)(name, f"{key}.{name}")
        kw = _fields(item, f"{key}.{name}", _names(AppProcess, "name"), _PROCESS, ("command",))
        found.append(AppProcess(name, **kw))
    return tuple(found)


def _process_hosts(app: App, hosts: Mapping[str, Host], groups: Mapping[str, Any]) -> App:
    """Each process's ``hosts`` as host names (groups expanded); an unknown name is refused."""
    inventory = Inventory(Path(), app, Ports(), hosts, groups)
    expanded = []
    for process in app.processes:
        for name in process.hosts or ():
            if name not in hosts and name not in groups:
                where = f"app.processes.{process.name}.hosts"
                raise _Invalid(where, f"{name!r} is {_neither(groups, hosts)}")
        names = process.hosts and tuple(h.name for h in inventory.select(process.hosts))
        expanded.append(replace(process, hosts=names))
    jobs = []
    for job in app.schedule:
        if job.host and job.host not in hosts:
            raise _Invalid(f"app.schedule.{job.name}.host", f"{job.host!r} is not a host")
        jobs.append(replace(job, host=job.host or next(iter(hosts))))
    app = replace(app, processes=tuple(expanded), schedule=tuple(jobs))
    for host in hosts.values():
        runs = app.processes_on(host.name) or any(job.host == host.name for job in jobs)
        if not host.web and not runs:
            raise _Invalid(f"hosts.{host.name}.web", "false, but no app.processes runs on it")
    return app


# cron: minute hour day-of-month month day-of-week; each a list of *, N, A-B, with /STEP
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31),
                ("month", 1, 12), ("day of week", 0, 7))  # fmt: skip
_CRON_PART = re.compile(r"(\*|(\d+)(?:-(\d+))?)(?:/([1-9]\d*))?")


def _cron(value: Any, key: str) -> str:
    """Five cron fields of numbers (UTC); not both days restricted (cron ORs them)."""
    fields_ = value.split() if isinstance(value, str) else []
    if len(fields_) != 5:
        raise _Invalid(key, f"expected five fields (minute hour day month weekday), got {value!r}")
    for text, (what, low, high) in zip(fields_, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            found = _CRON_PART.fullmatch(part)
            numbers = [int(n) for n in found.groups()[1:3] if n] if found else [-1]
            if not all(low <= n <= high for n in numbers) or numbers != sorted(numbers):
                raise _Invalid(key, f"{part!r} is not a {what} ({low}-{high}, *, A-B, /STEP)")
    if "*" not in (fields_[2], fields_[4]):
        raise _Invalid(key, "restrict the day of month or the day of week, not both")
    return " ".join(fields_)


_JOB: dict[str, Check] = {
    "command": _PROCESS["command"],
    "every": _expect(
        lambda v: type(v) is int and v > 0 and 60 % v == 0,
        "seconds that divide 60 (1, 5, 10, 15, 30…); cron for minutes and more",
        int,
    ),  # fmt: skip
    "cron": _cron,
    "host": _match(_NAME, "a host name"),
    "stop_timeout": _PROCESS["stop_timeout"],
}


def _schedule(value: Any, key: str) -> tuple[ScheduledJob, ...]:
    """``schedule: {NAME: {command, every | cron, host, stop_timeout}}``."""
    jobs = []
    for name, item in _mapping(value, key).items():
        _match(_PROCESS_NAME, "a-z 0-9 _ - starting with a letter, at most 24")(
            name, f"{key}.{name}"
        )
        kw = _fields(item, f"{key}.{name}", _names(ScheduledJob, "name"), _JOB, ("command",))
        if ("every" in kw) == ("cron" in kw):
            raise _Invalid(f"{key}.{name}", "give one of every (seconds) or cron")
        jobs.append(ScheduledJob(name, **kw))
    return tuple(jobs)
