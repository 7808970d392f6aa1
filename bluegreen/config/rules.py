"""hosts.yml's sections into the model, with the rules no type can say: keys that depend on
other keys (tls needs domains, runtime-specific keys, ports that differ), the defaults each
host takes, groups and their cycles, secrets and files read now, before any host is touched.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bluegreen.config import certificates
from bluegreen.config import secrets as secret
from bluegreen.config.fields import (
    Invalid,
    PathHook,
    check,
    check_keys,
    keys,
    kind_of,
    mapping,
    paths_under,
    record,
    required,
    values,
)
from bluegreen.config.model import (
    NAME,
    URL,
    Acme,
    App,
    AppProcess,
    Balancer,
    ContainerOptions,
    Drain,
    GitUrl,
    Hooks,
    Host,
    Inventory,
    JobName,
    Metrics,
    Name,
    Ports,
    ProcessName,
    RegistryFile,
    RegistryLogin,
    ScheduledJob,
    Seconds,
    Secrets,
    Tls,
    TlsFile,
    Webhook,
    listed,
)
from bluegreen.config.values import SECRET_SOURCE, one_line

TOP_KEYS = ("app", "ports", "defaults", "groups", "hosts", "notify", "secrets", "hooks", "metrics")
_BOTH = "a secret and a plain env setting at once; keep it in one of them"
# what only a container has: refused with runtime: process rather than silently ignored
_DOCKER_ONLY = ("dockerfile", "container_port", "image", "release", "volumes")
_DOCKER_ONLY_OPTIONS = ("ulimits", "shm_size", "extra_hosts", "labels", "log")
# ``options.user`` under runtime: process names the units' User=/Group= and ``runuser -u``:
# a POSIX name (useradd's portable form), not a uid nor a Docker-style ``name.with.dots``
_POSIX_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_HOST_DEFAULTS = (*(k for k in keys(Host) if k not in ("address", "env", "web")), "group")


def inventory(data: dict, path: Path) -> Inventory:
    """The whole file (a mapping) into an ``Inventory``; ``path`` is absolute."""
    check_keys(data, "", TOP_KEYS)
    base, paths = path.parent, paths_under(path.parent)
    app = _app(data.get("app"), base, paths)
    ports = _ports(data.get("ports"), paths)
    hosts, default_group = _hosts(data.get("defaults"), data.get("hosts"), app.name, paths)
    groups = _groups(data.get("groups"), hosts)
    if default_group is not None and default_group not in groups and default_group not in hosts:
        raise Invalid("defaults.group", f"{default_group!r} is {_neither(groups, hosts)}")
    if app.release_on not in ("first", "all", *hosts):
        raise Invalid("app.release_on", f"{app.release_on!r} is not first, all or a host name")
    app = _process_hosts(app, hosts, groups)
    for host in hosts.values():
        for name in set(host.env) & set(app.secrets):
            raise Invalid(f"hosts.{host.name}.env.{name}", f"{_BOTH} (app.secrets.{name})")
    notify = _notify(data.get("notify"), base, paths)
    registry = _registry(data.get("secrets"), base, paths)
    metrics = _metrics(data["metrics"], paths) if "metrics" in data else None
    hooks = record(data.get("hooks"), Hooks, "hooks", paths)
    return Inventory(
        path, app, ports, hosts, groups, default_group, notify, registry, hooks, metrics
    )


def _app(value: Any, base: Path, paths: PathHook) -> App:
    """The app section; relative local paths resolve against the inventory's directory."""
    data = mapping(value, "app")
    check_keys(data, "app", keys(App), required(App))
    own = ("tls", "processes", "schedule", "drain", "balancer")  # spelled otherwise
    kw = values({k: v for k, v in data.items() if k not in own}, App, "app", paths)
    if "balancer" in data:  # ``balancer:`` alone is one with the defaults
        kw["balancer"] = record(data["balancer"], Balancer, "app.balancer", paths)
    if "drain" in data:
        kw["drain"] = _drain(data["drain"], "app.drain", paths)
    kw["tls"] = _tls(data.get("tls"), kw.get("domains", ()), paths)
    kw["processes"] = _named(data.get("processes"), AppProcess, ProcessName, "app.processes", paths)
    kw["schedule"] = _named(data.get("schedule"), ScheduledJob, JobName, "app.schedule", paths)
    for job in kw["schedule"]:
        if (job.every is None) == (job.cron is None):
            raise Invalid(f"app.schedule.{job.name}", "give one of every (seconds) or cron")
    if "image" in kw and "build" in kw:
        raise Invalid("app.build", "app.image is prebuilt, nothing is built: give one of the two")
    if kw.get("build") == "local" and kw.get("source") == "git":
        raise Invalid("app.build", "local builds use your checkout: source: git builds on hosts")
    if kw.get("source") == "git":
        if "repo" not in kw:
            raise Invalid("app.repo", "required with source: git")
        check(kw["repo"], GitUrl, "app.repo", paths)
    else:
        kw["repo"] = str(paths(Path, kw.get("repo", ".")))
    if "env_file" in kw:
        kw["env_file_values"] = secret.env_file(kw["env_file"], "app.env_file")
    kw["secrets"] = _secrets(kw.get("secrets", {}), base)
    for name in kw["secrets"]:
        if name in kw.get("env", {}):
            raise Invalid(f"app.secrets.{name}", f"{_BOTH} (app.env.{name})")
    _runtime(kw)
    return App(**kw)


def _secrets(sources: Mapping[str, str], base: Path) -> dict[str, str]:
    """Each secret's value, read now: a missing one stops the change before it starts."""
    found = {}
    for name, source in sources.items():
        key = f"app.secrets.{name}"
        found[name] = secret.value(secret.source(source, key, base), key)
        if "\n" in found[name] or "\r" in found[name]:
            raise Invalid(key, "contains a line break (env files hold one line each)")
    return found


def _runtime(kw: dict[str, Any]) -> None:
    """``runtime: process`` needs ``command`` and takes no Docker-only key; docker takes no
    ``command``/``build_command`` (its image says what runs)."""
    if kw.get("runtime", "docker") == "docker":
        for name in ("command", "build_command", "language"):
            if name in kw:
                raise Invalid(f"app.{name}", "only for runtime: process (an image says what runs)")
        return
    if kw.get("build") == "local" and "build_command" not in kw:
        raise Invalid(
            "app.build_command", "required with build: local (what builds the tree, e.g. npm ci)"
        )
    for process in kw["processes"]:
        one_line(process.command, f"app.processes.{process.name}.command")
        if process.overlap:  # one unit per process: no second instance to overlap with
            raise Invalid(f"app.processes.{process.name}.overlap", "only for runtime: docker")
        if process.health is not None:
            one_line(process.health, f"app.processes.{process.name}.health")
    for job in kw["schedule"]:
        one_line(job.command, f"app.schedule.{job.name}.command")
    if "command" not in kw:
        raise Invalid("app.command", "required with runtime: process (e.g. python3 app.py)")
    for name in ("HOST", "PORT"):
        if name in kw.get("env", {}) or name in kw.get("secrets", {}):
            raise Invalid(f"app.env.{name}", "set by bluegreen for each color (its port)")
    for name in _DOCKER_ONLY:
        if name in kw:
            raise Invalid(f"app.{name}", "only for runtime: docker, not with runtime: process")
    options = kw.get("options", ContainerOptions())
    _process_user(options.user)
    for name in _DOCKER_ONLY_OPTIONS:
        if getattr(options, name) != getattr(ContainerOptions(), name):
            raise Invalid(
                f"app.options.{name}", "only for runtime: docker, not with runtime: process"
            )


def _process_user(user: str | None) -> None:
    """``options.user`` of a process app: ``name`` or ``name:group``, POSIX names, not root
    (the app and its build run unprivileged)."""
    if user is None:
        return
    for name in user.split(":"):
        if not _POSIX_NAME.fullmatch(name):
            raise Invalid(
                "app.options.user",
                f"{user!r}: with runtime: process a POSIX user name (and :group), a-z 0-9 _ -"
                " starting with a letter or _, at most 32: it names the systemd units' User=",
            )
    if user.partition(":")[0] == "root":
        raise Invalid(
            "app.options.user",
            "root: the app and its build run unprivileged; leave it out (bg-<app>) or name"
            " a user of yours",
        )


def _drain(value: Any, key: str, paths: PathHook) -> Drain:
    """``drain: 3`` (seconds, busy connections waited for up to the default maximum or those
    seconds if more) or ``drain: {seconds: 3, max: 30}``; the maximum is never below."""
    if not isinstance(value, dict):
        seconds = check(value, Seconds, key, paths)
        return Drain(seconds, max(seconds, Drain.max))
    drain = record(value, Drain, key, paths)
    if drain.max < drain.seconds:
        raise Invalid(f"{key}.max", f"{drain.max:g} is below {key}.seconds ({drain.seconds:g})")
    return drain


def _named(value: Any, cls: type, name: object, key: str, paths: PathHook) -> tuple:
    """``NAME: {...}`` entries (processes, scheduled jobs), each a ``cls`` named by its key."""
    found = []
    for entry, item in mapping(value, key).items():
        check(entry, name, f"{key}.{entry}", paths)
        found.append(record(item, cls, f"{key}.{entry}", paths, name=entry))
    return tuple(found)


def _process_hosts(app: App, hosts: Mapping[str, Host], groups: Mapping[str, Any]) -> App:
    """Each process's ``hosts`` as host names (groups expanded), each job on its host (the
    first host by default); an unknown name is refused, and so is a host left idle."""
    inventory = Inventory(Path(), app, Ports(), hosts, groups)
    expanded = []
    for process in app.processes:
        for name in process.hosts or ():
            if name not in hosts and name not in groups:
                where = f"app.processes.{process.name}.hosts"
                raise Invalid(where, f"{name!r} is {_neither(groups, hosts)}")
        names = process.hosts and tuple(h.name for h in inventory.select(process.hosts))
        expanded.append(dataclasses.replace(process, hosts=names))
    jobs = []
    for job in app.schedule:
        if job.host and job.host not in hosts:
            raise Invalid(f"app.schedule.{job.name}.host", f"{job.host!r} is not a host")
        jobs.append(dataclasses.replace(job, host=job.host or next(iter(hosts))))
    app = dataclasses.replace(app, processes=tuple(expanded), schedule=tuple(jobs))
    for host in hosts.values():
        runs = app.processes_on(host.name) or any(job.host == host.name for job in jobs)
        if not host.web and not runs:
            raise Invalid(f"hosts.{host.name}.web", "false, but no app.processes runs on it")
    return app


def _tls(value: Any, domains: tuple[str, ...], paths: PathHook) -> Tls:
    """``off`` (YAML reads it as false), ``{files: {certificate, key}}`` or ``{acme: {email,
    server}}``, each with ``hsts``; the files are read and checked now."""
    if value in (None, False, "off"):
        return Tls()
    if not isinstance(value, dict):
        raise Invalid("app.tls", f"expected off, files: or acme:, got {value!r}")
    check_keys(value, "app.tls", keys(TlsFile))
    modes = [mode for mode in ("files", "acme") if value.get(mode) is not None]
    if len(modes) != 1:
        raise Invalid("app.tls", "expected exactly one of files: or acme:")
    if not domains:
        raise Invalid("app.tls", "needs app.domains (the names the certificate is for)")
    given = record(value, TlsFile, "app.tls", paths)
    if given.acme is not None:
        return _acme(given.acme, given.hsts)
    files = given.files
    try:
        pair = certificates.read_pair(files.certificate, files.key, domains)
    except certificates.TlsInvalid as e:
        raise Invalid("app.tls.files", str(e)) from None
    return Tls("files", files.certificate, files.key, hsts=given.hsts, pair=pair)


def _acme(acme: Acme, hsts: bool) -> Tls:
    if acme.ca is not None and not acme.ca.is_file():
        raise Invalid("app.tls.acme.ca", f"{acme.ca}: file not found")
    return Tls("acme", email=acme.email, server=acme.server, ca=acme.ca, hsts=hsts)


def default_host_keys(environ: Mapping[str, str]) -> str:
    """``strict`` in CI (``CI`` set, as every CI service does): a CI machine starts with an
    empty known_hosts, where ``accept-new`` would trust whoever answers first."""
    return "strict" if environ.get("CI", "").lower() not in ("", "0", "false") else "accept-new"


def _hosts(
    defaults: Any, value: Any, app: str, paths: PathHook
) -> tuple[dict[str, Host], str | None]:
    """The hosts, each with ``defaults`` under its own keys; also the default group."""
    shared = dict(mapping(defaults, "defaults"))
    check_keys(shared, "defaults", _HOST_DEFAULTS)
    group = shared.pop("group", None)
    default_group = None if group is None else check(group, Name, "defaults.group", paths)
    shared = {
        "app_dir": f"/srv/{app}",
        "host_keys": default_host_keys(os.environ),
        **values(shared, Host, "defaults", paths),
    }
    if not value:
        raise Invalid("hosts", "required (at least one host)")
    hosts: dict[str, Host] = {}
    seen: dict[tuple[str, int], str] = {}
    for name, spec in mapping(value, "hosts").items():
        key = f"hosts.{name}"
        _check_name(name, key)
        own = mapping({"address": spec} if isinstance(spec, str) else spec, key)
        check_keys(own, key, keys(Host), required(Host))
        kw = {**shared, **values(own, Host, key, paths)}
        kw["app_dir"] = kw["app_dir"].replace("{app}", app).rstrip("/")
        host = hosts[name] = Host(name=name, **kw)
        first = seen.setdefault((host.address, host.port), name)
        if first != name:
            where = f"{host.address}:{host.port}"
            raise Invalid(f"{key}.address", f"same address and port as hosts.{first} ({where})")
    return hosts, default_group


def _groups(value: Any, hosts: Mapping[str, Host]) -> dict[str, tuple[str, ...]]:
    """Groups of host and group names, checked for unknown members and cycles."""
    groups: dict[str, tuple[str, ...]] = {}
    for name, members in mapping(value, "groups").items():
        key = f"groups.{name}"
        _check_name(name, key)
        if name in hosts:
            raise Invalid(key, f"{name!r} is also a host name; a name must be one or the other")
        if not members or not isinstance(members, list):
            raise Invalid(key, f"expected a non-empty list of host or group names, got {members!r}")
        groups[name] = tuple(_check_name(member, key) for member in members)
    for name, members in groups.items():
        for member in members:
            if member not in hosts and member not in groups:
                raise Invalid(f"groups.{name}", f"{member!r} is {_neither(groups, hosts)}")
    for name in groups:
        _no_cycle(groups, [name])
    return groups


def _no_cycle(groups: Mapping[str, tuple[str, ...]], trail: list[str]) -> None:
    """Walk the groups reachable from ``trail[-1]``, failing on one that includes itself."""
    for member in groups.get(trail[-1], ()):
        if member in trail:
            cycle = " -> ".join([*trail[trail.index(member) :], member])
            raise Invalid(f"groups.{member}", f"includes itself: {cycle}")
        _no_cycle(groups, [*trail, member])


def _ports(value: Any, paths: PathHook) -> Ports:
    """The three ports; nginx and both colors cannot share one."""
    ports = record(value, Ports, "ports", paths)
    roles: dict[int, str] = {}
    for role in keys(Ports):
        number = getattr(ports, role)
        if number in roles:
            raise Invalid(f"ports.{role}", f"{number} is also ports.{roles[number]}")
        roles[number] = role
    return ports


def _notify(value: Any, base: Path, paths: PathHook) -> tuple[Webhook, ...]:
    """A list of webhooks: ``{url: https://... | env:VAR | file:PATH, format: json|slack|
    discord}``, or just the URL."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Invalid("notify", f"expected a list of webhooks, got {kind_of(value)}")
    hooks = []
    for i, item in enumerate(value):
        key = f"notify[{i}]"
        given = mapping({"url": item} if isinstance(item, str) else item, key)
        check_keys(given, key, keys(Webhook), required(Webhook))
        found = isinstance(given["url"], str) and SECRET_SOURCE.fullmatch(given["url"])
        if found:  # a URL that carries a token, read like a secret: never committed
            given = {**given, "url": _secret_url(given["url"], f"{key}.url", base)}
        hooks.append(record(given, Webhook, key, paths, secret=bool(found)))
    return tuple(hooks)


def _secret_url(source: str, key: str, base: Path) -> str:
    """A webhook URL from env:VAR or file:PATH; the message never shows the value."""
    where = secret.source(source, key, base)
    url = secret.value(where, key).strip()
    if not URL.fullmatch(url):
        raise Invalid(
            key, f"{where.partition(':')[2]} holds no http:// or https:// URL without spaces"
        )
    return url


def _registry(value: Any, base: Path, paths: PathHook) -> Secrets:
    """``secrets: {registry: {username, password: env:VAR | file:PATH}}``."""
    data = mapping(value, "secrets")
    check_keys(data, "secrets", ["registry"])
    if data.get("registry") is None:
        return Secrets()
    key = "secrets.registry"
    login = record(data["registry"], RegistryFile, key, paths)
    source = secret.source(login.password, f"{key}.password", base)
    if source.startswith("file:"):
        secret.private_file(Path(source[5:]), f"{key}.password")
    return Secrets(RegistryLogin(login.username, source))


def _metrics(value: Any, paths: PathHook) -> Metrics:
    """``metrics: {textfile_dir, listen, node_exporter_port, mtail_port}`` (``metrics: {}``:
    the defaults)."""
    metrics = record(value, Metrics, "metrics", paths)
    if metrics.node_exporter_port == metrics.mtail_port:
        raise Invalid("metrics.mtail_port", "must differ from metrics.node_exporter_port")
    return metrics


def _check_name(name: Any, key: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise Invalid(key, f"{name!r} is not a valid name (letters, digits, '_', '.', '-')")
    return name


def _neither(groups: Mapping[str, Any], hosts: Mapping[str, Any]) -> str:
    return f"neither a group nor a host (groups: {listed(groups)}; hosts: {listed(hosts)})"
