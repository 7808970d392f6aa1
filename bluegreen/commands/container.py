"""What every container of the app is given (volumes, whitelisted options, a stop timeout),
and the one-off container a release command runs in."""

from __future__ import annotations

from shlex import quote

from bluegreen.commands import docker
from bluegreen.inventory import App, Host


def settings(app: App) -> str:
    """The ``docker run`` flags both colors and one-off containers share."""
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
    flags.append(f"--stop-timeout {app.stop_timeout}")
    return " ".join(flags)


def env_lines(env: dict[str, str]) -> str:
    """An env file's text (sent on stdin, never on a command line)."""
    return "".join(f"{k}={v}\n" for k, v in env.items())


def release_env(app_dir: str) -> str:
    return f"{app_dir}/release.env"


def release(app: App, command: str | tuple[str, ...], release_id: str, host: Host) -> str:
    """Run the release ``command`` (a shell line, or an argv) once in a one-off container of
    the new image, with the app's env (from stdin into a 0600 file, removed afterwards),
    volumes and options; its output and exit code are the command's."""
    entry, *args = ("/bin/sh", "-c", command) if isinstance(command, str) else command
    envf = quote(release_env(host.app_dir))
    name = quote(f"{app.name}-release")
    network = " --network host" if host.network == "host" else ""
    argv = "".join(f" {quote(arg)}" for arg in args)
    return (
        f"umask 077 && mkdir -p {quote(host.app_dir)} && cat > {envf}"
        f" && {{ docker rm -f {name} >/dev/null 2>&1 || true; }}"
        f" && {{ docker run --rm --pull never --name {name}"
        f" --label {docker.LABEL}.app={quote(app.name)} --label {docker.LABEL}.role=release"
        f" --env-file {envf}{network} {settings(app)} --entrypoint {quote(entry)}"
        f" {quote(docker.image(app.name, release_id))}{argv} 2>&1; code=$?; rm -f {envf};"
        " exit $code; }"
    )


def exec_in(app: str, color: str, argv: list[str]) -> str:
    """Run ``argv`` exactly as given (each argument one word, no shell of ours in between)
    in the color's running container; its output and exit code are the command's."""
    words = " ".join(quote(arg) for arg in argv)
    return f"docker exec {quote(docker.container(app, color))} {words} 2>&1"
