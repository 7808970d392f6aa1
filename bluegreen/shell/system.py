"""System commands of bootstrap: services, groups, SELinux, directories, nginx main context.

Every script checks before it acts and prints ``changed: ...`` for each thing it did and
``warning: ...`` for what needs the operator's attention; other output is a note. One
script is one SSH round trip.
"""

from __future__ import annotations

from shlex import quote

from bluegreen.config.profiles import Profile
from bluegreen.files import nginx_file

NGINX_PID = "/run/nginx.pid"  # Debian, Ubuntu and AL2023 nginx.conf all say so
DOCKERD_LOG = "/var/log/dockerd.log"  # where a dockerd started without systemd logs
DAEMON_JSON = "/etc/docker/daemon.json"
MAIN_CONF = "90-bluegreen.conf"
# nginx/90-bluegreen.conf: bounds how long old nginx workers keep long-lived connections
# open after a reload, and compiles regexes (core mode's per-request match) to machine code
MAIN_CONF_TEXT = nginx_file(MAIN_CONF)
CLOUD_INIT_TIMEOUT = 900  # seconds bootstrap waits for a first boot's cloud-init
LISTENING = "public port listening"
# nginx runs when the master named by ITS pid file does: the ``pid`` of its configuration,
# else the pid path it was built with (never a guess, which could start a second nginx)
NGINX_PID_FILE = (
    "$({ nginx -T 2>/dev/null"
    " | sed -n 's/^[[:space:]]*pid[[:space:]]\\{1,\\}\\([^;[:space:]]*\\).*/\\1/p';"
    " nginx -V 2>&1 | sed -n 's/.*--pid-path=\\([^ ]*\\).*/\\1/p';"
    f" echo {NGINX_PID}; }} | head -n 1)"
)
NGINX_RUNNING = f'pidf="{NGINX_PID_FILE}"; [ -s "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null'


def probe() -> str:
    """Facts bootstrap needs beyond ``facts.probe``: init system, cloud-init, SELinux."""
    return "\n".join(
        [
            "[ -d /run/systemd/system ] && echo systemd=yes || echo systemd=",
            "command -v cloud-init >/dev/null 2>&1 && echo cloud_init=yes || echo cloud_init=",
            "printf 'selinux=%s\\n' \"$(getenforce 2>/dev/null)\"",
        ]
    )


def wait_cloud_init() -> str:
    """Wait for a first boot's cloud-init (it may hold the package lock); errors only warn."""
    return (
        "out=$(cloud-init status --wait 2>&1); rc=$?\n"
        'printf "%s\\n" "$out" | tail -n 1\n'
        '[ "$rc" = 0 ] || echo "warning: cloud-init status --wait exited $rc (continuing)"'
    )


def nginx_main(profile: Profile) -> str:
    """Put ``worker_shutdown_timeout`` and ``pcre_jit`` in the main context (and enable njs
    where it is a link).

    Changes are tested with ``nginx -t`` and undone if it fails; a running nginx is
    reloaded only when something changed.
    """
    directory = profile.main_conf_dir
    path = quote(f"{directory}/{MAIN_CONF}")
    lines = ["set -e", "changed=", "undo="]
    if profile.njs_link:
        available, link = (quote(p) for p in profile.njs_link)
        lines += [
            f"if [ -e {available} ] && ! grep -Rqs ngx_http_js_module {quote(directory)}; then",
            f'  ln -sf {available} {link}; undo="rm -f {link};"; changed=1',
            f'  echo "changed: enabled the njs module ({link})"',
            "fi",
        ]
    lines += [
        f"if ! printf '%s' {quote(MAIN_CONF_TEXT)} | cmp -s - {path}; then",
        f"  mkdir -p {quote(directory)}",
        f"  if [ -f {path} ]; then cp -p {path} {path}.prev;"
        f' undo="$undo mv -f {path}.prev {path};"; else undo="$undo rm -f {path};"; fi',
        f"  printf '%s' {quote(MAIN_CONF_TEXT)} > {path}.new && mv -f {path}.new {path}",
        f'  echo "changed: worker_shutdown_timeout 30s, pcre_jit on in {path}"; changed=1',
        "fi",
        '[ -n "$changed" ] || exit 0',
        'if ! out=$(nginx -t 2>&1); then eval "$undo"; printf "%s\\n" "$out" >&2; exit 3; fi',
        f"if {NGINX_RUNNING}; then nginx -s reload; echo 'changed: nginx reloaded'; fi",
    ]
    return "\n".join(lines)


def services(systemd: bool, names: tuple[str, ...] = ("docker", "nginx")) -> str:
    """Enable and start docker and nginx (``names``): with systemd, or directly where there is
    none."""
    if systemd:
        return (
            f"for s in {' '.join(names)}; do\n"
            '  systemctl is-enabled --quiet "$s" && systemctl is-active --quiet "$s" && continue\n'
            '  out=$(systemctl enable --now "$s" 2>&1)'
            ' || { printf "%s\\n" "$out" | tail -n 20 >&2; exit 1; }\n'
            '  echo "changed: enabled and started $s"\n'
            "done"
        )
    log = quote(DOCKERD_LOG)
    dockerd = [
        "if ! docker info >/dev/null 2>&1; then",
        f"  setsid -f dockerd >>{log} 2>&1 </dev/null",
        "  i=0; until docker info >/dev/null 2>&1; do",
        f"    [ $i -lt 300 ] || {{ tail -n 20 {log} >&2; exit 1; }}; sleep 0.1; i=$((i+1))",
        "  done",
        f'  echo "changed: started dockerd (no systemd; log {DOCKERD_LOG})"',
        "fi",
    ]
    nginx = [
        f"if ! {{ {NGINX_RUNNING}; }}; then",
        "  nginx",
        '  echo "changed: started nginx (no systemd)"',
        "fi",
    ]
    return "\n".join([*dockerd * ("docker" in names), *nginx * ("nginx" in names)])


def read_daemon_json() -> str:
    """Whether dockerd runs and with how many containers, the file's md5, then the file."""
    path = quote(DAEMON_JSON)
    return "\n".join(
        [
            "docker info >/dev/null 2>&1 && echo running=yes || echo running=",
            "printf 'containers=%s\\n' \"$(docker ps -q 2>/dev/null | wc -l)\"",
            f"printf 'md5=%s\\n' \"$([ -f {path} ] && md5sum < {path} | cut -d' ' -f1)\"",
            "echo ---",
            f"cat {path} 2>/dev/null || true",
        ]
    )


def write_daemon_json(expected_md5: str, restart: bool) -> str:
    """Replace daemon.json with stdin, unless it changed since it was read; maybe restart docker.

    The previous file is kept as ``daemon.json.prev``.
    """
    path = quote(DAEMON_JSON)
    lines = [
        "set -e",
        f"now=$([ -f {path} ] && md5sum < {path} | cut -d' ' -f1 || true)",
        f'if [ "$now" != {quote(expected_md5)} ]; then',
        f'  echo "{DAEMON_JSON} changed while bootstrap merged it; run bootstrap again" >&2',
        "  exit 4",
        "fi",
        "mkdir -p /etc/docker",
        f"cat > {path}.new",
        f"if [ -f {path} ]; then cp -p {path} {path}.prev; fi",
        f"mv -f {path}.new {path}",
    ]
    if restart:
        lines.append("systemctl restart docker && echo 'changed: restarted docker to apply it'")
    return "\n".join(lines)


def docker_group(user: str) -> str:
    """Add the login user to the docker group (needs a new SSH session to take effect)."""
    u = quote(user)
    return (
        f"id -nG {u} | tr ' ' '\\n' | grep -qx docker"
        f" || {{ usermod -aG docker {u} && printf 'changed: added %s to group docker\\n' {u}; }}"
    )


def selinux_proxy() -> str:
    """Let nginx connect to the app ports under an enforcing SELinux."""
    return (
        "getsebool httpd_can_network_connect | grep -q ' on$' || "
        "{ setsebool -P httpd_can_network_connect 1"
        ' && echo "changed: setsebool -P httpd_can_network_connect 1"; }'
    )


def open_ports(ports: tuple[int, ...]) -> str:
    """Allow the ports where nginx serves in ufw or firewalld, only when that firewall is
    active (an inactive or absent one is left alone: nothing to open)."""
    spec = " ".join(f"{int(port)}/tcp" for port in ports)
    return (
        "if command -v ufw >/dev/null 2>&1 && ufw status | grep -q '^Status: active'; then"
        f' for p in {spec}; do ufw status | grep -q "^$p .*ALLOW" ||'
        ' { ufw allow "$p" >/dev/null && echo "changed: ufw allow $p"; }; done;'
        " elif command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1;"
        f' then for p in {spec}; do firewall-cmd -q --query-port="$p" ||'
        ' { firewall-cmd -q --permanent --add-port="$p" && firewall-cmd -q --add-port="$p"'
        ' && echo "changed: firewalld add-port $p"; }; done;'
        " else echo 'no active ufw or firewalld'; fi"
    )


def app_dir(path: str, user: str) -> str:
    """The app directory, owned by the login user."""
    d, u = quote(path), quote(user)
    return (
        f'if [ ! -d {d} ] || [ "$(stat -c %U {d})" != {u} ]; then\n'
        f"  mkdir -p {d} && chown {u}: {d}\n"
        f"  printf 'changed: %s owned by %s\\n' {d} {u}\n"
        "fi"
    )


def checks(profile: Profile, public_port: int, docker: bool = True, web: bool = True) -> str:
    """docker answers (without ``docker``: systemd's version), nginx's configuration tests
    fine and nginx runs (``web``: not on a worker-only host); prints versions.

    Also prints ``LISTENING`` when something listens on the public port.
    """
    engine = (
        "v=$(docker info --format '{{.ServerVersion}}' 2>&1)"
        ' || { echo "docker info: $v" >&2; exit 1; }; v="docker $v"'
        if docker
        else "v=$(systemctl --version | head -n 1)"
    )
    if not web:
        return f'{engine}\necho "$v"'
    return "\n".join(
        [
            engine,
            'out=$(nginx -t 2>&1) || { printf "%s\\n" "$out" >&2; exit 1; }',
            f'{NGINX_RUNNING} || {{ echo "nginx is not running" >&2; exit 1; }}',
            "echo \"$v, $(nginx -v 2>&1 | sed 's|.*: ||'): nginx -t ok, nginx running\"",
            "nginx -T 2>/dev/null | grep -q '^[[:space:]]*worker_shutdown_timeout'"
            " || echo 'warning: nginx does not read worker_shutdown_timeout"
            f" (does nginx.conf include {profile.main_conf_dir}/*.conf?)'",
            f"ss -Hltn 'sport = :{int(public_port)}' | grep -q . && echo {LISTENING} || true",
        ]
    )
