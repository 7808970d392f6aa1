"""The JSON Schema of hosts.yml, generated from the model; editors complete and check keys.

msgspec writes each section's schema from the same annotations that check it; the few
places where hosts.yml spells a section otherwise than the model holds it are said here:
a host is ``defaults`` plus its entry (or just an address), ``tls`` is ``off`` or one of
``files:``/``acme:``, a webhook may be its URL, a section may be left empty (null).

The committed copy (``hosts.schema.json``, shipped in the wheel) is rewritten with
``python -m bluegreen.config.schema``; a unit test fails when it differs from the model.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from pathlib import Path
from typing import Any

import msgspec

from bluegreen.config import fields, model

PATH = Path(__file__).with_name("hosts.schema.json")
_REF = "#/$defs/{name}"


def generate() -> dict[str, Any]:
    """The schema of a hosts.yml file, as a JSON-ready dict."""
    sections = (
        model.App,
        model.Ports,
        model.Host,
        model.Webhook,
        model.Hooks,
        model.Metrics,
        model.RegistryFile,
        model.TlsFile,
    )
    (*_, name, process, job), defs = msgspec.json.schema_components(
        (*sections, model.Name, model.ProcessName, model.JobName),
        schema_hook=_path,
        ref_template=_REF,
    )
    for title, section in defs.items():
        if hasattr(model, title):  # not certificates.Pair (read at load)
            _describe(section, getattr(model, title))
            _file_keys(section, getattr(model, title))
    app = defs["App"]["properties"]
    app["tls"] = {
        "anyOf": [_ref("TlsFile"), {"enum": ["off", False, None]}],
        "description": "off, files: {certificate, key} or acme: {email}; needs app.domains",
    }
    drain = app["drain"]  # or just its seconds
    app["drain"] = {
        "anyOf": [{"type": "number", "minimum": 0}, {"$ref": drain.pop("$ref")}],
        **drain,
    }
    for key, names, entry in (
        ("processes", process, "AppProcess"),
        ("schedule", job, "ScheduledJob"),
    ):
        app[key] = _empty_or(
            {"type": "object", "propertyNames": names, "additionalProperties": _ref(entry)}
        )
    defs.update(_host_sections(defs.pop("Host"), name))
    for section in defs.values():
        section["additionalProperties"] = False
        section.setdefault("required", [])
        for key, value in section["properties"].items():
            if "$ref" in value:  # an empty section (``health:``) takes the defaults
                section["properties"][key] = {"anyOf": [value, {"type": "null"}]}
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "bluegreen hosts.yml",
        "type": "object",
        "additionalProperties": False,
        "required": ["app", "hosts"],
        "properties": _top(name),
        "$defs": dict(sorted(defs.items())),
    }
    _prune(schema)
    return json.loads(_ecma(json.dumps(schema)))


def _file_keys(section: dict[str, Any], cls: type) -> None:
    """Only the keys hosts.yml spells: not the fields load fills in (a host's name)."""
    for key in [k for k in section["properties"] if k not in fields.keys(cls)]:
        section["properties"].pop(key)
        if key in section.get("required", []):
            section["required"].remove(key)


def _describe(section: dict[str, Any], cls: type) -> None:
    """Each key's description: its comment in model.py, beside it or on the lines above."""
    above: list[str] = []
    for line in inspect.getsource(cls).splitlines():
        text = line.strip()
        if text.startswith("#"):
            above.append(text.lstrip("# "))
            continue
        field = re.match(r"    (\w+): ", line)
        beside = line.partition("  # ")[2]
        words = " ".join([*above, "" if beside.startswith(("noqa", "fmt:")) else beside]).strip()
        if field and words and field.group(1) in section.get("properties", {}):
            section["properties"][field.group(1)].setdefault("description", words)
        above = []


def _host_sections(host: dict[str, Any], name: dict[str, Any]) -> dict[str, Any]:
    """A host's entry (the model's Host but its name) and ``defaults`` (what every host
    has unless it says otherwise, and the default group)."""
    entry = copy.deepcopy(host)
    entry["properties"]["known_hosts"]["default"] = "~/.ssh/known_hosts"  # not this machine's
    entry["properties"]["app_dir"]["default"] = "/srv/{app}"
    entry["required"] = ["address"]
    defaults = copy.deepcopy(entry)
    for key in ("address", "env", "web"):  # each host's own (rules._HOST_DEFAULTS)
        defaults["properties"].pop(key)
    defaults["properties"]["group"] = {**name, "description": "the group -H defaults to"}
    defaults.update(title="Defaults", description="What every host has unless it says otherwise")
    defaults["required"] = []
    return {"HostEntry": entry, "Defaults": defaults}


def _top(name: dict[str, Any]) -> dict[str, Any]:
    """The file's top-level keys."""
    names = {
        "type": "object",
        "additionalProperties": {"type": "array", "minItems": 1, "items": name},
    }
    webhooks = {"type": "array", "items": {"anyOf": [{"type": "string"}, _ref("Webhook")]}}
    registry = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"registry": _empty_or(_ref("RegistryFile"))},
    }
    return {
        "app": _ref("App"),
        "ports": _empty_or(_ref("Ports")),
        "defaults": _empty_or(_ref("Defaults")),
        "groups": _empty_or(names),
        "hosts": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"anyOf": [{"type": "string"}, _ref("HostEntry")]},
            "description": "name: address, or name: {address, ...} over defaults",
        },
        "notify": _empty_or(webhooks),
        "secrets": _empty_or(registry),
        "hooks": _empty_or(_ref("Hooks")),
        "metrics": _empty_or(_ref("Metrics")),
    }


def text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"


def _prune(schema: dict[str, Any]) -> None:
    """Drop the sections nothing refers to any more (the model's Tls, read at load)."""
    used: set[str] = set()
    found = set(re.findall(r"#/\$defs/(\w+)", json.dumps(schema["properties"])))
    while found - used:
        used |= found
        found = set(re.findall(r"#/\$defs/(\w+)", json.dumps([schema["$defs"][n] for n in used])))
    schema["$defs"] = {name: part for name, part in schema["$defs"].items() if name in used}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _empty_or(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _path(kind: type) -> dict[str, Any] | None:
    """Local paths are strings (relative to hosts.yml, ``~`` expanded)."""
    return {"type": "string", "minLength": 1} if kind is Path else None


def _ecma(dumped: str) -> str:
    """Patterns as an editor's JavaScript reads them: no Python named groups."""
    return re.sub(r"\(\?P<\w+>", "(?:", dumped)


if __name__ == "__main__":
    PATH.write_text(text(), encoding="utf-8")
    print(f"wrote {PATH}")
