"""System commands of bootstrap, as exact strings (the quoting ones also run in a shell)."""

import subprocess

from bluegreen.config.profiles import PROFILES
from bluegreen.shell import system

RUNNING = system.NGINX_RUNNING


def test_services_with_systemd_enable_and_start_only_what_is_not():
    assert system.services(systemd=True) == (
        "for s in docker nginx; do\n"
        '  systemctl is-enabled --quiet "$s" && systemctl is-active --quiet "$s" && continue\n'
        '  out=$(systemctl enable --now "$s" 2>&1)'
        ' || { printf "%s\\n" "$out" | tail -n 20 >&2; exit 1; }\n'
        '  echo "changed: enabled and started $s"\n'
        "done"
    )


def test_services_without_systemd_start_dockerd_and_nginx_directly():
    assert system.services(systemd=False) == (
        "if ! docker info >/dev/null 2>&1; then\n"
        "  setsid -f dockerd >>/var/log/dockerd.log 2>&1 </dev/null\n"
        "  i=0; until docker info >/dev/null 2>&1; do\n"
        "    [ $i -lt 300 ] || { tail -n 20 /var/log/dockerd.log >&2; exit 1; };"
        " sleep 0.1; i=$((i+1))\n"
        "  done\n"
        '  echo "changed: started dockerd (no systemd; log /var/log/dockerd.log)"\n'
        "fi\n"
        f"if ! {{ {RUNNING}; }}; then\n"
        "  nginx\n"
        '  echo "changed: started nginx (no systemd)"\n'
        "fi"
    )


def test_nginx_main_context_file_per_profile():
    debian = system.nginx_main(PROFILES["debian"])
    assert "/etc/nginx/modules-enabled/90-bluegreen.conf" in debian
    assert (
        "ln -sf /usr/share/nginx/modules-available/mod-http-js.conf"
        " /etc/nginx/modules-enabled/50-mod-http-js.conf" in debian
    )
    al = system.nginx_main(PROFILES["amazon-linux"])
    assert "/usr/share/nginx/modules/90-bluegreen.conf" in al
    assert "njs" not in al
    for command in (debian, al):
        assert "worker_shutdown_timeout 30s;" in command and "pcre_jit on;" in command
        assert 'if ! out=$(nginx -t 2>&1); then eval "$undo";' in command
        assert command.endswith(
            f"if {RUNNING}; then nginx -s reload; echo 'changed: nginx reloaded'; fi"
        )


def test_nginx_runs_when_the_master_of_its_own_pid_file_does():
    """The pid file is the one nginx's configuration names, else its built-in path: never
    an assumed /run/nginx.pid, which would start a second nginx."""
    assert RUNNING == (
        'pidf="$({ nginx -T 2>/dev/null'
        " | sed -n 's/^[[:space:]]*pid[[:space:]]\\{1,\\}\\([^;[:space:]]*\\).*/\\1/p';"
        " nginx -V 2>&1 | sed -n 's/.*--pid-path=\\([^ ]*\\).*/\\1/p';"
        ' echo /run/nginx.pid; } | head -n 1)";'
        ' [ -s "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null'
    )


def test_docker_group_is_quoted():
    assert system.docker_group("ubuntu") == (
        "id -nG ubuntu | tr ' ' '\\n' | grep -qx docker"
        " || { usermod -aG docker ubuntu && printf 'changed: added %s to group docker\\n' ubuntu; }"
    )


HOSTILE = "o'neil $(touch PWNED) `touch PWNED`"


def stub_path(tmp_path, **scripts: str) -> dict[str, str]:
    """An environment whose PATH has only the named stub commands (plus the shell's tools)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in scripts.items():
        stub = bin_dir / name
        stub.write_text(f"#!/bin/sh\n{body}\n")
        stub.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_docker_group_runs_with_a_name_that_needs_quoting(tmp_path):
    """Executed, not only compared: the name reaches usermod and the report as one word,
    and nothing in it runs."""
    env = stub_path(tmp_path, id='echo "$3 users"', usermod='printf "%s\\n" "$@" > args')
    out = subprocess.run(
        ["sh", "-c", system.docker_group(HOSTILE)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == f"changed: added {HOSTILE} to group docker\n"
    assert (tmp_path / "args").read_text().splitlines() == ["-aG", "docker", HOSTILE]
    assert not (tmp_path / "PWNED").exists()


def test_app_dir_runs_with_a_path_and_user_that_need_quoting(tmp_path):
    env = stub_path(tmp_path, chown='printf "%s\\n" "$@" > ../args', stat="echo nobody")
    where = tmp_path / "work"
    where.mkdir()
    out = subprocess.run(
        ["sh", "-c", system.app_dir(f"srv/{HOSTILE}", HOSTILE)],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == f"changed: srv/{HOSTILE} owned by {HOSTILE}\n"
    assert (where / "srv" / HOSTILE).is_dir()
    assert (tmp_path / "args").read_text().splitlines() == [f"{HOSTILE}:", f"srv/{HOSTILE}"]
    assert not list(tmp_path.rglob("PWNED"))


def test_selinux_boolean_is_set_only_when_off():
    assert system.selinux_proxy() == (
        "getsebool httpd_can_network_connect | grep -q ' on$' || "
        "{ setsebool -P httpd_can_network_connect 1"
        ' && echo "changed: setsebool -P httpd_can_network_connect 1"; }'
    )


def test_app_dir_owned_by_the_login_user():
    assert system.app_dir("/srv/my app", "ec2-user") == (
        "if [ ! -d '/srv/my app' ] || [ \"$(stat -c %U '/srv/my app')\" != ec2-user ]; then\n"
        "  mkdir -p '/srv/my app' && chown ec2-user: '/srv/my app'\n"
        "  printf 'changed: %s owned by %s\\n' '/srv/my app' ec2-user\n"
        "fi"
    )


def test_daemon_json_write_refuses_a_file_changed_meanwhile_and_keeps_the_previous():
    command = system.write_daemon_json("abc123", restart=False)
    assert command == (
        "set -e\n"
        "now=$([ -f /etc/docker/daemon.json ] && md5sum < /etc/docker/daemon.json"
        " | cut -d' ' -f1 || true)\n"
        'if [ "$now" != abc123 ]; then\n'
        '  echo "/etc/docker/daemon.json changed while bootstrap merged it;'
        ' run bootstrap again" >&2\n'
        "  exit 4\n"
        "fi\n"
        "mkdir -p /etc/docker\n"
        "cat > /etc/docker/daemon.json.new\n"
        "if [ -f /etc/docker/daemon.json ]; then"
        " cp -p /etc/docker/daemon.json /etc/docker/daemon.json.prev; fi\n"
        "mv -f /etc/docker/daemon.json.new /etc/docker/daemon.json"
    )
    absent = system.write_daemon_json("", restart=True)
    assert "if [ \"$now\" != '' ]; then" in absent
    assert absent.endswith(
        "systemctl restart docker && echo 'changed: restarted docker to apply it'"
    )


def test_checks_test_nginx_and_docker_and_look_at_the_public_port():
    command = system.checks(PROFILES["amazon-linux"], 4000)
    assert "docker info --format '{{.ServerVersion}}'" in command
    assert "nginx -t" in command
    assert "include /usr/share/nginx/modules/*.conf?" in command
    assert command.endswith(
        "ss -Hltn 'sport = :4000' | grep -q . && echo public port listening || true"
    )


def test_the_serving_ports_are_opened_only_in_an_active_firewall():
    assert system.open_ports((80, 443)) == (
        "if command -v ufw >/dev/null 2>&1 && ufw status | grep -q '^Status: active'; then"
        ' for p in 80/tcp 443/tcp; do ufw status | grep -q "^$p .*ALLOW" ||'
        ' { ufw allow "$p" >/dev/null && echo "changed: ufw allow $p"; }; done;'
        " elif command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1;"
        ' then for p in 80/tcp 443/tcp; do firewall-cmd -q --query-port="$p" ||'
        ' { firewall-cmd -q --permanent --add-port="$p" && firewall-cmd -q --add-port="$p"'
        ' && echo "changed: firewalld add-port $p"; }; done;'
        " else echo 'no active ufw or firewalld'; fi"
    )
