"""``fab bootstrap``: take a fresh Ubuntu/Debian or Amazon Linux 2023 server to ready-to-deploy.

Every step checks before it acts and reports ``ok`` (already so) or ``changed``, so a
second run changes nothing. Hosts run in parallel, each through the steps in order; a
failed step stops that host. Each step is one SSH round trip (daemon.json: two), and
steps whose state the first probe already knows cost none.

Bootstrap does not install the nginx site on the public port nor the live-color state:
the first ``fab deploy`` installs them atomically, so a bootstrapped host never proxies
to a color that does not exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from bluegreen import facts, render, transport
from bluegreen.config import profiles
from bluegreen.config.inventory import Host, Inventory
from bluegreen.facts import neighbours
from bluegreen.output.log import Log
from bluegreen.shell import acme, docker_config, metrics, packages, system
from bluegreen.transport.ssh import Remote

PACKAGES_TIMEOUT = 1800.0
DAEMON_JSON_PLAN = (
    f"read {system.DAEMON_JSON}; add log-driver {docker_config.LOG_DRIVER}, log-opts "
    f"{docker_config.LOG_OPTS} where missing, keeping every other key; write back only if "
    "changed (and only if nobody changed it meanwhile); restart docker if it runs with no "
    "containers under systemd"
)


@dataclass
class Outcome:
    """What one step's script reported."""

    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def outcome(output: str) -> Outcome:
    """Sort a script's output lines into changes, warnings and notes."""
    result = Outcome()
    for line in (line.strip() for line in output.splitlines()):
        if line.startswith("changed: "):
            result.changes.append(line.removeprefix("changed: "))
        elif line.startswith("warning: "):
            result.warnings.append(line.removeprefix("warning: "))
        elif line:
            result.notes.append(line)
    return result


@dataclass
class Target:
    """One host being bootstrapped: its session and what the probe found."""

    host: Host
    remote: Remote
    profile: profiles.Profile
    systemd: bool
    cloud_init: bool
    selinux: str  # getenforce's answer; "" without SELinux
    deployed: bool  # an app already serves here (then the public port must answer)
    changed: int = 0
    ok: int = 0


@dataclass(frozen=True)
class Step:
    name: str
    plan: Callable[[Target], list[str]]  # the commands it would run (dry run); [] = skipped
    run: Callable[[Target], Outcome]
    skipped: str = ""  # the note when plan is empty
    web_only: bool = False  # nginx's part: skipped on worker-only hosts (web: false)

    def commands(self, t: Target) -> list[str]:
        """What it runs on ``t`` ([]: skipped)."""
        return [] if self.web_only and not t.host.web else self.plan(t)

    def why_skipped(self, t: Target) -> str:
        return NO_WEB if self.web_only and not t.host.web else self.skipped


def _script(
    name: str,
    command: Callable[[Target], str],
    timeout: float = 120,
    when: Callable[[Target], bool] = lambda t: True,
    skipped: str = "",
) -> Step:
    """A step that is one script, run when ``when`` says it is needed."""
    return Step(
        name=name,
        plan=lambda t: [command(t)] if when(t) else [],
        run=lambda t: outcome(t.remote.run(command(t), timeout=timeout, what=name)),
        skipped=skipped,
    )


def _docker_config(t: Target) -> Outcome:
    """Merge log rotation into daemon.json in Python: read, merge, write only if changed."""
    header, _, text = t.remote.run(system.read_daemon_json(), what="read daemon.json").partition(
        "---\n"
    )
    state = facts.pairs(header)
    merged = docker_config.merge_log_rotation(text)
    if merged is None:
        return Outcome(notes=["log rotation already configured"])
    running, containers = state.get("running") == "yes", int(state.get("containers") or 0)
    restart = running and containers == 0 and t.systemd
    result = outcome(
        t.remote.run(
            system.write_daemon_json(state.get("md5", ""), restart),
            stdin=merged,
            what="write daemon.json",
        )
    )
    result.changes.insert(0, f"log rotation merged into {system.DAEMON_JSON}")
    if running and not restart:
        why = f"{containers} containers running" if containers else "no systemd"
        result.warnings.append(
            f"docker not restarted ({why}): log rotation applies after dockerd's next restart"
        )
    return result


def _docker_group(t: Target) -> Outcome:
    """Add the login user to the docker group, then reconnect so this session has it."""
    result = outcome(t.remote.run(system.docker_group(t.host.user), what="docker group"))
    if result.changes:
        t.remote.close()
        t.remote.open()
        result.notes.append("reconnected")
    return result


def _public_port(t: Target, port: int, listening: bool) -> str:
    """The public port answers (after a deploy it must); before the first deploy it may not."""
    if not listening and not t.deployed:
        return f"port {port} not served yet (the first deploy installs the site)"
    try:
        reply = t.remote.http_get(port, "/", timeout=5)
    except (OSError, ConnectionError) as error:
        raise RuntimeError(f"public port {port} does not answer: {error}") from error
    return f"port {port} answers (HTTP {reply.status})"


def _no_docker(inventory: Inventory, profile: profiles.Profile) -> profiles.Profile:
    """``runtime: process``: the profile's packages without docker (and git unless the hosts
    fetch the source themselves)."""
    source_git = inventory.app.source == "git"
    wanted = [p for p in profile.packages if p not in ("docker", "docker.io")]
    return replace(profile, packages=tuple(p for p in wanted if p != "git" or source_git))


NO_WEB = "web: false (no nginx here)"
SKIPPED_NO_WEB = (
    "web: false: worker-only host, skipping nginx (its package, main context and service),"
    " the SELinux proxy setting, the firewall, certificate renewal and the public port check"
)


def _no_web(profile: profiles.Profile) -> profiles.Profile:
    """A worker-only host (``web: false``): the profile's packages without nginx."""
    return replace(profile, packages=tuple(p for p in profile.packages if p != "nginx"),
                   njs_package=None)  # fmt: skip


def _web(step: Step) -> Step:
    """``step`` on hosts that serve the web only (skipped, and said so, on the others)."""
    return replace(step, web_only=True)


def _systemd(t: Target) -> Outcome:
    if not t.systemd:
        raise RuntimeError("runtime: process runs each color as a systemd unit: no systemd here")
    return Outcome(notes=["systemd runs the colors"])


def process_steps(inventory: Inventory, docker_steps: list[Step]) -> list[Step]:
    """``runtime: process``: no docker steps; systemd required; nginx the only service."""
    skip = ("docker log rotation", "docker group", "services")
    kept = [step for step in docker_steps if step.name not in skip]
    at = [step.name for step in kept].index("nginx main context") + 1
    services = _web(_script("services", lambda t: system.services(True, ("nginx",))))
    return [
        Step("systemd", lambda t: ["systemctl is-system-running"], _systemd),
        *kept[:at],
        services,
        *kept[at:],
    ]


def steps(inventory: Inventory, docker_group: bool = False) -> list[Step]:
    """The bootstrap steps, in order; ``docker_group``: add the login user to the docker
    group (root without sudo's log: only when asked)."""
    port = inventory.public_port
    acme_mode = inventory.app.tls.mode == "acme"
    extra = ("certbot",) if acme_mode else ()  # same name on apt/dnf
    exporters = inventory.metrics
    process = inventory.app.runtime == "process"

    def checks(t: Target) -> Outcome:
        command = system.checks(t.profile, port, not process, t.host.web)
        result = outcome(t.remote.run(command, what="checks"))
        listening = system.LISTENING in result.notes
        result.notes = [n for n in result.notes if n != system.LISTENING]
        if t.host.web:
            result.notes.append(_public_port(t, port, listening))
        return result

    def wanted(t: Target) -> profiles.Profile:
        """The profile's packages this host needs: no docker for process apps, no nginx on
        a worker-only host."""
        profile = _no_docker(inventory, t.profile) if process else t.profile
        return profile if t.host.web else _no_web(profile)

    found = [
        _script(
            "cloud-init",
            lambda t: system.wait_cloud_init(),
            system.CLOUD_INIT_TIMEOUT,
            when=lambda t: t.cloud_init,
            skipped="no cloud-init",
        ),
        _script(
            "packages",
            lambda t: packages.install(
                wanted(t),
                (extra if t.host.web else ())
                + (t.profile.metrics_packages if exporters else ())
                + packages.language(t.profile, inventory.app.language),
            ),
            PACKAGES_TIMEOUT,
        ),
        Step("docker log rotation", lambda t: [DAEMON_JSON_PLAN], _docker_config),
        _web(_script("nginx main context", lambda t: system.nginx_main(t.profile))),
        _script(
            "services",
            lambda t: system.services(
                t.systemd, ("docker", "nginx") if t.host.web else ("docker",)
            ),
        ),
        Step(
            "docker group",
            lambda t: [system.docker_group(t.host.user)] if t.host.user != "root" else [],
            _docker_group,
            skipped="login user is root",
        )
        if docker_group
        else Step(
            "docker group",
            lambda t: [],
            _docker_group,
            skipped="not asked for (--docker-group); commands run with sudo -n",
        ),
        _web(
            _script(
                "SELinux",
                lambda t: system.selinux_proxy(),
                when=lambda t: t.selinux == "Enforcing",
                skipped="SELinux not enforcing",
            )
        ),
        _script("app directory", lambda t: system.app_dir(t.host.app_dir, t.host.user)),
        _web(_script("firewall", lambda t: system.open_ports(neighbours.listens(inventory)))),
        _web(
            _script(
                "certificate renewal",
                lambda t: (
                    acme.renewal_timer(t.profile.certbot_timer)
                    if t.systemd
                    else acme.renewal_cron()
                ),
                when=lambda t: acme_mode,
                skipped="no ACME certificate",
            )
        ),
        *([_script("metrics", lambda t: _exporters(inventory, t.systemd))] if exporters else []),
        Step(
            "checks",
            lambda t: [
                system.checks(t.profile, port, not process, t.host.web),
                *([f"GET http://127.0.0.1:{port}/ (over SSH)"] if t.host.web else []),
            ],
            checks,
        ),
    ]
    return process_steps(inventory, found) if process else found


def _exporters(inventory: Inventory, systemd: bool) -> str:
    """node_exporter's textfile directory and mtail with the app's traffic program."""
    settings = inventory.metrics
    assert settings is not None  # the step runs only with metrics:
    program = render.traffic_program(render.environment(inventory), inventory)
    return metrics.exporters(
        settings.textfile_dir,
        settings.listen,
        (settings.node_exporter_port, settings.mtail_port),
        {metrics.program_path(inventory.app.name): program},
        systemd,
    )


def _connect(inventory: Inventory, host: Host, log: Log) -> Target:
    """Open the session and probe the host in one round trip; choose its profile."""
    remote = transport.connect(host)
    remote.open()
    how = "root login" if host.user == "root" else f"user {host.user} with sudo -n"
    script = f"{facts.probe(inventory.app.name, host.app_dir)}\n{system.probe()}"
    output = remote.run(script, what=f"probe ({how})")
    found = facts.parse(output)
    extra = facts.pairs(output)
    profile, chosen = profiles.resolve(host.profile, found.os_release)
    target = Target(
        host=host,
        remote=remote,
        profile=profile,
        systemd=extra.get("systemd") == "yes",
        cloud_init=extra.get("cloud_init") == "yes",
        selinux=extra.get("selinux", ""),
        deployed=found.live_color is not None,
    )
    init = "systemd" if target.systemd else "no systemd: services started directly"
    log.ok(
        host.name, f"connect: {how}; profile {profile.name} ({chosen}, {profile.manager}); {init}"
    )
    if not host.web:
        log.ok(host.name, SKIPPED_NO_WEB)
    return target


def _report(log: Log, t: Target, name: str, result: Outcome) -> None:
    detail = "; ".join(result.changes or result.notes)
    status = "changed" if result.changes else "ok"
    log.ok(t.host.name, f"{name}: {status}" + (f" — {detail}" if detail else ""))
    for warning in result.warnings:
        log.warn(t.host.name, f"{name}: {warning}")
    if result.changes:
        t.changed += 1
    else:
        t.ok += 1


def _show_plan(log: Log, t: Target, step: Step) -> None:
    commands = step.commands(t)
    if not commands:
        log.step(t.host.name, f"{step.name}: skip ({step.why_skipped(t)})")
        return
    log.step(t.host.name, f"{step.name}:")
    for command in commands:
        for line in command.splitlines():
            log.line(f"{'':<{log.width}}      {line}")


def _bootstrap_host(
    inventory: Inventory, host: Host, dry_run: bool, log: Log, docker_group: bool
) -> bool:
    started = time.monotonic()
    step_name = "connect"
    target = None
    try:
        target = _connect(inventory, host, log)
        for step in steps(inventory, docker_group):
            step_name = step.name
            if dry_run:
                _show_plan(log, target, step)
            elif step.commands(target):
                _report(log, target, step.name, step.run(target))
            else:
                _report(log, target, step.name, Outcome(notes=[step.why_skipped(target)]))
    except Exception as error:  # every failure ends this host's run with one clear line
        message = str(error).removeprefix(f"{host.name}: ").removeprefix(f"{step_name} ")
        log.fail(host.name, f"{step_name}: {message}")
        return False
    finally:
        if target is not None:
            target.remote.close()
    if not dry_run:
        seconds = time.monotonic() - started
        log.ok(
            host.name,
            f"bootstrap: {target.changed} changed, {target.ok} ok in {seconds:.1f} s "
            f"({target.remote.round_trips} round trips)",
        )
    return True


def bootstrap(
    inventory: Inventory, hosts: list[Host], dry_run: bool, log: Log, docker_group: bool = False
) -> bool:
    """Bootstrap every host in parallel (dry run: print each host's plan); True if all made it."""

    def one(host: Host) -> bool:
        return _bootstrap_host(inventory, host, dry_run, log, docker_group)

    with ThreadPoolExecutor(max_workers=min(10, len(hosts))) as pool:
        results = list(pool.map(one, hosts))
    failed = [host.name for host, ok in zip(hosts, results, strict=True) if not ok]
    if dry_run:
        log.line("dry run: nothing was changed")
    elif failed:
        log.line(f"❌ bootstrap failed on {', '.join(failed)}")
    else:
        log.line("✅ bootstrapped: ready for fab deploy")
    return not failed
