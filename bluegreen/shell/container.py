"""What every container of the app is given (volumes, whitelisted options, a stop timeout),
and the one-off container a release command runs in."""

from __future__ import annotations

from shlex import quote

from bluegreen.config.inventory import App, Host
from bluegreen.shell import docker


def settings(app: App, stop_timeout: int | None = None) -> str:
    """The ``docker run`` flags both colors and one-off containers share (a process of
    ``app.processes`` has its own ``stop_timeout``)."""
    options = app.options
    flags = [f"-v {quote(volume)}" for volume in app.volumes]
    if options.memory:
        flags.append(f"--memory {options.memory}")
    if options.cpus is not None:
        flags.append(f"--cpus {options.cpus:g}")
    flags += [f"--ulimit {quote(f'{k}={v}')}" for k, v in options.ulimits.items()]
    if options.shm_size:
        flags.append(f"--shm-size {options.shm_size}")
    flags += [f"--add-host {quote(f'{k}:{v}')}" for k, v in options.extra_hosts.items()]
    flags += [f"--label {quote(f'{k}={v}')}" for k, v in options.labels.items()]
    flags += [f"--log-opt {quote(f'{k}={v}')}" for k, v in options.log.items()]
    if options.user:
        flags.append(f"--user {quote(options.user)}")
    flags.append(f"--stop-timeout {stop_timeout or app.stop_timeout}")
    return " ".join(flags)


def env_lines(env: dict[str, str]) -> str:
    """An env file's text (sent on stdin, never on a command line)."""
    return "".join(f"{k}={v}\n" for k, v in env.items())


def release_env(app_dir: str) -> str:
    return f"{app_dir}/release.env"


def one_off(
    app: App,
    release_id: str,
    host: Host,
    command: str | tuple[str, ...] | list[str],
    env_file: str,
    role: str,
    tty: bool = False,
    named: bool = False,
) -> str:
    """``docker run --rm`` of a release's image with the app's env file, volumes, options
    and the host's network: ``command`` a shell line or an argv given exactly (its first
    word the entrypoint); ``tty``: an interactive terminal; ``named``: ``<app>-<role>``
    (one at a time), else docker picks a name."""
    entry, *args = ("/bin/sh", "-c", command) if isinstance(command, str) else command
    network = " --network host" if host.network == "host" else ""
    argv = "".join(f" {quote(arg)}" for arg in args)
    name = f" --name {quote(f'{app.name}-{role}')}" if named else ""
    return (
        f"docker run --rm --pull never{' -it' if tty else ''}{name}"
        f" --label {docker.LABEL}.app={quote(app.name)} --label {docker.LABEL}.role={role}"
        f" --env-file {quote(env_file)}{network} {settings(app)} --entrypoint {quote(entry)}"
        f" {quote(docker.image(app.name, release_id))}{argv}"
    )


def release(app: App, command: str | tuple[str, ...], release_id: str, host: Host) -> str:
    """Run the release ``command`` (a shell line, or an argv) once in a one-off container of
    the new image, with the app's env (from stdin into a 0600 file, removed afterwards),
    volumes and options; its output and exit code are the command's."""
    envf = release_env(host.app_dir)
    name = quote(f"{app.name}-release")
    run = one_off(app, release_id, host, command, envf, "release", named=True)
    return (
        f"umask 077 && mkdir -p {quote(host.app_dir)} && cat > {quote(envf)}"
        f" && {{ docker rm -f {name} >/dev/null 2>&1 || true; }}"
        f" && {{ {run} 2>&1; code=$?; rm -f {quote(envf)}; exit $code; }}"
    )


def exec_in(app: str, color: str, argv: list[str], tty: bool = False) -> str:
    """Run ``argv`` exactly as given (each argument one word, no shell of ours in between)
    in the color's running container; its output and exit code are the command's. ``tty``:
    an interactive terminal (its output is the terminal's, not captured)."""
    words = " ".join(quote(arg) for arg in argv)
    if tty:
        return f"docker exec -it {quote(docker.container(app, color))} {words}"
    return f"docker exec {quote(docker.container(app, color))} {words} 2>&1"


def exec_new(app: App, color: str, release_id: str, host: Host, argv: list[str], tty: bool) -> str:
    """``exec --new``: ``argv`` in a one-off container of the color's image (its env file,
    volumes and options), removed afterwards."""
    envf = docker.env_file(host.app_dir, color)
    run = one_off(app, release_id, host, argv, envf, "exec", tty)
    return run if tty else f"{run} 2>&1"
