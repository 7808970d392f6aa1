"""systemd commands of runtime: process, as exact strings (quoting of command and env)."""

from dataclasses import replace

from bluegreen.config.inventory import App, ContainerOptions, Host
from bluegreen.shell import process

APP = App(
    name="shop",
    runtime="process",
    command='python3 app.py --greet "$USER" 100%',
    build_command="python3 -m venv .venv",
    options=ContainerOptions(memory="256m", cpus=0.5, user="app:web"),
)
HOST = Host(name="web1", address="203.0.113.10", app_dir="/srv/shop")


def test_the_unit_file_escapes_systemd_specifiers_and_expansion_and_sets_limits() -> None:
    assert process.unit_file(APP, "/srv/shop") == (
        "# bluegreen app=shop\n"
        "[Unit]\n"
        "Description=bluegreen shop (%i)\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        "WorkingDirectory=/srv/shop/%i.release\n"
        "EnvironmentFile=/srv/shop/%i.env\n"
        'ExecStart=/bin/sh -c "python3 app.py --greet \\"$$USER\\" 100%%"\n'
        "Restart=on-failure\n"
        "RestartSec=1\n"
        "TimeoutStopSec=10\n"
        "MemoryMax=256M\n"
        "CPUQuota=50%\n"
        "User=app\n"
        "Group=web\n"
        "NoNewPrivileges=yes\n"
        "PrivateTmp=yes\n"
        "ProtectSystem=strict\n"
        "ProtectHome=yes\n"
        "StateDirectory=bluegreen-shop\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


DEFAULT = App(name="shop", runtime="process", command="exec ./app", build_command="make")


def test_without_options_user_every_unit_runs_as_the_apps_own_system_user() -> None:
    assert process.limits(DEFAULT) == [
        "User=bg-shop",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "StateDirectory=bluegreen-shop",
    ]
    assert process.ensure_user(DEFAULT, "/srv/shop") == (
        "{ id -u bg-shop >/dev/null 2>&1 || useradd --system --user-group --no-create-home"
        " --home-dir /srv/shop/.home --shell /usr/sbin/nologin bg-shop; }"
        " && install -d -o bg-shop -g bg-shop -m 0700 /srv/shop/.home && "
    )
    assert process.ensure_user(APP, "/srv/shop") == ""  # options.user: the operator's user


def test_systemd_quote_escapes_backslashes_first() -> None:
    assert process.systemd_quote("a\\b") == '"a\\\\b"'


def test_memory_sizes_become_systemd_suffixes() -> None:
    assert [process.memory_max(m) for m in ("512m", "1g", "64k", "100b", "1024")] == [
        "512M",
        "1G",
        "64K",
        "100",
        "1024",
    ]


def test_the_env_file_is_double_quoted_as_systemd_reads_it_with_host_and_port() -> None:
    assert process.env_lines({"A": 'x "y" $z \\n'}, 4001) == (
        'A="x \\"y\\" \\$z \\\\n"\nHOST="127.0.0.1"\nPORT="4001"\n'
    )


def test_run_writes_the_env_installs_the_unit_sets_the_old_release_aside_and_starts() -> None:
    unit = "/etc/systemd/system/bluegreen-shop@.service"
    assert process.run(APP, "blue", "abc123", HOST) == (
        "umask 077 && mkdir -p /srv/shop"
        " && { cat > /srv/shop/blue.env.new && mv -f /srv/shop/blue.env.new /srv/shop/blue.env"
        " || { rm -f /srv/shop/blue.env.new; false; }; }"
        f" && {process.install_unit(APP, '/srv/shop')}"
        " && rm -f /srv/shop/blue.release-prev"
        " && { systemctl disable --no-reload -q bluegreen-shop@blue.service 2>/dev/null;"
        " systemctl stop bluegreen-shop@blue.service; }"
        " && { ! [ -L /srv/shop/blue.release ]"
        " || mv -fT /srv/shop/blue.release /srv/shop/blue.release-prev; }"
        " && ln -sfn /srv/shop/releases/abc123 /srv/shop/blue.release"
        " && systemctl enable --no-reload -q bluegreen-shop@blue.service"
        " && systemctl start bluegreen-shop@blue.service"
    )
    assert process.install_unit(APP, "/srv/shop").endswith(
        f" > {unit}.new && {{ if cmp -s {unit}.new {unit}; then rm -f {unit}.new;"
        f" else mv -f {unit}.new {unit} && systemctl daemon-reload; fi; }}"
    )


def test_restore_gives_the_kept_release_its_link_back_and_starts_it_when_it_ran() -> None:
    stop = (
        "{ systemctl disable --no-reload -q bluegreen-shop@green.service 2>/dev/null;"
        " systemctl stop bluegreen-shop@green.service; }"
    )
    assert process.restore("shop", "/srv/shop", "green", running=False) == (
        f"{stop}; if [ -L /srv/shop/green.release-prev ];"
        " then mv -fT /srv/shop/green.release-prev /srv/shop/green.release; fi"
    )
    assert process.restore("shop", "/srv/shop", "green", running=True).endswith(
        " /srv/shop/green.release && systemctl enable --no-reload -q bluegreen-shop@green.service"
        " && systemctl start bluegreen-shop@green.service; fi"
    )


def test_logs_come_from_journald_and_exec_runs_through_systemd_with_the_colors_env() -> None:
    assert process.logs("shop", "blue", 50, follow=True) == (
        "journalctl --no-pager -o cat -n 50 --follow -u bluegreen-shop@blue.service 2>&1"
    )
    assert process.exec_in(DEFAULT, "/srv/shop", "blue", ["sh", "-c", "echo $PORT"]) == (
        "systemd-run --quiet --pipe --wait --collect -p EnvironmentFile=/srv/shop/blue.env"
        " -p WorkingDirectory=/srv/shop/blue.release -p User=bg-shop -p NoNewPrivileges=yes"
        " -p PrivateTmp=yes -p ProtectSystem=strict -p ProtectHome=yes"
        " -p StateDirectory=bluegreen-shop -- sh -c 'echo $PORT' 2>&1"
    )


def test_build_runs_the_build_command_as_the_apps_user_and_marks_the_release_built() -> None:
    assert process.build(APP, "/srv/shop", "/srv/shop/releases/abc") == (
        "chown -R app:web /srv/shop/releases/abc && out=$({ cd /srv/shop/releases/abc"
        " && runuser -u app -g web -- sh -c 'python3 -m venv .venv'; } 2>&1)"
        ' || { printf "%s\\n" "$out" | tail -n 30 >&2; exit 1; }'
        " && touch /srv/shop/releases/abc/.bluegreen-built"
    )
    assert process.build(DEFAULT, "/srv/shop", "/srv/shop/releases/abc").startswith(
        process.ensure_user(DEFAULT, "/srv/shop") + "chown -R bg-shop: /srv/shop/releases/abc"
        " && out=$({ cd /srv/shop/releases/abc && runuser -u bg-shop -- sh -c make; }"
    )
    local = replace(APP, build="local")  # the tree arrived built on the operator's machine
    assert process.build(local, "/srv/shop", "/srv/shop/releases/abc") == (
        "chown -R app:web /srv/shop/releases/abc && touch /srv/shop/releases/abc/.bluegreen-built"
    )
    assert process.built("/srv/shop", "abc") == (
        "[ -f /srv/shop/releases/abc/.bluegreen-built ] && echo image=present || echo image="
    )


def test_the_probe_reports_each_colors_state_and_release_as_the_container_lines() -> None:
    assert process.probe("shop", "/srv/shop")[2] == (
        "if [ -L /srv/shop/green.release ]; then printf 'container_green=%s %s\\n'"
        ' "$(systemctl is-active bluegreen-shop@green.service >/dev/null && echo running'
        ' || echo exited)" "$(basename "$(readlink /srv/shop/green.release)")"; fi'
    )


def test_prune_keeps_every_linked_release_and_the_newest_others() -> None:
    assert process.prune("/srv/shop", 2) == (
        "used=$(for l in /srv/shop/blue.release /srv/shop/blue.release-prev"
        ' /srv/shop/green.release /srv/shop/green.release-prev; do [ -L "$l" ]'
        ' && basename "$(readlink "$l")"; done);'
        " ls -1t /srv/shop/releases 2>/dev/null | grep -vxF -e \"$used\" -e ''"
        " | grep -v '\\.tmp$' | tail -n +3"
        ' | while read -r r; do rm -rf /srv/shop/releases/"$r" && echo pruned="$r"; done; true'
    )
