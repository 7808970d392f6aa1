"""The checks of values a type and a pattern cannot say: each ``(value, dotted key) -> value``.

They name the exact item at fault (``app.volumes[0]``, ``app.env.A``) and never show a
value that may be a secret (env values, secret sources: only their type).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import signal as signals
from collections.abc import Callable
from typing import Any

from bluegreen.config import certificates
from bluegreen.config.fields import Invalid, kind_of, mapping

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_SOURCE = re.compile(r"(env):([A-Za-z_][A-Za-z0-9_]*)|(file):(.+)")
_DIR_PART = re.compile(r"[A-Za-z0-9_.-]+")
_VOLUME_SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*|(/[A-Za-z0-9_.@+-]+)+/?")
_CONTAINER_PATH = re.compile(r"(/[A-Za-z0-9_.@+-]+)+/?")
_TEXT = re.compile(r"[^\x00-\x1f\x7f]*")  # one line, no control characters


def json_text(value: Any) -> str:
    """A JSON scalar as the text it is compared by (true, 3, 0.5, up)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def env(value: Any, key: str) -> dict[str, str]:
    """NAME: value pairs: settings (shown in output), though messages show only their type."""
    if not isinstance(value, dict):
        raise Invalid(key, f"expected a mapping of NAME: value, got {kind_of(value)}")
    pairs = {}
    for name, item in value.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            raise Invalid(key, f"{name!r} is not a valid variable name")
        if not isinstance(item, (str, int, float)):  # a bool is an int
            raise Invalid(
                f"{key}.{name}", f"expected a string, number or boolean, got {kind_of(item)}"
            )
        line = json_text(item)  # as written in YAML: true, not Python's True
        if "\n" in line or "\r" in line:
            raise Invalid(f"{key}.{name}", "contains a line break (env files hold one line each)")
        pairs[name] = line
    return pairs


def secret_sources(value: Any, key: str) -> dict[str, str]:
    """NAME: "env:VAR" or "file:PATH" (``rules`` reads the values); never the value itself."""
    if not isinstance(value, dict):
        what = "a mapping of NAME: env:VAR or file:PATH"
        raise Invalid(key, f"expected {what}, got {kind_of(value)}")
    for name, source in value.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            raise Invalid(key, f"{name!r} is not a valid variable name")
        secret_source(source, f"{key}.{name}")
    return value


def secret_source(source: Any, key: str) -> str:
    if not isinstance(source, str) or not SECRET_SOURCE.fullmatch(source):
        raise Invalid(key, "expected env:VAR or file:PATH (never the value itself)")
    return source


def status_codes(value: Any, key: str) -> tuple[int, ...]:
    codes = value if isinstance(value, list) else [value]
    if not codes or not all(type(c) is int and 100 <= c <= 599 for c in codes):
        raise Invalid(key, f"expected HTTP status codes (200 or [200, 204]), got {value!r}")
    return tuple(codes)


def json_fields(value: Any, key: str) -> dict[str, str]:
    """Dotted field names (``checks.db``) and the scalar each must equal, as text."""
    fields = {}
    for name, item in mapping(value, key).items():
        if not isinstance(name, str) or not re.fullmatch(
            r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", name
        ):
            raise Invalid(key, f"{name!r} is not a field name (dotted for nested: checks.db)")
        if type(item) not in (str, int, float, bool):
            raise Invalid(
                f"{key}.{name}", f"expected a string, number or boolean, got {kind_of(item)}"
            )
        fields[name] = json_text(item)
    return fields


def size(value: Any, key: str) -> str:
    """An nginx size (``512m``, ``2g``), a number of bytes, or 0 (unlimited)."""
    ok = (type(value) is int and value >= 0) or (
        isinstance(value, str) and re.fullmatch(r"(0|[1-9][0-9]{0,9}[kmg]?)", value)
    )
    if not ok:
        raise Invalid(key, f"expected a size like 512m, 2g or 0 (unlimited), got {value!r}")
    return str(value)


def relative(value: Any, key: str) -> str:
    """A relative path that stays inside the repository."""
    parts = posixpath.normpath(value).split("/") if isinstance(value, str) and value else [""]
    if parts[0] in ("", ".."):
        raise Invalid(key, f"expected a relative path inside the repository, got {value!r}")
    return value


def one_line(value: Any, key: str) -> str:
    """A shell command line: one line (a unit file's ExecStart cannot hold more)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(key, f"expected a command line, got {value!r}")
    if "\n" in value or "\r" in value:
        raise Invalid(key, "must be one line (join commands with && or ;)")
    return value


def release_command(value: Any, key: str) -> str | tuple[str, ...]:
    """A shell command line, or a list of arguments run as they are (no shell)."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise Invalid(key, f"expected a command (string) or a list of arguments, got {value!r}")


def volumes(value: Any, key: str) -> tuple[str, ...]:
    """Named volumes (``data:/var/lib/app``) and absolute host paths (``/srv/up:/up:ro``)."""
    if not isinstance(value, list):
        raise Invalid(key, f"expected a list of SOURCE:/path[:ro], got {kind_of(value)}")
    shape = "SOURCE:/container/path[:ro|:rw] (SOURCE a volume name or an absolute host path)"
    for i, spec in enumerate(value):
        parts = spec.split(":") if isinstance(spec, str) else []
        ok = len(parts) in (2, 3) and parts[2:] in ([], ["ro"], ["rw"])
        ok = ok and all(_VOLUME_SOURCE.fullmatch(parts[0]) and _CONTAINER_PATH.fullmatch(p)
                        for p in parts[1:2])  # fmt: skip
        if not ok or "/../" in f"{spec}/" or "/./" in f"{spec}/":
            raise Invalid(f"{key}[{i}]", f"expected {shape}, got {spec!r}")
    return tuple(value)


def _pairs(name: re.Pattern[str], value: re.Pattern[str], what: str) -> Callable[..., Any]:
    """A mapping of checked names to checked one-line strings (numbers as written)."""

    def check(data: Any, key: str) -> dict[str, str]:
        pairs = {}
        for item, setting in mapping(data, key).items():
            text = str(setting) if type(setting) in (str, int, float) else None
            if not isinstance(item, str) or not name.fullmatch(item):
                raise Invalid(key, f"{item!r} is not a valid name")
            if text is None or not value.fullmatch(text):
                raise Invalid(f"{key}.{item}", f"expected {what}, got {setting!r}")
            pairs[item] = text
        return pairs

    return check


option_pairs = {
    "ulimits": _pairs(re.compile(r"[a-z]+"), re.compile(r"-?[0-9]+(:-?[0-9]+)?"), "N or SOFT:HARD"),
    "extra_hosts": _pairs(
        re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*"), re.compile(r"[0-9a-fA-F.:]+"), "an IP address"
    ),
    "labels": _pairs(re.compile(r"(?!bluegreen\.)[A-Za-z0-9][A-Za-z0-9._/-]*"), _TEXT, "one line"),
    "log": _pairs(re.compile(r"[a-z][a-z0-9_-]*"), _TEXT, "one line"),
}


def host_dir(value: Any, key: str) -> str:
    """An absolute directory of safe characters on the hosts (not / itself)."""
    parts = value.rstrip("/").split("/") if isinstance(value, str) else []
    ok = len(parts) > 1 and parts[0] == "" and value.startswith("/")
    if not ok or not all(p not in (".", "..") and _DIR_PART.fullmatch(p) for p in parts[1:]):
        raise Invalid(key, f"expected an absolute directory path on the hosts, got {value!r}")
    return value


def asset_dir(value: Any, key: str) -> str:
    """An absolute directory of safe characters, as written (no trailing /)."""
    parts = value.split("/") if isinstance(value, str) else []
    ok = len(parts) > 1 and parts[0] == ""
    if not ok or not all(p not in (".", "..") and _DIR_PART.fullmatch(p) for p in parts[1:]):
        raise Invalid(key, f"expected an absolute path, e.g. /app/static, got {value!r}")
    return value


def app_dir(value: Any, key: str) -> str:
    """A host directory where ``{app}`` stands for the app's name (``rules`` puts it in)."""
    try:
        host_dir(value.replace("{app}", "app") if isinstance(value, str) else value, key)
    except Invalid:
        what = "an absolute path of [A-Za-z0-9_./-] characters ('{app}' = app name)"
        raise Invalid(key, f"expected {what}, got {value!r}") from None
    return value


def address(value: Any, key: str) -> str:
    """An IP address (v4 or v6)."""
    try:
        ipaddress.ip_address(value if isinstance(value, str) else "-")  # 17 would be 0.0.0.17
    except ValueError:
        raise Invalid(
            key, f"expected an IP address (e.g. 127.0.0.1 or 10.0.0.5), got {value!r}"
        ) from None
    return value


def domains(value: Any, key: str) -> tuple[str, ...]:
    """The names the app is served by, each a domain name, none twice."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise Invalid(key, f"expected a non-empty list of domain names, got {kind_of(value)}")
    for i, name in enumerate(value):
        try:
            certificates.check_domain(name, wildcard=False)
        except certificates.TlsInvalid as e:
            raise Invalid(f"{key}[{i}]", str(e)) from None
    if len(set(value)) != len(value):
        raise Invalid(key, "a domain is listed twice")
    return tuple(value)


_SIGNALS = {s.name for s in signals.Signals if s.name.startswith("SIG") and "_" not in s.name}


def signal(value: Any, key: str) -> str:
    """A signal's name, with or without SIG (TERM, SIGQUIT); kept as SIGNAME."""
    name = f"SIG{value.upper().removeprefix('SIG')}" if isinstance(value, str) else ""
    if name not in _SIGNALS - {"SIGKILL", "SIGSTOP"}:
        raise Invalid(key, f"{value!r} is not a signal name a program can handle (TERM, QUIT…)")
    return name


def every(value: Any, key: str) -> int:
    """Seconds that divide a minute: the slots are their multiples since the epoch."""
    if type(value) is not int or value <= 0 or 60 % value:
        what = "seconds that divide 60 (1, 5, 10, 15, 30…); cron for minutes and more"
        raise Invalid(key, f"expected {what}, got {value!r}")
    return value


# cron: minute hour day-of-month month day-of-week; each a list of *, N, A-B, with /STEP
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31),
                ("month", 1, 12), ("day of week", 0, 7))  # fmt: skip
_CRON_PART = re.compile(r"(\*|(\d+)(?:-(\d+))?)(?:/([1-9]\d*))?")


def cron(value: Any, key: str) -> str:
    """Five cron fields of numbers (UTC); not both days restricted (cron ORs them)."""
    fields = value.split() if isinstance(value, str) else []
    if len(fields) != 5:
        raise Invalid(key, f"expected five fields (minute hour day month weekday), got {value!r}")
    for text, (what, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            found = _CRON_PART.fullmatch(part)
            numbers = [int(n) for n in found.groups()[1:3] if n] if found else [-1]
            if not all(low <= n <= high for n in numbers) or numbers != sorted(numbers):
                raise Invalid(key, f"{part!r} is not a {what} ({low}-{high}, *, A-B, /STEP)")
    if "*" not in (fields[2], fields[4]):
        raise Invalid(key, "restrict the day of month or the day of week, not both")
    return " ".join(fields)


def networks(value: Any, key: str) -> tuple[str, ...]:
    """Addresses or CIDRs (nginx's set_real_ip_from), normalised: 10.0.0.1/8 -> 10.0.0.0/8."""
    items = value if isinstance(value, list) else [value]
    found = []
    for i, item in enumerate(items):
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except (TypeError, ValueError):
            what = "an address or CIDR like 10.0.0.0/8"
            raise Invalid(f"{key}[{i}]", f"expected {what}, got {item!r}") from None
    return tuple(found)
