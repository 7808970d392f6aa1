"""Commands for ``app.processes``: named background processes (job workers) that run the
live release outside nginx, one instance per process and host.

A process moves to a release in two steps, so that two releases never consume at once:
``stop`` (its own stop signal, then ``stop_timeout`` seconds for the job in hand; a process
already running the release is left alone and says ``current``), then ``start`` (the old
instance set aside, the new one started, then checked to stay up for ``UP_CHECK`` seconds).
``restore`` puts the set-aside instance back. Docker runs a container ``<app>-<process>``
of the release's image; ``runtime: process`` a unit ``bluegreen-<app>-<process>.service``
in the release directory. Both read one env file per host, sent on stdin.
"""

from __future__ import annotations

from shlex import quote

from bluegreen.config.inventory import App, AppProcess, Host
from bluegreen.shell import container, docker, process, schedule
from bluegreen.shell import release as releases

UP_CHECK = 2  # seconds a new process must keep running (no restart) to count as started


def env_file(app_dir: str) -> str:
    """The processes' env file (``_`` starts no process name, so no process owns it)."""
    return f"{app_dir}/_processes.env"


def said(name: str, what: str) -> str:
    """The line a stop prints: ``process_<name>=current|stopped|none``."""
    return f"echo process_{name}={what}"


def _write_env(app_dir: str) -> str:
    envf = quote(env_file(app_dir))
    return f"umask 077 && mkdir -p {quote(app_dir)} && {docker.stdin_to(envf)}"


# --- docker: a container per process --------------------------------------------------------


def docker_name(app: str, name: str) -> str:
    return f"{app}-{name}"


def docker_stop(app: str, spec: AppProcess, release: str) -> str:
    """Stop the process's container unless it runs ``release`` already (docker sends the
    container's stop signal, then kills it after ``stop_timeout``)."""
    name = quote(docker_name(app, spec.name))
    fields = quote('{{.State.Running}} {{index .Config.Labels "bluegreen.release"}}')
    stop = f"docker stop -t {spec.stop_timeout} {name} >/dev/null && {said(spec.name, 'stopped')}"
    if spec.overlap:  # it runs on until the new one is up (``docker_retire``)
        stop = said(spec.name, "overlap")
    return (
        f'if [ "$(docker container inspect -f {fields} {name} 2>/dev/null)"'
        f" = {quote(f'true {release}')} ]; then {said(spec.name, 'current')};"
        f" elif docker container inspect {name} >/dev/null 2>&1; then {stop};"
        f" else {said(spec.name, 'none')}; fi"
    )


def docker_run(app: App, spec: AppProcess, release: str, host: Host) -> str:
    """Set the old container aside (stopped, renamed) and start ``release``'s."""
    name = docker_name(app.name, spec.name)
    network = " --network host" if host.network == "host" else ""
    handover = schedule.handover(name) if spec.name.startswith(schedule.PREFIX) else ""
    run = (
        f"docker run -d --pull never --name {quote(name)} --restart unless-stopped{handover}"
        f" --label {docker.LABEL}.app={quote(app.name)} --label {docker.LABEL}.process={spec.name}"
        f" --label {docker.LABEL}.release={quote(release)}"
        f" --env-file {quote(env_file(host.app_dir))}{network}"
        f" {container.settings(app, spec.stop_timeout)} --stop-signal {spec.stop_signal}"
        f" --entrypoint /bin/sh {quote(docker.image(app.name, release))}"
        f" -c {quote(spec.command)} >/dev/null"
    )
    if spec.overlap:  # set aside running: it stops once the new one is up
        quoted, kept = quote(name), quote(f"{name}-prev")
        aside = (
            f"{{ docker rm -f {kept} >/dev/null 2>&1 || true; }}"
            f" && {{ ! docker container inspect {quoted} >/dev/null 2>&1"
            f" || docker rename {quoted} {kept}; }}"
        )
        return f"{aside} && {run}"
    return f"{docker.set_aside(app.name, spec.name)} && {run}"


def docker_retire(app: str, spec: AppProcess) -> str:
    """``overlap``: the old container stops (its signal, its timeout) once the new one is up."""
    kept = quote(f"{docker_name(app, spec.name)}-prev")
    return f"{{ docker stop -t {spec.stop_timeout} {kept} >/dev/null 2>&1 || true; }}"


def docker_up(app: str, spec: AppProcess) -> str:
    """Fails (with the container's last lines) unless it runs and was never restarted (and
    its health command, run in it, exits 0)."""
    name = quote(docker_name(app, spec.name))
    fields = quote("{{.State.Running}} {{.RestartCount}}")
    return (
        f'[ "$(docker container inspect -f {fields} {name})" = "true 0" ]'
        f" || {{ echo {quote(f'{spec.name} did not stay up for {UP_CHECK} s:')};"
        f" docker logs --tail 10 {name} 2>&1; exit 1; }}"
        + _healthy(spec, f"docker exec {name} /bin/sh -c {quote(spec.health or '')} 2>&1")
    )


def _healthy(spec: AppProcess, run: str) -> str:
    """`` && <its health command>`` (its output shown when it fails), or nothing."""
    if spec.health is None:
        return ""
    failed = quote(f"{spec.name} health failed:")
    return f' && {{ out=$({run}) || {{ echo {failed}; echo "$out"; exit 1; }}; }}'


def docker_restore(app: str, spec: AppProcess, running: bool) -> str:
    return docker.restore(app, spec.name, running)


def docker_probe(app: str, spec: AppProcess) -> str:
    """``process_<name>=<state> <release> <since>`` (nothing when it has no container)."""
    fields = quote(
        '{{.State.Status}} {{index .Config.Labels "bluegreen.release"}} {{.State.StartedAt}}'
    )
    name = quote(docker_name(app, spec.name))
    return (
        f"s=$(docker container inspect -f {fields} {name} 2>/dev/null)"
        f' && echo "process_{spec.name}=$s"; true'
    )


# --- runtime: process: a systemd unit per process ---------------------------------------------


def unit(app: str, name: str) -> str:
    return f"bluegreen-{app}-{name}.service"


def unit_file(app: App, spec: AppProcess, app_dir: str) -> str:
    """The process's unit: its release directory, the processes' env file, the colors'
    restart policy and limits. ``KillMode=mixed``: the stop signal goes to the main process
    alone (as docker sends it to PID 1), so a job's children are not cut off mid-job."""
    return "\n".join(
        [
            f"# bluegreen app={app.name} process={spec.name}",
            "[Unit]",
            f"Description=bluegreen {app.name} {spec.name}",
            "After=network.target",
            "",
            "[Service]",
            "Type=simple",
            f"WorkingDirectory={process.link(app_dir, spec.name)}",
            f"EnvironmentFile={env_file(app_dir)}",
            f"ExecStart=/bin/sh -c {process.systemd_quote(spec.command)}",
            "Restart=on-failure",
            "RestartSec=1",
            "KillMode=mixed",
            f"KillSignal={spec.stop_signal}",
            f"TimeoutStopSec={spec.stop_timeout}",
            *process.limits(app),
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def systemd_stop(app: str, spec: AppProcess, release: str, app_dir: str) -> str:
    """Stop the process's unit unless it runs ``release`` already (systemd sends its
    ``KillSignal``, then kills it after ``TimeoutStopSec``)."""
    name, current = quote(unit(app, spec.name)), quote(process.link(app_dir, spec.name))
    target = quote(releases.directory(app_dir, release))
    return (
        f'if systemctl is-active -q {name} && [ "$(readlink {current})" = {target} ]; then'
        f" {said(spec.name, 'current')}; elif systemctl is-active -q {name}; then"
        f" systemctl stop {name} && {said(spec.name, 'stopped')};"
        f" else {said(spec.name, 'none')}; fi"
    )


def systemd_run(app: App, spec: AppProcess, release: str, host: Host) -> str:
    """Install the unit, set the old release link aside, link ``release`` and start it."""
    app_dir, name = host.app_dir, spec.name
    target = quote(releases.directory(app_dir, release))
    return (
        f"{process.ensure_user(app, app_dir)}"
        f"{process.write_unit(unit(app.name, name), unit_file(app, spec, app_dir))}"
        f" && {process.set_unit_aside(unit(app.name, name), app_dir, name)}"
        f" && ln -sfn {target} {quote(process.link(app_dir, name))}"
        f" && {process.launch(unit(app.name, name))}"
    )


def systemd_up(app: App, spec: AppProcess, app_dir: str) -> str:
    name = quote(unit(app.name, spec.name))
    health = ["/bin/sh", "-c", spec.health or ""]
    return (
        f"{{ systemctl is-active -q {name}"
        f' && [ "$(systemctl show -p NRestarts --value {name})" = 0 ]; }}'
        f" || {{ echo {quote(f'{spec.name} did not stay up for {UP_CHECK} s:')};"
        f" {process.journal(unit(app.name, spec.name), 10, False)}; exit 1; }}"
        + _healthy(
            spec,
            process.run_as_unit(app, env_file(app_dir), process.link(app_dir, spec.name), health),
        )
    )


def systemd_restore(app: str, spec: AppProcess, app_dir: str, running: bool) -> str:
    return process.restore_unit(unit(app, spec.name), app_dir, spec.name, running)


def systemd_probe(app: str, spec: AppProcess, app_dir: str) -> str:
    name, current = quote(unit(app, spec.name)), quote(process.link(app_dir, spec.name))
    return (
        f'if [ -L {current} ]; then echo "process_{spec.name}=$(systemctl is-active {name})'
        f' $(basename "$(readlink {current})")'
        f' $(systemctl show -p ActiveEnterTimestamp --value {name})"; fi'
    )


# --- one host's part, either runtime --------------------------------------------------------


def specs(app: App, host: str) -> tuple[AppProcess, ...]:
    """What runs as a process on ``host``: its app.processes and, on Docker, the scheduler
    of each scheduled job it is the host of."""
    own = app.processes_on(host)
    if app.runtime == "process":
        return own
    return own + tuple(schedule.as_process(job) for job in app.schedule if job.host == host)


def elsewhere(app: App, host: Host) -> str:
    """Remove what scheduled jobs whose host is another one left here (their ``host``
    changed): each job runs on exactly one host."""
    jobs = [job for job in app.schedule if job.host != host.name]
    if app.runtime == "process":
        return "; ".join(schedule.remove_timer(app.name, job, host.app_dir) for job in jobs)
    names = [docker_name(app.name, schedule.PREFIX + job.name) for job in jobs]
    both = " ".join(quote(n) + " " + quote(n + "-prev") for n in names)
    return f"docker rm -f {both} >/dev/null 2>&1; true" if names else ""


def timers(app: App, release: str, host: Host) -> str:
    """On ``runtime: process``: point the host's scheduled jobs at ``release``."""
    if app.runtime != "process":
        return ""
    jobs = [job for job in app.schedule if job.host == host.name]
    return " && ".join(schedule.install_timer(app, job, release, host) for job in jobs)


def stop_all(app: App, specs: tuple[AppProcess, ...], release: str, host: Host) -> str:
    """Stop every process of the host that does not run ``release``, at once (each waits
    for its own job), printing ``process_<name>=current|stopped|none``."""
    if app.runtime == "process":
        stops = [systemd_stop(app.name, s, release, host.app_dir) for s in specs]
    else:
        stops = [docker_stop(app.name, s, release) for s in specs]
    away = elsewhere(app, host)
    return "".join(f"{{ {stop}; }} &\n" for stop in stops) + "wait" + (f"\n{away}" if away else "")


def start_all(app: App, specs: tuple[AppProcess, ...], release: str, host: Host) -> str:
    """Write the env file (stdin), start ``release`` for each of ``specs``, and check
    that each stays up."""
    if app.runtime == "process":
        starts = [systemd_run(app, s, release, host) for s in specs]
        checks = [systemd_up(app, s, host.app_dir) for s in specs]
    else:
        starts = [docker_run(app, s, release, host) for s in specs]
        checks = [docker_up(app.name, s) for s in specs]
    if not specs:  # scheduled jobs' timers read the env file too
        return _write_env(host.app_dir)
    checked = [f"{{ {check}; }}" for check in checks]
    retire = [docker_retire(app.name, s) for s in specs if s.overlap]
    return " && ".join([_write_env(host.app_dir), *starts, f"sleep {UP_CHECK}", *checked, *retire])


def env_text(app: App, env: dict[str, str]) -> str:
    """The env file's text, as the runtime reads it."""
    return process.quoted_env(env) if app.runtime == "process" else container.env_lines(env)


def restore_all(app: App, specs: dict[AppProcess, bool], host: Host) -> str:
    """Remove what ``start_all`` started and put each set-aside instance back (running
    again when ``specs`` says it ran)."""
    if app.runtime == "process":
        undo = [systemd_restore(app.name, s, host.app_dir, ran) for s, ran in specs.items()]
    else:
        undo = [docker_restore(app.name, s, ran) for s, ran in specs.items()]
    return "; ".join(undo)


def restart_all(app: App, specs: dict[AppProcess, bool], host: Host) -> str:
    """Start again each process that ``stop_all`` stopped (``specs``: did it run?)."""
    names = [s.name for s, ran in specs.items() if ran]
    if app.runtime == "process":
        units = " ".join(quote(unit(app.name, name)) for name in names)
        return f"systemctl start {units}" if names else "true"
    containers = " ".join(quote(docker_name(app.name, name)) for name in names)
    return f"docker start {containers} >/dev/null" if names else "true"


def logs(app: App, name: str, lines: int, follow: bool) -> str:
    """The process ``name``'s output (its container's, or its unit's from journald)."""
    if app.runtime == "process":
        return process.journal(unit(app.name, name), lines, follow)
    return docker.logs(app.name, name, lines, follow)


def exec_in(app: App, name: str, host: Host, argv: list[str], tty: bool = False) -> str:
    """Run ``argv`` beside the process ``name``: in its container, or as its unit would."""
    if app.runtime == "process":
        return process.run_as_unit(
            app, env_file(host.app_dir), process.link(host.app_dir, name), argv
        )
    return container.exec_in(app.name, name, argv, tty)  # (the container <app>-<name>)


def probe(app: App, host: Host) -> str:
    """``process_<name>=<state> <release> <since>`` for each process of the host."""
    found = specs(app, host.name)
    if app.runtime == "process":
        return "\n".join(systemd_probe(app.name, s, host.app_dir) for s in found)
    return "\n".join(docker_probe(app.name, s) for s in found)
