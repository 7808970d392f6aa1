import re
import socket
import subprocess
import time

from bluegreen.shell import nginx


def test_paths_live_outside_conf_d_except_the_site():
    assert nginx.site_path("shop") == "/etc/nginx/conf.d/bluegreen-shop.conf"
    assert nginx.live_path("shop") == "/etc/nginx/bluegreen/shop.live.conf"


def test_install_writes_next_to_target_tests_then_reloads():
    script = nginx.install([("/etc/nginx/a.conf", "x;")])
    assert script.splitlines() == [
        "set -e",
        "mkdir -p /etc/nginx",
        "printf '%s' 'x;' > /etc/nginx/a.conf.new",
        "if [ -f /etc/nginx/a.conf ]; then cp -p /etc/nginx/a.conf /etc/nginx/a.conf.prev;"
        " else rm -f /etc/nginx/a.conf.prev; fi",
        "mv -f /etc/nginx/a.conf.new /etc/nginx/a.conf",
        "if ! out=$(nginx -t 2>&1); then if [ -f /etc/nginx/a.conf.prev ];"
        " then mv -f /etc/nginx/a.conf.prev /etc/nginx/a.conf; else rm -f /etc/nginx/a.conf; fi;"
        ' printf "%s\\n" "$out" | grep -v "test failed$" >&2; exit 3; fi',
        "nginx -s reload",
    ]


def test_a_file_mode_switch_only_renames_the_state_file():
    assert nginx.install([("/etc/nginx/bluegreen/a.state", "blue r1\n")], reload=False) == (
        "set -e\n"
        "mkdir -p /etc/nginx/bluegreen\n"
        "printf '%s' 'blue r1\n' > /etc/nginx/bluegreen/a.state.new\n"
        "if [ -f /etc/nginx/bluegreen/a.state ]; then cp -p /etc/nginx/bluegreen/a.state"
        " /etc/nginx/bluegreen/a.state.prev; else rm -f /etc/nginx/bluegreen/a.state.prev; fi\n"
        "mv -f /etc/nginx/bluegreen/a.state.new /etc/nginx/bluegreen/a.state"
    )


def test_a_state_file_takes_effect_only_after_the_new_configuration_passed_nginx_t():
    """njs reads the state file per request: renamed ahead of a failing test, it would send
    traffic to the new color under a configuration that is then put back."""
    lines = nginx.install([("/e/a.conf", "x;"), ("/e/a.state", "green r2\n")]).splitlines()
    test = next(i for i, line in enumerate(lines) if "nginx -t" in line)
    assert lines.index("mv -f /e/a.conf.new /e/a.conf") < test
    assert lines.index("mv -f /e/a.state.new /e/a.state") == test + 1
    assert "rm -f /e/a.state.new; printf" in lines[test]  # a failed test leaves no state
    assert "/e/a.state.prev /e/a.state" not in lines[test]
    assert lines[-1] == "nginx -s reload"


def test_uninstall_removes_every_file_of_the_app():
    assert nginx.uninstall("shop") == (
        "rm -f /etc/nginx/conf.d/bluegreen-shop.conf /etc/nginx/conf.d/bluegreen-shop.http.conf"
        " /etc/nginx/bluegreen/shop.live.conf /etc/nginx/bluegreen/shop.state"
        " /etc/nginx/bluegreen/shop.js /etc/nginx/bluegreen/shop.current"
        " /etc/nginx/bluegreen/shop.drain && rm -rf /etc/nginx/bluegreen/shop.states"
        " && nginx -t 2>/dev/null && nginx -s reload"
    )


def test_core_mode_points_the_state_link_with_one_rename_keeping_the_replaced_state():
    assert nginx.point_link("shop", "green,r2,blue,r1,05,sticky") == (
        'old=$(basename "$(readlink /etc/nginx/bluegreen/shop.current)" 2>/dev/null);'
        " mkdir -p /etc/nginx/bluegreen/shop.states/green,r2,blue,r1,05,sticky\n"
        'for s in /etc/nginx/bluegreen/shop.states/*; do case "${s##*/}" in'
        ' green,r2,blue,r1,05,sticky|"$old") ;; *) rmdir "$s" 2>/dev/null || true;; esac; done\n'
        "ln -sfn shop.states/green,r2,blue,r1,05,sticky /etc/nginx/bluegreen/shop.current.new"
        " && mv -Tf /etc/nginx/bluegreen/shop.current.new /etc/nginx/bluegreen/shop.current"
    )


def test_a_core_switch_with_a_new_site_moves_the_link_after_the_test_before_the_reload():
    command = nginx.install([("/etc/nginx/conf.d/x.conf", "s")], reload=True, then="LINK")
    assert command.endswith("exit 3; fi\nLINK\nnginx -s reload")
    assert nginx.install([], reload=False, then="LINK") == "set -e\nLINK"


def test_njs_probe_finds_a_load_module_line_through_symlinks(tmp_path):
    enabled = tmp_path / "modules-enabled"
    enabled.mkdir()
    (tmp_path / "50-mod-http-js.conf").write_text("load_module modules/ngx_http_js_module.so;\n")
    probe = nginx.njs_probe().replace("/etc/nginx/modules-enabled", str(enabled))
    assert subprocess.run(["sh", "-c", probe], capture_output=True, text=True).stdout == "njs=\n"
    (enabled / "50-mod-http-js.conf").symlink_to(tmp_path / "50-mod-http-js.conf")
    out = subprocess.run(["sh", "-c", probe], capture_output=True, text=True).stdout
    assert out == "njs=yes\n"


def test_wait_old_workers_is_bounded():
    assert nginx.wait_old_workers(2.5) == (
        "i=0; while pgrep -f '[n]ginx: worker process is shutting down' >/dev/null"
        " && [ $i -lt 25 ]; do sleep 0.1; i=$((i+1)); done"
    )


def _run_with_fake_nginx(tmp_path, script: str, nginx_ok: bool) -> subprocess.CompletedProcess:
    """Run the install script for real in a temp dir, with a stub `nginx` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "nginx"
    stub.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = -t ] && {{ {"exit 0" if nginx_ok else "echo emerg: bad >&2; exit 1"}; }}\n'
        f"echo reloaded >> {tmp_path}/reloads\n"
    )
    stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)


def test_a_failed_test_restores_every_file_and_never_reloads(tmp_path):
    live, site = tmp_path / "live.conf", tmp_path / "site.conf"
    live.write_text("old live")
    script = nginx.install([(str(site), "new site"), (str(live), "new live; $(rm -rf /) '\"")])
    result = _run_with_fake_nginx(tmp_path, script, nginx_ok=False)
    assert result.returncode == 3
    assert "emerg: bad" in result.stderr
    assert live.read_text() == "old live"
    assert not site.exists()
    assert not (tmp_path / "reloads").exists()


def test_a_passing_test_installs_content_byte_for_byte_and_reloads_once(tmp_path):
    live = tmp_path / "sub" / "live.conf"
    content = "upstream x { server 127.0.0.1:4001; }\n# it's $HOME `id` \\n\n"
    result = _run_with_fake_nginx(tmp_path, nginx.install([(str(live), content)]), nginx_ok=True)
    assert result.returncode == 0, result.stderr
    assert live.read_text() == content
    assert (tmp_path / "reloads").read_text() == "reloaded\n"


def test_the_access_log_is_read_from_an_offset_in_one_command():
    assert nginx.access_log_path("shop") == "/var/log/nginx/bluegreen-shop.access.log"
    path = "/var/log/nginx/my log"
    assert nginx.read_log(path, None) == (
        "size=$(stat -c %s '/var/log/nginx/my log' 2>/dev/null || echo 0); echo size=$size"
    )
    assert nginx.read_log(path, 120, limit=1000) == (
        "size=$(stat -c %s '/var/log/nginx/my log' 2>/dev/null || echo 0); echo size=$size;"
        " start=120; [ $size -ge $start ] || start=0; echo start=$start;"
        " [ $size -gt $start ] && tail -c +$((start + 1)) '/var/log/nginx/my log'"
        " | head -c 1000; true"
    )


def test_reading_the_log_returns_new_bytes_and_starts_over_after_a_rotation(tmp_path):
    log = tmp_path / "access.log"

    def read(offset):
        command = nginx.read_log(str(log), offset, limit=8)
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True).stdout

    assert read(None) == "size=0\n"
    assert read(0) == "size=0\nstart=0\n"
    log.write_text("aaaa\nbbbb\n")
    assert read(None) == "size=10\n"
    assert read(5) == "size=10\nstart=5\nbbbb\n"
    assert read(10) == "size=10\nstart=10\n"
    assert read(0) == "size=10\nstart=0\naaaa\nbbb"  # at most ``limit`` bytes
    log.write_text("cc\n")  # rotated: smaller than the offset
    assert read(10) == "size=3\nstart=0\ncc\n"


NGINX_T = """# configuration file /etc/nginx/nginx.conf:
http {
# configuration file /etc/nginx/conf.d/00-bluegreen-refuse.conf:
server {
    listen 80 default_server;
# configuration file /etc/nginx/sites-enabled/default:
server {
\tlisten 80 default_server;
\t# listen 443 ssl default_server;
\tlisten [::]:80 default_server;
        listen 4000;
"""


def test_foreign_defaults_probe_reads_only_files_we_did_not_install(tmp_path):
    fake = tmp_path / "nginx"
    version = '[ "$1" = -v ] && echo "nginx version: nginx/1.22.1" >&2 && exit 0'
    fake.write_text(f"#!/bin/sh\n{version}\ncat <<'EOF'\n{NGINX_T}EOF\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    out = subprocess.run(
        ["sh", "-c", nginx.foreign_defaults_probe()], capture_output=True, text=True, env=env
    ).stdout
    assert out == (
        "nginx_version=nginx version: nginx/1.22.1\n"
        "default_server=\tlisten 80 default_server;\n"
        "default_server=\tlisten [::]:80 default_server;\n"
    )
    assert nginx.refuse_path() == "/etc/nginx/conf.d/00-bluegreen-refuse.conf"


def test_leaving_the_balancer_creates_the_drain_mark_and_rejoining_removes_it():
    assert nginx.leave("shop") == (
        "mkdir -p /etc/nginx/bluegreen && : > /etc/nginx/bluegreen/shop.drain"
    )
    assert nginx.rejoin("shop") == "rm -f /etc/nginx/bluegreen/shop.drain"


def test_wait_busy_counts_connections_under_way_not_idle_keep_alive():
    """Run for real on loopback sockets (ss -i): an idle keep-alive connection whose last
    answer is over a second old holds nothing up; one awaiting its answer waits to the bound."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    idle = socket.create_connection(("127.0.0.1", port))
    idle_app, _ = server.accept()
    idle.sendall(b"request")
    idle_app.recv(100)
    idle_app.sendall(b"answer")
    idle.recv(100)
    time.sleep(1.1)
    drain = ["sh", "-c", nginx.wait_busy([port], 0.5)]
    assert subprocess.run(drain, capture_output=True, text=True).stdout == "busy=0 waited=0.0\n"
    waiting = socket.create_connection(("127.0.0.1", port))
    waiting_app, _ = server.accept()
    waiting.sendall(b"a long request")
    waiting_app.recv(100)
    said = subprocess.run(drain, capture_output=True, text=True).stdout
    # waited the bound (0.5 s), in the clock's tenths; a busy machine may add some
    assert re.fullmatch(r"busy=1 waited=(0\.[5-9]|1\.[0-9])\n", said), said
    for sock in (idle, idle_app, waiting, waiting_app, server):
        sock.close()
