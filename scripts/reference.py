"""The reference pages of the docs site, generated from the code when the site is built.

An MkDocs hook (``hooks:`` in mkdocs.yml) and a script: ``python scripts/reference.py DIR``
writes the same pages into DIR. Generated, never committed, so they cannot drift:

- ``reference/hosts-yml.md``: every hosts.yml key, walked from the inventory's JSON Schema
  (type, default, description, example);
- ``reference/commands.md``: every task and option, from the tasks' docstrings and help;
- ``reference/json.md``: ``status --json`` and the ``--json`` event lines, from the modules
  that write them; and the exit codes.

A key or option without a description, or a note here for a key the code no longer has,
fails the build (``ReferenceError``).

The schema comes from ``inventory_schema()``: the JSON Schema the package ships
(``bluegreen/**/*.schema.json``) when there is one, else one derived here from the model's
dataclasses (``LAYOUT``; their field comments are the descriptions). ``NOTES``,
``DEFAULTS`` and ``EXAMPLES`` add what the schema does not say; once the published schema
carries descriptions, defaults and examples, delete the entries it covers.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import inspect
import io
import json
import sys
import tokenize
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bluegreen from this checkout, also when run as a script


class ReferenceError(Exception):
    """The code and the reference disagree (a key or option without a description, ...)."""


# --- hosts.yml: the schema -------------------------------------------------------------------

# Descriptions the model's comments lack or state out of date, by dotted key (``*``: a name
# you choose; ``[]``: an item of a list; ``{host}.KEY``: defaults.KEY and hosts.*.KEY).
# They win over the schema's own. A note for a key the schema does not have fails the build.
NOTES = {
    "app": "The app: where its source comes from, how it is built, run and checked.",
    "app.name": "a-z 0-9 _ -, starting with a letter, at most 24 characters; containers "
    "NAME-blue and NAME-green, image NAME:RELEASE, nginx files bluegreen-NAME*",
    "app.container_port": "the port the app listens on in its container (it also gets $PORT)",
    "app.image": "a prebuilt image in a registry, instead of build: every host pulls it by "
    "the digest the tag had when the deploy started",
    "app.release_on": "where the release command runs: first (default) | all | a host name",
    "app.command": "runtime: process: the shell line that starts the app in its release "
    "directory; it must listen on $HOST:$PORT",
    "app.build_command": "runtime: process: run once in a new release's directory to build it",
    "app.source": "upload (a git archive of your checkout, sent over SFTP) | git (each host "
    "fetches app.repo)",
    "app.processes": "Background processes (job workers) run from the live release beside "
    "the web app, by name; see the workers guide",
    "app.schedule": "Commands run once per time slot on one host, by name; see the workers guide",
    "app.schedule.*.command": "a shell command line, run in the live release",
    "app.drain": "how the old color is let go after a switch: a number (the seconds) or "
    "{seconds, max}; see the proxy guide",
    "app.drain.seconds": "seconds for the requests already under way",
    "app.drain.max": "then up to this many seconds while connections to the old color are "
    "busy (streams, WebSockets, long requests); not below seconds",
    "app.balancer": "A load balancer in front of the hosts: with --batch each batch leaves it "
    "(health endpoint 503) before its switch and rejoins after; see the load balancer guide",
    "app.health": "How the new color's health is checked before any switch.",
    "app.health.path": "URL path polled on the new color (through an SSH channel)",
    "app.health.attempts": "polls before the color counts as unhealthy",
    "app.health.interval": "seconds between polls",
    "app.health.timeout": "seconds one poll may take",
    "app.health.expect": "What a healthy answer holds beyond its status code.",
    "app.tls": "HTTPS on app.domains: off, your own certificate files, or ACME (Let's "
    "Encrypt); see the HTTPS guide",
    "app.tls.files": "your own certificate: both paths relative to hosts.yml",
    "app.tls.files.certificate": "PEM certificate chain; must cover every domain",
    "app.tls.files.key": "PEM private key, mode 0600",
    "app.tls.acme": "certificates from an ACME server (certbot on every host, http-01)",
    "app.tls.acme.email": "the ACME account's contact address",
    "app.tls.acme.server": "the ACME directory URL",
    "app.tls.acme.ca": "CA bundle (PEM) of a private ACME server and its roots",
    "app.tls.hsts": "Strict-Transport-Security on every HTTPS answer (opt-in: browsers "
    "remember it for a year)",
    "app.options": "Whitelisted docker run settings, the same for both colors and the "
    "release command; any other key is refused",
    "app.options.cpus": "CPUs the container may use, e.g. 1.5",
    "app.options.shm_size": "size of /dev/shm, e.g. 64m",
    "app.options.ulimits": "ulimits by name, soft:hard, e.g. nofile: 1024:4096",
    "app.options.log": "docker --log-opt KEY=VALUE pairs, e.g. max-size: 10m",
    "app.options.labels": "container labels (not bluegreen.*: those are ours)",
    "ports": "Where nginx listens and where each color listens (on 127.0.0.1).",
    "ports.public": "nginx's public port (when the app has no domains)",
    "ports.blue": "the blue color's port",
    "ports.green": "the green color's port",
    "defaults": "Any host key, applied to every host (a host's own key wins); and group.",
    "defaults.group": "the group (or host) used when no -H is given",
    "hosts": "The servers, by name: an address, or a mapping of host keys.",
    "hosts.*": "a host: its address, and any key of defaults for this host only",
    "hosts.*.address": "hostname or IP address to connect to",
    "groups": "Named lists of host and group names, for -H.",
    "groups.*": "host and group names (a group may include groups, not itself)",
    "notify": "Webhooks told when a change starts and when it succeeded, failed or was "
    "reverted: a URL, or a mapping with url and format.",
    "notify[]": "a webhook: a URL, or {url, format}",
    "notify[].url": "http:// or https:// URL, or env:VAR or file:PATH (0600) to keep its "
    "token out of hosts.yml; printed by host only",
    "secrets": "Credentials bluegreen itself needs (the app's own go to app.secrets).",
    "secrets.registry": "login for the registry of app.image",
    "secrets.registry.username": "registry user name",
    "secrets.registry.password": "env:VAR or file:PATH (0600), as in app.secrets",
    "hooks": "Shell commands run on your machine around deploy, rollback and switch.",
    "hooks.before_batch": "with app.balancer and --batch: right after a batch's health "
    "endpoints turn 503 (BLUEGREEN_HOSTS: the batch); a failure puts the batch back",
    "hooks.after_batch": "with app.balancer and --batch: right after the batch's endpoints "
    "answer 200 again (also after a failed batch)",
    "metrics": "Prometheus exporters on the hosts (off without this section).",
    "metrics.textfile_dir": "node_exporter's textfile directory, where fab writes the state "
    "metrics (absolute; Debian's default)",
    "metrics.node_exporter_port": "node_exporter's port",
    "metrics.mtail_port": "mtail's port",
    "{host}.user": "SSH login: root, or a user with passwordless sudo",
    "{host}.port": "SSH port",
    "{host}.key": "SSH private key (relative to hosts.yml or ~); null: the ssh agent",
    "{host}.known_hosts": "known_hosts file the host keys are checked against",
    "{host}.host_keys": "accept-new (record an unknown key) | strict; a changed key is always "
    "refused",
    "{host}.switch_mode": "how nginx changes color: auto (= core) | core | file (njs) | reload",
    "{host}.connect_timeout": "seconds to wait for the SSH connection",
    "{host}.profile": "the host's distribution: auto (read from /etc/os-release) | ubuntu | "
    "debian | amazon-linux",
    "{host}.network": "bridge (the color port published on 127.0.0.1) | host (the app listens "
    "on $HOST:$PORT itself)",
    "hosts.*.env": "env settings for this host only, over app.env",
    "{host}.app_dir": "the app's directory on the host; {app} is replaced by app.name",
}
# Defaults the dataclasses cannot show as they apply (a derived value, a home directory).
DEFAULTS = {"{host}.app_dir": "/srv/{app}", "{host}.known_hosts": "~/.ssh/known_hosts"}
# Examples where the default is no example (nothing, or an empty list).
EXAMPLES: dict[str, Any] = {
    "app.name": "shop",
    "app.repo": "git@github.com:acme/shop.git",
    "app.env": {"RAILS_ENV": "production"},
    "app.env_file": ".env.production",
    "app.secrets": {"DATABASE_URL": "env:SHOP_DATABASE_URL", "API_KEY": "file:secrets/api_key"},
    "app.health.expect.status": [200],
    "app.health.expect.contains": "ok",
    "app.health.expect.json": {"db": "up"},
    "app.watch.max_p99_ms": 500,
    "app.watch.probe": "/",
    "app.image": "registry.example.com/team/shop:main",
    "app.release": "bin/migrate",
    "app.volumes": ["shop-data:/var/lib/shop"],
    "app.options.memory": "512m",
    "app.options.cpus": 1.5,
    "app.options.ulimits": {"nofile": "1024:4096"},
    "app.options.shm_size": "64m",
    "app.options.extra_hosts": {"db.internal": "10.0.0.5"},
    "app.options.labels": {"team": "web"},
    "app.options.log": {"max-size": "10m"},
    "app.options.user": "1000:1000",
    "app.domains": ["shop.example.com"],
    "app.balancer.trusted_proxies": ["10.0.0.0/16"],
    "app.drain": {"seconds": 3, "max": 30},
    "app.processes.*": {"command": "exec node worker.js"},
    "app.processes.*.command": "exec node worker.js",
    "app.processes.*.hosts": ["web1"],
    "app.processes.*.health": "test -f /tmp/worker-ready",
    "app.schedule.*": {"cron": "*/5 * * * *", "command": "node cleanup.js"},
    "app.schedule.*.command": "node cleanup.js",
    "app.schedule.*.every": 10,
    "app.schedule.*.cron": "*/5 * * * *",
    "app.schedule.*.host": "web1",
    "app.tls": "off",
    "app.tls.files.certificate": "certs/shop.pem",
    "app.tls.files.key": "certs/shop.key",
    "app.tls.acme.email": "ops@example.com",
    "app.tls.acme.ca": "pebble.minica.pem",
    "app.command": "exec .venv/bin/python app.py",
    "app.build_command": "python3 -m venv .venv",
    "defaults.group": "prod",
    "hosts.*": {"address": "203.0.113.10"},
    "hosts.*.address": "203.0.113.10",
    "{host}.key": "~/.ssh/id_ed25519",
    "hosts.*.env": {"WORKERS": "4"},
    "groups.*": ["web1", "web2"],
    "notify[]": "https://hooks.slack.com/services/...",
    "notify[].url": "https://ci.example.com/bluegreen-events",
    "secrets.registry.username": "deployer",
    "secrets.registry.password": "env:REGISTRY_PASSWORD",
    "hooks.before": "./bin/check-ci",
    "hooks.after_switch": "./bin/purge-cdn",
    "hooks.after": './bin/notify "deployed $BLUEGREEN_RELEASE"',
    "hooks.failed": "./bin/page-oncall",
    "hooks.before_batch": './lb.sh deregister "$BLUEGREEN_HOSTS"',
    "hooks.after_batch": './lb.sh register "$BLUEGREEN_HOSTS"',
}
# Dataclass fields that are no hosts.yml key (read from another key, or computed at load).
INTERNAL = {
    "App": {"env_file_values"},
    "Host": {"name"},
    "Tls": {"mode", "pair"},
    "Webhook": {"secret"},  # set when url is env:VAR or file:PATH
}


def inventory_schema() -> dict:
    """The JSON Schema of hosts.yml: the one the package ships (``bluegreen/**/*.schema.json``)
    once the model publishes it, else derived here from the model's dataclasses."""
    published = sorted((ROOT / "bluegreen").rglob("*.schema.json"))
    if published:
        return json.loads(published[0].read_text(encoding="utf-8"))
    return LAYOUT()


def field_names(cls: type) -> list[str]:
    """The fields of a model class: a dataclass, a msgspec Struct or a pydantic model."""
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    return list(getattr(cls, "__struct_fields__", None) or getattr(cls, "model_fields", {}))


def LAYOUT() -> dict:  # noqa: N802 - a table, named as one
    """How hosts.yml's keys map onto the model's classes, where that is not one to one."""
    from bluegreen.config import inventory as model

    host = _object(model.Host, required=("address",))
    defaults = _object(model.Host, exclude=("address", "env", "web"))
    defaults["properties"]["group"] = {"type": "string"}
    tls_files = _object(model.Tls, only=("certificate", "key"))
    tls_acme = _object(model.Tls, only=("email", "server", "ca"), required=("email",))
    tls = _object(model.Tls, only=("hsts",))
    tls["properties"] = {"files": tls_files, "acme": tls_acme, **tls["properties"]}
    app = _object(model.App, required=("name",))
    app["properties"]["tls"] = {"anyOf": [{"const": "off"}, tls], "default": "off"}
    drain = app["properties"]["drain"]
    if "properties" in drain:  # drain: 3 is drain: {seconds: 3}
        app["properties"]["drain"] = {"anyOf": [{"type": "number"}, drain]}
    for key, cls in (("processes", "AppProcess"), ("schedule", "ScheduledJob")):
        if key in app["properties"]:  # by name: a mapping of NAME to its settings
            entry = _object(getattr(model, cls), exclude=("name",), required=("command",))
            app["properties"][key] = {"type": "object", "additionalProperties": entry}
    registry = _object(model.RegistryLogin, exclude=("password_from",))
    registry["properties"]["password"] = {"type": "string"}
    registry["required"] = ["username", "password"]
    webhook = _object(model.Webhook, required=("url",))
    return {
        "type": "object",
        "required": ["app", "hosts"],
        "additionalProperties": False,
        "properties": {
            "app": app,
            "ports": _object(model.Ports),
            "defaults": defaults,
            "groups": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "hosts": {
                "type": "object",
                "additionalProperties": {"anyOf": [{"type": "string"}, host]},
            },
            "notify": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, webhook]},
            },
            "secrets": {"type": "object", "properties": {"registry": registry}},
            "hooks": _object(model.Hooks),
            "metrics": _object(model.Metrics),
        },
    }


def _object(cls: type, only: tuple = (), exclude: tuple = (), required: tuple = ()) -> dict:
    """A dataclass as a JSON Schema object: its fields' types, defaults and comments."""
    hints = typing.get_type_hints(cls)
    comments = _field_comments(cls)
    internal = INTERNAL.get(cls.__name__, set())
    properties = {}
    for f in dataclasses.fields(cls):
        if f.name in internal or f.name in exclude or (only and f.name not in only):
            continue
        prop = _type(hints[f.name])
        default = _default(f)
        if default is not None and "properties" not in prop:
            prop["default"] = default
        if f.name in comments:
            prop["description"] = comments[f.name]
        properties[f.name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["additionalProperties"] = False
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):
        schema["description"] = " ".join(cls.__doc__.split())
    if required:
        schema["required"] = list(required)
    return schema


def _type(hint: Any) -> dict:
    """A Python annotation as a JSON Schema type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _object(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        kinds = [_type(a) for a in args if a is not type(None)]
        schema = kinds[0] if len(kinds) == 1 else {"anyOf": kinds}
        return {**schema, "nullable": True} if type(None) in args else schema
    if origin in (tuple, list):
        return {"type": "array", "items": _type(args[0]) if args else {}}
    if origin in (dict, Mapping) or origin is getattr(typing, "Mapping", None):
        return {"type": "object", "additionalProperties": _type(args[1])}
    if hint is Path:
        return {"type": "string", "format": "path"}
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return {"type": names.get(hint, "string")}


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return None
    if dataclasses.is_dataclass(value) or value in ((), {}, None):
        return None
    if isinstance(value, Path):
        return str(value).replace(str(Path.home()), "~")
    return list(value) if isinstance(value, tuple) else value


@functools.cache
def _field_comments(cls: type) -> dict[str, str]:
    """Each field's comment in the class body: on its own line, or the lines just above."""
    source = inspect.getsource(cls)
    comments: dict[str, str] = {}
    above: list[str] = []
    line_comment: dict[int, str] = {}
    first_name: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        row = tok.start[0]
        if tok.type == tokenize.COMMENT:
            line_comment[row] = tok.string.lstrip("#").strip()
        elif tok.type == tokenize.NAME and tok.start[1] == 4 and row not in first_name:
            first_name[row] = tok.string
    names = {f.name for f in dataclasses.fields(cls)}
    for row in range(1, max([*line_comment, *first_name, 0]) + 1):
        name = first_name.get(row)
        if name in names:
            text = " ".join([*above, line_comment.get(row, "")]).strip()
            if text:
                comments[name] = text
            above = []
        elif name is None and row in line_comment:
            above.append(line_comment[row])
        else:
            above = []
    return comments


# --- hosts.yml: the page ---------------------------------------------------------------------


@dataclasses.dataclass
class Key:
    """One row of the hosts.yml reference."""

    dotted: str
    kind: str
    default: Any
    description: str
    example: Any
    required: bool = False


def normalize(schema: dict, root: dict | None = None) -> dict:
    """The schema with what generators vary in made plain: ``$ref`` resolved, ``oneOf`` and
    one-item ``allOf`` as ``anyOf``/merged, a null type as ``nullable``."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    while "$ref" in schema:
        *_, section, name = schema.pop("$ref").split("/")
        schema = {**root[section][name], "x-class": name, **schema}
    if len(schema.get("allOf", ())) == 1:
        schema = {**schema.pop("allOf")[0], **schema}
    if "oneOf" in schema:
        schema["anyOf"] = schema.pop("oneOf")
    if isinstance(schema.get("type"), list):
        kinds = [k for k in schema["type"] if k != "null"]
        schema["nullable"] = len(kinds) < len(schema["type"])
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    out = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {n: _described(normalize(v, root), schema, n) for n, v in value.items()}
        elif key in ("$defs", "definitions"):
            out[key] = {n: normalize(v, root) for n, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = normalize(value, root)
        elif key == "anyOf":
            out[key] = [normalize(v, root) for v in value]
        else:
            out[key] = value
    options = out.get("anyOf", [])
    if any(o.get("type") == "null" for o in options):
        rest = [o for o in options if o.get("type") != "null"]
        out.pop("anyOf")
        out = {**rest[0], **out} if len(rest) == 1 else {**out, "anyOf": rest}
        out["nullable"] = True
    return out


def _described(prop: dict, parent: dict, name: str) -> dict:
    """``prop`` with a description: the schema's, else the comment on the field in the model
    class the parent's ``$ref`` names (what the dataclass-derived schema reads too)."""
    if prop.get("description") or "x-class" not in parent:
        return prop
    cls = _model_class(parent["x-class"])
    comment = _field_comments(cls).get(name) if cls else None
    return {**prop, "description": comment} if comment else prop


def _model_class(name: str) -> type | None:
    """The model class called ``name``, where the model lives now or lived before."""
    import importlib

    for module in ("bluegreen.config.model", "bluegreen.config.inventory"):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(found, type):
            return found
    return None


def keys(schema: dict) -> list[Key]:
    """Every key of the schema, depth first, with NOTES, DEFAULTS and EXAMPLES applied."""
    schema = normalize(schema)
    found = [key for name, prop in schema["properties"].items() for key in _key(name, prop)]
    for key in found:
        key.required = key.dotted in _required(schema)
    known = {k.dotted for k in found}
    for table in (NOTES, DEFAULTS, EXAMPLES):
        for dotted in _expand(table):
            if dotted not in known:
                raise ReferenceError(f"scripts/reference.py: a note for {dotted!r}, no such key")
    missing = [k.dotted for k in found if not k.description]
    if missing:
        raise ReferenceError(
            "hosts.yml keys without a description (add one to the model, or to NOTES in "
            f"scripts/reference.py): {', '.join(missing)}"
        )
    return found


def _key(dotted: str, prop: dict) -> Iterator[Key]:
    """The key ``dotted`` and the keys below it."""
    options = prop.get("anyOf", [prop])
    records = [o for o in options if "properties" in o]
    description = _expand(NOTES).get(dotted) or prop.get("description")
    description = description or next((o.get("description") for o in records), "")
    default = _expand(DEFAULTS).get(dotted, prop.get("default"))
    example = _expand(EXAMPLES).get(dotted, (prop.get("examples") or [default])[0])
    yield Key(dotted, _kind(prop), default, description or "", example)
    for option in options:
        for name, inner in option.get("properties", {}).items():
            yield from _key(f"{dotted}.{name}", inner)
        named = option.get("additionalProperties")
        if isinstance(named, dict) and ("." not in dotted or _has_records(named)):
            yield from _key(f"{dotted}.*", named)
        if option.get("type") == "array" and _has_records(option.get("items", {})):
            yield from _key(f"{dotted}[]", option["items"])


def _required(schema: dict, prefix: str = "") -> set[str]:
    """Dotted keys that must be given when their parent is."""
    found = set()
    for option in schema.get("anyOf", [schema]):
        found |= {f"{prefix}{name}" for name in option.get("required", ())}
        for name, inner in option.get("properties", {}).items():
            found |= _required(inner, f"{prefix}{name}.")
        named = option.get("additionalProperties")
        if isinstance(named, dict):
            found |= _required(named, f"{prefix}*.")
        if option.get("type") == "array":
            found |= _required(option.get("items", {}), prefix.rstrip(".") + "[].")
    return found


def _has_records(prop: dict) -> bool:
    return any("properties" in o for o in prop.get("anyOf", [prop]))


def _expand(table: Mapping[str, Any]) -> dict[str, Any]:
    """``{host}.KEY`` entries apply to both defaults.KEY and hosts.*.KEY."""
    out: dict[str, Any] = {}
    for dotted, value in table.items():
        if dotted.startswith("{host}."):
            for prefix in ("defaults.", "hosts.*."):
                out.setdefault(prefix + dotted[7:], value)
        else:
            out[dotted] = value
    return out


def _kind(prop: dict) -> str:
    if "const" in prop:
        return json.dumps(prop["const"])
    if "anyOf" in prop:
        kind = " or ".join(_kind(o) for o in prop["anyOf"])
    elif "enum" in prop:
        kind = "one of " + ", ".join(json.dumps(v) for v in prop["enum"])
    elif prop.get("format") == "path":
        kind = "path"
    elif prop.get("type") == "array":
        kind = f"list of {_kind(prop.get('items', {}))}"
    elif prop.get("type") == "object" and isinstance(prop.get("additionalProperties"), dict):
        kind = f"mapping of {_kind(prop['additionalProperties'])}"
    elif prop.get("type") == "object":
        kind = "mapping"
    else:
        kind = prop.get("type", "any")
    return f"{kind} or null" if prop.get("nullable") else kind


def hosts_yml_page(schema: dict) -> str:
    """The hosts.yml reference as Markdown: one table per top-level section."""
    lines = [
        "# hosts.yml",
        "",
        "*Generated from the code (`scripts/reference.py`) when the site is built.*",
        "",
        "One file describes the app, its servers and how they are reached. Every key but",
        "`app.name` and `hosts` has a default; the whole file is checked before any host is",
        "touched, and an error names the file, the dotted key (`hosts.web1.port`) and the",
        'problem, with "did you mean" for a misspelt key (exit code 2). `*` stands for a',
        "name you choose (a host, a group, an env variable), `[]` for an item of a list.",
        "",
        "nginx files are rendered from the bundled Jinja templates; a file with the same",
        "name in a `templates/` directory beside your `hosts.yml` overrides the bundled one.",
        "",
    ]
    rows = keys(schema)
    for top in normalize(schema)["properties"]:
        section = [
            k for k in rows if k.dotted == top or k.dotted.startswith((f"{top}.", f"{top}["))
        ]
        head = section[0]
        lines += [f"## `{top}`", "", head.description, ""]
        lines += ["| key | type | default | description | example |", "|---|---|---|---|---|"]
        for k in section[1:]:
            lines.append(
                f"| `{k.dotted}` | {_cell(k.kind)} | "
                f"{'**required**' if k.required else _value(k.default)} | "
                f"{_cell(k.description)} | {_value(k.example)} |"
            )
        lines.append("")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if value is None or value in ("", [], {}):
        return ""
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    text = text.removesuffix("\n...").strip()
    return f"`{_cell(text)}`"


def _cell(text: str) -> str:
    return str(text).replace("``", "`").replace("|", "\\|").replace("\n", " ")


# --- commands --------------------------------------------------------------------------------


def commands_page(ns: Any = None) -> str:
    """Every task with its docstring and options, and the program's own options
    (``ns``: the tasks' collection, by default bluegreen's)."""
    from bluegreen.cli.program import program

    if ns is None:
        from bluegreen.tasks import ns

    lines = [
        "# Commands",
        "",
        "*Generated from the tasks' docstrings and help (`scripts/reference.py`).*",
        "",
        "`bluegreen TASK [OPTIONS]` (or `fab TASK` with the `fabfile.py` that",
        "`bluegreen init --fabfile` writes). Several tasks may follow one another on one",
        "command line. `-H` takes group and host names of `hosts.yml`, comma-separated;",
        "without it the inventory's `defaults.group` is used.",
        "",
    ]
    missing = []
    for name in ns.task_names:
        task = ns[name]
        doc = inspect.cleandoc(task.__doc__ or "")
        if not doc:
            missing.append(name)
        lines += [f"## `{name}`", "", doc, ""]
        arguments = options_of(task)
        if arguments:
            lines += ["| option | value | default | what it does |", "|---|---|---|---|"]
        for argument in arguments:
            if not argument.help:
                missing.append(f"{name} {_flags(argument).replace('`', '')}")
            lines.append(
                f"| {_flags(argument)} | {_argument_kind(argument)} | "
                f"{_value(argument.default) if argument.default not in (None, False) else ''} | "
                f"{_cell(argument.help or '')} |"
            )
        lines.append("")
    if missing:
        raise ReferenceError(f"tasks or options without help: {', '.join(missing)}")
    lines += [
        "## Options of the program",
        "",
        "Before the task name: `bluegreen -H prod deploy`.",
        "",
    ]
    lines += ["| option | what it does |", "|---|---|"]
    for argument in program.core_args():
        lines.append(f"| {_flags(argument)} | {_cell(argument.help or '')} |")
    return "\n".join(lines) + "\n"


def options_of(task: Any) -> list:
    """The task's options. Invoke's ``get_arguments`` consumes the help it reads (a second
    call has none), so ask a copy."""
    probe = copy.copy(task)
    probe.help = dict(task.help)
    return probe.get_arguments()


def _flags(argument: Any) -> str:
    names = sorted(argument.names, key=len, reverse=True)
    return ", ".join(f"`-{n}`" if len(n) == 1 else f"`--{n}`" for n in names)


def _argument_kind(argument: Any) -> str:
    if argument.kind is bool:
        return "flag"
    if argument.kind is list:
        return "list"
    return "text"


# --- JSON and exit codes ---------------------------------------------------------------------

EXIT_CODES = (
    ("0", "done: every host reached the requested state"),
    (
        "1",
        "failed or reverted: every host serves what the closing table says (what it served "
        "before, for a failure before the switch); a host whose revert failed is "
        "reported as needs attention",
    ),
    ("2", "bad input (inventory, options, unknown host): nothing was touched"),
    (
        "3",
        "a bug in bluegreen: its traceback is printed; the host it hit got no revert and no "
        "undo (it needs attention: see Recovering a host that needs attention)",
    ),
)


# What each --json event is.
EVENTS = {
    "step": '`{"event": "step", "host", "status", "text"}`: one step on one host',
    "line": '`{"event": "line", "text"}`: a line of the log that belongs to no host',
    "row": '`{"event": "row", ...}`: one row of the closing table, keyed by its header',
    "summary": '`{"event": "summary", ...}`: last, the outcome of the change (fields below)',
}
# What each field of the closing summary event means; a field the code writes without an
# entry here fails the build.
SUMMARY_FIELDS = {
    "verdict": "succeeded, failed or reverted",
    "interrupted": "true when SIGINT or SIGTERM ended the change early",
    "needs_attention": "the hosts whose revert failed: they need the operator",
    "hosts": 'one object per host, keyed like the closing table: "host", "result", "serves", '
    '"ssh round trips"',
    "phases": "seconds per phase, by name",
}


def _source(module: str) -> ast.Module:
    return ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))


def emitted_events() -> list[str]:
    """The ``event`` values ``--json`` writes, read from the module that writes them."""
    return [
        keyword.value.value
        for node in ast.walk(_source("bluegreen.output.events"))
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "event" and isinstance(keyword.value, ast.Constant)
    ]


def summary_fields() -> list[str]:
    """The fields of the closing summary, read from the dict the report hands the log."""
    for node in ast.walk(_source("bluegreen.engine.report")):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "summary"
            and node.args
            and isinstance(node.args[0], ast.Dict)
        ):
            return [key.value for key in node.args[0].keys if isinstance(key, ast.Constant)]
    raise ReferenceError("bluegreen/engine/report.py: no log.summary({...}) call found")


def json_page() -> str:
    """``status --json`` and the ``--json`` event lines, from the modules that write them."""
    from bluegreen.ops import status
    from bluegreen.output import events

    status_doc = inspect.cleandoc(status.__doc__ or "")
    schema = status_doc.split("::", 1)[1] if "::" in status_doc else ""
    block, _, notes = schema.partition("\n\n``tls``")
    marks = ", ".join(f"`{v}`" for v in events.STATUS.values())
    from bluegreen.tasks import ns

    changes = [
        name
        for name in ns.task_names
        if name != "status" and any(a.name == "json" for a in options_of(ns[name]))
    ]
    events_written = emitted_events()
    fields = summary_fields()
    missing = [f"event {e}" for e in events_written if e not in EVENTS]
    missing += [f"summary field {f}" for f in fields if f not in SUMMARY_FIELDS]
    if missing:
        raise ReferenceError(
            "--json output without a description (add one to scripts/reference.py): "
            + ", ".join(missing)
        )
    lines = [
        "# JSON output and exit codes",
        "",
        "*Generated from `bluegreen/ops/status.py` and `bluegreen/output/events.py`.*",
        "",
        "## `status --json`",
        "",
        status_doc.split("JSON schema", 1)[0].strip(),
        "",
        'One JSON document: `{"hosts": [...]}`, one object per host:',
        "",
        "```",
        inspect.cleandoc(block),
        "```",
        "",
        ("``tls``" + notes).replace("``", "`").strip() if notes else "",
        "",
        "## `--json` events",
        "",
        " ".join((events.__doc__ or "").split()).replace("``", "`"),
        "",
        f"{', '.join(f'`{t}`' for t in changes)} take `--json`. Each line is one object with",
        "an `event` field:",
        "",
        *(f"- {EVENTS[name]}" for name in EVENTS if name in events_written),
        "",
        f"A step's `status` is one of {marks}.",
        "",
        "The summary's fields:",
        "",
        "| field | what it holds |",
        "|---|---|",
        *(f"| `{name}` | {SUMMARY_FIELDS[name]} |" for name in fields),
        "",
        "Secrets are masked as in the text log. Bad input is still one `❌` line on stderr.",
        "",
        "## Exit codes",
        "",
        "| code | meaning |",
        "|---|---|",
        *(f"| {code} | {meaning} |" for code, meaning in EXIT_CODES),
        "",
        "SIGINT or SIGTERM during a change does not kill it: the current step ends on every",
        "host, then it exits 1 after putting everything back (or 0 when every switch was",
        "already verified). The local programs it runs (hooks, git, docker build/save, skopeo)",
        "are in sessions of their own, so the first Ctrl-C does not kill them; a second one",
        "stops them at once. Outside a change (e.g. in `status`) a signal ends the program",
        "as usual.",
        "",
    ]
    return "\n".join(lines)


# --- the pages, and the MkDocs hook ----------------------------------------------------------


def pages() -> dict[str, str]:
    """Path under docs/ → Markdown of every generated page."""
    return {
        "reference/hosts-yml.md": hosts_yml_page(inventory_schema()),
        "reference/commands.md": commands_page(),
        "reference/json.md": json_page(),
    }


def on_files(files: Any, config: Any) -> Any:
    """MkDocs hook: add the generated pages to the site before it is built."""
    from mkdocs.structure.files import File

    for path, text in pages().items():
        files.append(File.generated(config, path, content=text))
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/reference.py DIR", file=sys.stderr)
        return 2
    for path, text in pages().items():
        target = Path(argv[0]) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
