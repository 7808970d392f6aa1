"""Your app on the sandbox: an inventory of the app in your hosts.yml for the sandbox hosts
(``bluegreen sandbox.up``); the same sandbox sections serve the tests and the demo."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import yaml

from bluegreen import sandbox
from bluegreen.config import inventory


def sandbox_hosts(
    group: str,
    hosts: list[str],
    defaults_extra: str = "",
    host_extra: dict[str, str] | None = None,
) -> str:
    """The inventory sections after ``app:`` for sandbox hosts: the sandbox's defaults (its
    key, its known hosts checked strictly, host network), default group ``group``, hosts."""
    state = sandbox.DEFAULT_STATE
    extra = host_extra or {}
    host_lines = "".join(
        f"  {name}: {{address: {sandbox.host_address(sandbox.host_index(name))}"
        + (f", {extra[name]}" if name in extra else "")
        + "}\n"
        for name in hosts
    )
    return (
        textwrap.dedent("""\
            defaults:
              group: {group}
              key: {state}/id_ed25519
              known_hosts: {state}/known_hosts
              host_keys: strict
              network: host
            {defaults_extra}
            groups:
              {group}: [{hosts}]
            hosts:
            """).format(
            group=group,
            state=state,
            hosts=", ".join(hosts),
            defaults_extra=textwrap.indent(defaults_extra, "  "),
        )
        + host_lines
    )


def app_section(source: Path) -> tuple[str, inventory.App]:
    """The ``app:`` section of your inventory as YAML text that works from another folder
    (repo, env_file and secret files made absolute), for an inventory of the sandbox hosts;
    and the app as loaded.

    Its ports and notify sections stay out (the sandbox uses the standard ports and tells
    no one). A bad ``source`` raises ``InventoryError``.
    """
    yours = inventory.load(source)
    app = yaml.safe_load(Path(source).read_text(encoding="utf-8"))["app"]
    if yours.app.source != "git":
        app["repo"] = yours.app.repo
    if yours.app.env_file is not None:
        app["env_file"] = str(yours.app.env_file)
    for name, given in (app.get("secrets") or {}).items():
        if str(given).startswith("file:"):  # relative to your inventory
            where = Path(source).parent / Path(given[5:]).expanduser()
            app["secrets"][name] = f"file:{os.path.abspath(where)}"
    return yaml.safe_dump({"app": app}, sort_keys=False, allow_unicode=True), yours.app


def host_options(app: inventory.App | None, systemd: bool) -> sandbox.HostOptions:
    """Hosts that boot a real systemd where the app's colors are systemd units (or when
    asked), else the light tini hosts with dockerd."""
    wanted = systemd or (app is not None and app.runtime == "process")
    return sandbox.HostOptions(init="systemd" if wanted else "tini")


PACKAGE_MANAGERS = re.compile(r"(^|[\s;&|(])(npm|npx|yarn|pnpm)(\s|$)")


def missing_runtime(app: inventory.App | None) -> str | None:
    """What the systemd hosts lack for this app: their rootfs has python3 and nodejs, but
    no npm (``build: local`` runs it on this machine) and no Docker."""
    if app is None:
        return None
    if app.runtime == "docker":
        return "the sandbox's systemd hosts have no Docker: this app (runtime: docker) needs it"
    if app.build == "host" and PACKAGE_MANAGERS.search(app.build_command or ""):
        return (
            "the sandbox's systemd hosts have nodejs but no npm, yarn or pnpm: this app's"
            " build_command will fail there (build: local runs it on this machine)"
        )
    return None


def up_for(
    source: Path, count: int, systemd: bool = False, say: Callable[[str], None] = print
) -> list[str]:
    """``sandbox.up``: start ``count`` hosts and write an inventory of the app in ``source``
    on them (``<state>/hosts.yml``); say what was done. A bad ``source`` is refused (an
    InventoryError) before anything starts. Systemd hosts first get the cached rootfs (its
    first build is told stage by stage through ``say``)."""
    section, app = app_section(source) if source.exists() else (None, None)
    options = host_options(app, systemd)
    done = []
    if options.init == "systemd":
        from bluegreen.sandbox import systemd_host

        root = systemd_host.ensure_rootfs(say=say)
        done.append(
            f"✅ systemd hosts: Debian {systemd_host.SUITE} rootfs {root}"
            f" ({systemd_host.megabytes(root)} MB, cached for every later sandbox.up;"
            " sandbox.down --cache removes it)"
        )
    missing = missing_runtime(app) if options.init == "systemd" else None
    done += [f"⚠️  {missing}"] if missing else []
    fleet = sandbox.up(count, options=options)
    if section is None:
        return [*done, f"no {source} here to take the app from: `bluegreen init` writes one"]
    target = sandbox.DEFAULT_STATE / "hosts.yml"
    header = f"# Written by sandbox.up from {source.resolve()}; rewritten at each sandbox.up.\n"
    target.write_text(header + section + sandbox_hosts("sandbox", [h.name for h in fleet]))
    shown = os.path.relpath(target)
    return [
        *done,
        f"✅ wrote {shown}: the app of {source} on the sandbox hosts (group sandbox)",
        f"next: bluegreen --inventory {shown} deploy   (fab: FABRIC_BLUEGREEN_INVENTORY={shown})",
    ]
