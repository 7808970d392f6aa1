"""systemd commands for ``app.runtime: process``: one release directory per commit, one
instance of a template unit per color.

Each color is ``bluegreen-<app>@<color>.service``: ``app.command`` run by ``/bin/sh`` in the
color's release (``<app_dir>/<color>.release``, a link to ``releases/<commit>``) with the
color's env file (the app's env plus ``HOST`` and ``PORT``). A color's unit is enabled
exactly while it should run, so a reboot brings back the colors that served. The builders
mirror ``docker``'s (run, set aside, restore, start, stop, drain, logs) so the orchestration
treats both runtimes alike.
"""

from __future__ import annotations

from shlex import quote

from bluegreen.config.inventory import COLORS, App, Host
from bluegreen.shell import release as releases
from bluegreen.shell.docker import env_file, stdin_to
from bluegreen.shell.wrap import quiet

UNIT_DIR = "/etc/systemd/system"
BUILT = ".bluegreen-built"  # in a release directory whose build_command succeeded


def template(app: str) -> str:
    return f"bluegreen-{app}@.service"


def unit(app: str, color: str) -> str:
    return f"bluegreen-{app}@{color}.service"


def link(app_dir: str, color: str) -> str:
    """The color's release: a link to ``releases/<commit>`` (its unit's working directory)."""
    return f"{app_dir}/{color}.release"


def aside(app_dir: str, color: str) -> str:
    """Where the color's previous release link waits while a new release is staged."""
    return f"{link(app_dir, color)}-prev"


def systemd_quote(command: str) -> str:
    """``command`` as one double-quoted word of an ExecStart line: systemd's own ``%``
    specifiers and ``$`` expansion are escaped, so the shell gets exactly ``command``."""
    escaped = command.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


def memory_max(memory: str) -> str:
    """Docker's ``512m`` → systemd's ``512M`` (bytes without a suffix stay as they are)."""
    number, suffix = memory[:-1], memory[-1].lower()
    units = {"b": "", "k": "K", "m": "M", "g": "G"}
    return f"{number}{units[suffix]}" if suffix in units else memory


def limits(app: App) -> list[str]:
    """The unit lines of ``app.options`` (memory, CPU), the app's identity and the
    hardening: the same for every unit of the app."""
    options = app.options
    lines = []
    if options.memory:
        lines.append(f"MemoryMax={memory_max(options.memory)}")
    if options.cpus is not None:
        lines.append(f"CPUQuota={options.cpus * 100:g}%")
    user, group = identity(app)
    lines += [f"User={user}"] + ([f"Group={group}"] if group else [])
    return lines + [*HARDENING, f"StateDirectory={state_directory(app.name)}"]


# Every unit of the app: no privilege gain (setuid, capabilities), a private /tmp, the whole
# file system read-only but for the state directory, no view of the users' homes.
HARDENING = ("NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=strict", "ProtectHome=yes")


def state_directory(app: str) -> str:
    """``/var/lib/<this>``: the one place the app may write (systemd creates it, owned by the
    app's user, and names it in ``$STATE_DIRECTORY``); it outlives releases."""
    return f"bluegreen-{app}"


def system_user(app: str) -> str:
    """The app's own system user (short enough for ``useradd``'s 32 characters)."""
    return f"bg-{app}"


def identity(app: App) -> tuple[str, str | None]:
    """(user, group) the app's processes and its build run as: ``options.user`` when set,
    else the app's system user (its own group)."""
    if app.options.user:
        user, _, group = app.options.user.partition(":")
        return user, group or None
    return system_user(app.name), None


def home(app_dir: str) -> str:
    """The system user's home: where builds keep caches (npm, pip); not writable by the app."""
    return f"{app_dir}/.home"


def ensure_user(app: App, app_dir: str) -> str:
    """Create the app's system user and its home when missing (``&&``-ready; nothing when
    ``options.user`` names an existing user)."""
    if app.options.user:
        return ""
    user, folder = quote(system_user(app.name)), quote(home(app_dir))
    return (
        f"{{ id -u {user} >/dev/null 2>&1 || useradd --system --user-group --no-create-home"
        f" --home-dir {folder} --shell /usr/sbin/nologin {user}; }}"
        f" && install -d -o {user} -g {user} -m 0700 {folder} && "
    )


def unit_file(app: App, app_dir: str) -> str:
    """The template unit both colors are instances of (``%i`` is the color)."""
    return "\n".join(
        [
            f"# bluegreen app={app.name}",
            "[Unit]",
            f"Description=bluegreen {app.name} (%i)",
            "After=network.target",
            "",
            "[Service]",
            "Type=simple",
            f"WorkingDirectory={app_dir}/%i.release",
            f"EnvironmentFile={app_dir}/%i.env",
            f"ExecStart=/bin/sh -c {systemd_quote(app.command or '')}",
            "Restart=on-failure",
            "RestartSec=1",
            f"TimeoutStopSec={app.stop_timeout}",
            *limits(app),
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def install_unit(app: App, app_dir: str) -> str:
    """Write the template unit when it changed (then ``daemon-reload``); nothing otherwise."""
    return write_unit(template(app.name), unit_file(app, app_dir))


def write_unit(name: str, text: str) -> str:
    """Write the unit file ``name`` when its text changed (then ``daemon-reload``)."""
    path = quote(f"{UNIT_DIR}/{name}")
    return (
        f"printf '%s' {quote(text)} > {path}.new"
        f" && {{ if cmp -s {path}.new {path}; then rm -f {path}.new;"
        f" else mv -f {path}.new {path} && systemctl daemon-reload; fi; }}"
    )


def env_lines(env: dict[str, str], port: int) -> str:
    """The color's env file (sent on stdin, never on a command line), double-quoted as
    systemd reads it, so spaces, quotes and ``$`` arrive as written."""
    return quoted_env({**env, "HOST": "127.0.0.1", "PORT": str(port)})


def quoted_env(env: dict[str, str]) -> str:
    """An env file's text as systemd's ``EnvironmentFile`` reads it (double-quoted)."""
    return "".join(f'{k}="{_env_escape(v)}"\n' for k, v in env.items())


def _env_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")


def run(app: App, color: str, release: str, host: Host) -> str:
    """Start ``release`` as the color's unit; its env file comes from stdin (0600).

    The release the color ran before is set aside (stopped, its link renamed), so a failed
    deploy can put it back (``restore``).
    """
    app_dir = host.app_dir
    envf = quote(env_file(app_dir, color))
    target = quote(releases.directory(app_dir, release))
    return (
        f"umask 077 && mkdir -p {quote(app_dir)}"
        f" && {ensure_user(app, app_dir)}{stdin_to(envf)}"
        f" && {install_unit(app, app_dir)}"
        f" && {set_aside(app.name, app_dir, color)}"
        f" && ln -sfn {target} {quote(link(app_dir, color))}"
        f" && {start(app.name, color)}"
    )


def set_aside(app: str, app_dir: str, color: str) -> str:
    """Stop the color and rename its release link aside (one set aside before is dropped)."""
    return set_unit_aside(unit(app, color), app_dir, color)


def set_unit_aside(name: str, app_dir: str, link_name: str) -> str:
    """Stop the unit ``name`` and rename the release link ``link_name`` aside."""
    current, kept = quote(link(app_dir, link_name)), quote(aside(app_dir, link_name))
    return f"rm -f {kept} && {halt(name)} && {{ ! [ -L {current} ] || mv -fT {current} {kept}; }}"


def restore(app: str, app_dir: str, color: str, running: bool) -> str:
    """Undo a staged release: stop it and give the set-aside release its link back (started
    again when it ran before)."""
    return restore_unit(unit(app, color), app_dir, color, running)


def restore_unit(name: str, app_dir: str, link_name: str, running: bool) -> str:
    """Stop the unit ``name`` and give the link ``link_name`` its set-aside release back."""
    current, kept = quote(link(app_dir, link_name)), quote(aside(app_dir, link_name))
    again = f" && {launch(name)}" if running else ""
    return f"{halt(name)}; if [ -L {kept} ]; then mv -fT {kept} {current}{again}; fi"


def discard_aside(app_dir: str, color: str) -> str:
    return f"rm -f {quote(aside(app_dir, color))}"


def start(app: str, color: str) -> str:
    """Run the color now and at every boot (enabling is a link on disk: no daemon-reload,
    which costs about a second on a busy host)."""
    return launch(unit(app, color))


def launch(name: str) -> str:
    """Enable and start the unit ``name``."""
    return f"systemctl enable --no-reload -q {quote(name)} && systemctl start {quote(name)}"


def stop(app: str, color: str) -> str:
    """Stop the color and keep it stopped across reboots; its release stays for a rollback."""
    return halt(unit(app, color))


def halt(name: str) -> str:
    """Stop the unit ``name`` and disable it."""
    name = quote(name)
    return f"{{ systemctl disable --no-reload -q {name} 2>/dev/null; systemctl stop {name}; }}"


def drain(app: str, colors: list[str], seconds: float, wait: str) -> str:
    """Let in-flight requests finish (``seconds``, then the ``wait`` command: busy
    connections), then stop (keep) the colors that no longer serve."""
    stops = "; ".join(stop(app, color) for color in colors)
    return f"sleep {seconds:g}; {wait}; {stops}"


def logs(app: str, color: str, lines: int = 20, follow: bool = False) -> str:
    """The color's output from journald."""
    return journal(unit(app, color), lines, follow)


def journal(name: str, lines: int, follow: bool) -> str:
    """The unit ``name``'s output from journald."""
    follow_flag = " --follow" if follow else ""
    return f"journalctl --no-pager -o cat -n {int(lines)}{follow_flag} -u {quote(name)} 2>&1"


def exec_in(app: App, app_dir: str, color: str, argv: list[str]) -> str:
    """Run ``argv`` as the color's unit would (its release directory, env file, user and
    limits), through systemd, waiting for it; its output and exit code are the command's."""
    return run_as_unit(app, env_file(app_dir, color), link(app_dir, color), argv)


def run_as_unit(app: App, env_path: str, directory: str, argv: list[str]) -> str:
    """``argv`` in a transient unit with that env file and working directory and the app's
    unit lines (``limits``)."""
    words = " ".join(quote(arg) for arg in argv)
    props = " ".join(
        f"-p {quote(line)}"
        for line in (f"EnvironmentFile={env_path}", f"WorkingDirectory={directory}", *limits(app))
    )
    return f"systemd-run --quiet --pipe --wait --collect {props} -- {words} 2>&1"


def build(app: App, app_dir: str, directory: str) -> str:
    """Hand the release directory to the app's user (an uploaded tree keeps the operator's
    modes, e.g. a 0700 temporary directory's), run ``app.build_command`` there as that user
    (install scripts never run as root) and mark the release built. With ``build: local``
    the tree arrived built (bluegreen/local/tree.py): no command."""
    d = quote(directory)
    user, group = identity(app)
    owner = quote(f"{user}:{group or ''}")
    owned = f"{ensure_user(app, app_dir)}chown -R {owner} {d}"
    if app.build_command is None or app.build == "local":
        return f"{owned} && touch {d}/{BUILT}"
    as_user = f"runuser -u {quote(user)}" + (f" -g {quote(group)}" if group else "")
    command = f"cd {d} && {as_user} -- sh -c {quote(app.build_command)}"
    return f"{owned} && {quiet(command)} && touch {d}/{BUILT}"


def built(app_dir: str, release: str) -> str:
    """Prints ``image=present`` when the release's directory is built (named as docker's
    image line, so the facts read both alike)."""
    marker = quote(f"{releases.directory(app_dir, release)}/{BUILT}")
    return f"[ -f {marker} ] && echo image=present || echo image="


# sd_booted(3): systemd runs as this machine's init (a container's or a chroot's shell has
# no /run/systemd/system, and systemctl there fails only once a change is half made)
SYSTEMD_PROBE = "[ -d /run/systemd/system ] && echo systemd=yes || echo systemd=no"


def probe(app: str, app_dir: str) -> list[str]:
    """Whether systemd runs (``systemd=yes|no``), and ``container_<color>=<running|exited>
    <release>`` per color with a release link."""
    lines = [SYSTEMD_PROBE]
    for color in COLORS:
        current, name = quote(link(app_dir, color)), quote(unit(app, color))
        state = f"$(systemctl is-active {name} >/dev/null && echo running || echo exited)"
        lines.append(
            f"if [ -L {current} ]; then printf 'container_{color}=%s %s\\n' \"{state}\""
            f' "$(basename "$(readlink {current})")"; fi'
        )
    return lines


def prune(app_dir: str, keep: int) -> str:
    """Remove old release directories, keeping both colors' (and set-aside) releases and the
    ``keep`` newest others; prints ``pruned=<release>`` per removal."""
    root = quote(f"{app_dir}/releases")
    links = " ".join(
        quote(path) for color in COLORS for path in (link(app_dir, color), aside(app_dir, color))
    )
    return (
        f'used=$(for l in {links}; do [ -L "$l" ] && basename "$(readlink "$l")"; done);'
        f" ls -1t {root} 2>/dev/null | grep -vxF -e \"$used\" -e '' | grep -v '\\.tmp$'"
        f' | tail -n +{keep + 1} | while read -r r; do rm -rf {root}/"$r" && echo pruned="$r";'
        " done; true"
    )
