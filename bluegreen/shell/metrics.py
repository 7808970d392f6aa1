"""Writing the state metrics into node_exporter's textfile directory, atomically.

node_exporter reads every ``*.prom`` file on each scrape: a file written in place could be
read half-written. So the text goes to a temp file in the SAME directory (``mktemp``; its
name does not end in ``.prom``, so it is never read) and is renamed over the old one.
"""

from __future__ import annotations

from shlex import quote


def state_file(app: str) -> str:
    return f"bluegreen-{app}.prom"


def lock_file(app: str) -> str:
    return f"bluegreen-{app}-lock.prom"


def write(directory: str, name: str, text: str, certificate: str | None = None) -> str:
    """Replace ``directory/name`` with ``text``; with ``certificate`` (a PEM path on the host)
    ``text`` ends in a sample without value and the certificate's expiry (epoch) completes it.

    A failure prints a ``warning:`` line and never fails the command it is part of.
    """
    target = quote(f"{directory}/{name}")
    body = f"printf '%s' {quote(text)}"
    if certificate:
        cert = quote(certificate)
        end = f"openssl x509 -enddate -noout -in {cert} 2>/dev/null | cut -d= -f2"
        expiry = (
            f'end=$({end}) && [ -n "$end" ] && e=$(date -d "$end" +%s 2>/dev/null)'
            " && printf ' %s\\n' \"$e\""
        )
        body = f"{{ {body}; {expiry} || printf ' NaN\\n'; }}"
    return (
        f'{{ t=$(mktemp {quote(f"{directory}/.{name}.")}XXXXXX) && {{ {body} > "$t"; }}'
        f' && chmod 0644 "$t" && mv -f "$t" {target}; }}'
        f' || {{ rm -f "$t"; echo "warning: could not write {directory}/{name}"; }}'
    )


def ready(directory: str) -> str:
    """Print ``metrics_dir=ok`` when the directory exists (made if missing) and is writable,
    else ``metrics_dir=no``: checked at preflight, before anything changes."""
    d = quote(directory)
    return (
        f"mkdir -p {d} 2>/dev/null; [ -d {d} ] && [ -w {d} ]"
        " && echo metrics_dir=ok || echo metrics_dir=no"
    )


PROGRAM_DIR = "/etc/mtail"
EXPORTER_LOG = "/var/log/bluegreen-exporters.log"  # no systemd: where both daemons log
LOGS = "/var/log/nginx/bluegreen-*.access.log"  # every app's access log, one mtail for all
PIDFILE = "/run/bluegreen-{name}.pid"  # a daemon started without systemd


def program_path(app: str) -> str:
    return f"{PROGRAM_DIR}/bluegreen-{app}.mtail"


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _replace_if_changed(path: str, text: str, changed: str) -> str:
    """Install ``text`` at ``path`` (temp file + rename) unless it is there already."""
    p, body = quote(path), f"printf '%s' {quote(text)}"
    temp = quote(f"{posix_dir(path)}/.{path.rsplit('/', 1)[1]}.")
    return (
        f'if [ "$({body} | md5sum)" != "$(md5sum < {p} 2>/dev/null)" ]; then\n'
        f'  t=$(mktemp {temp}XXXXXX) && {body} > "$t" && chmod 0644 "$t" && mv -f "$t" {p}\n'
        f"  {changed}\n"
        "fi"
    )


def posix_dir(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _started_directly(name: str, binary: str, args: str, reload_when: str) -> str:
    """No systemd: start the daemon (``binary``: a shell word) detached unless its pid file
    names a live process; ``reload_when`` (a shell test) true: SIGHUP the running one."""
    pidfile = PIDFILE.format(name=name)
    pid, log = f'"$(cat {pidfile})"', quote(EXPORTER_LOG)
    script = f'echo $$ > {pidfile}; exec "$0" {args}'
    start = f"{quote(script)} {binary}"
    return "\n".join(
        [
            f"if [ -s {pidfile} ] && kill -0 {pid} 2>/dev/null; then",
            f'  if {reload_when}; then kill -HUP {pid}; echo "changed: reloaded {name}"; fi',
            "else",
            f"  setsid -f sh -c {start} >>{log} 2>&1 </dev/null",
            f'  echo "changed: started {name} (no systemd; log {EXPORTER_LOG})"',
            "fi",
        ]
    )


def exporters(
    textfile_dir: str,
    listen: str,
    ports: tuple[int, int],
    programs: dict[str, str],
    systemd: bool,
) -> str:
    """Install and start node_exporter (textfile collector on ``textfile_dir``) and mtail
    (``programs``: path -> text), both on ``listen``; idempotent: ``changed:`` lines only for
    what it did."""
    node_port, mtail_port = ports
    d = quote(textfile_dir)
    lines = [
        "ne=$(command -v prometheus-node-exporter || command -v node_exporter)"
        ' || { echo "node_exporter is not installed" >&2; exit 1; }',
        'command -v mtail >/dev/null || { echo "mtail is not installed" >&2; exit 1; }',
        f"if [ ! -d {d} ]; then",
        f"  mkdir -p {d} || {{ echo {quote(f'cannot create {textfile_dir}')} >&2; exit 1; }}",
        f'  echo "changed: made {textfile_dir}"',
        "fi",
        f"mkdir -p {PROGRAM_DIR}",
        "programs= restart=",
    ]
    lines += [
        _replace_if_changed(path, text, f'programs=changed; echo "changed: installed {path}"')
        for path, text in programs.items()
    ]
    node_args = (
        f"--collector.textfile.directory={textfile_dir}"
        f" --web.listen-address={_host_port(listen, node_port)}"
    )
    mtail_args = (
        f"--progs {PROGRAM_DIR} --logs {quote(LOGS)} --address {listen} --port {mtail_port}"
    )
    if not systemd:
        lines += [
            _started_directly("node-exporter", '"$ne"', node_args, "false"),
            _started_directly(
                "mtail", "mtail", f"{mtail_args} --logtostderr", '[ -n "$programs" ]'
            ),
        ]
        return "\n".join(lines)
    settings = {
        "/etc/default/prometheus-node-exporter": f'ARGS="{node_args}"\n',
        "/etc/default/mtail": f"LOGS={LOGS}\nHOST={listen}\nPORT={mtail_port}\n",
    }
    for path, text in settings.items():
        service = "prometheus-node-exporter" if "node" in path else "mtail"
        lines.append(_replace_if_changed(path, text, f'restart="$restart {service}"'))
    if programs:
        lines.append('[ -n "$programs" ] && restart="$restart mtail"')
    lines += [
        "id mtail >/dev/null 2>&1 && usermod -aG adm mtail",  # nginx's logs: 0640 www-data adm
        "for s in prometheus-node-exporter mtail; do",
        '  if ! systemctl is-enabled --quiet "$s" || ! systemctl is-active --quiet "$s"; then',
        '    systemctl enable --now "$s" && echo "changed: enabled and started $s"',
        '  elif case " $restart " in *" $s "*) true;; *) false;; esac; then',
        '    systemctl restart "$s" && echo "changed: restarted $s"',
        "  fi",
        "done",
    ]
    return "\n".join(lines)
