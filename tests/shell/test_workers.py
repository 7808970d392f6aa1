"""Commands of app.processes (workers), both runtimes, as exact strings."""

from bluegreen.config.inventory import App, AppProcess, ContainerOptions, Host
from bluegreen.shell import workers

WORKER = AppProcess("worker", "exec node worker.js --queue 'a b'", ("web1",), "SIGQUIT", 60)
MAILER = AppProcess("mailer", "sh mail.sh")
OPTIONS = ContainerOptions(memory="256m")
DOCKER = App(name="shop", processes=(WORKER, MAILER), options=OPTIONS)
PROCESS = App(name="shop", runtime="process", command="x", processes=(WORKER,), options=OPTIONS)
HOST = Host(name="web1", address="203.0.113.10", app_dir="/srv/shop", network="host")
UNIT = "bluegreen-shop-worker.service"
# the app's unit lines (limits, its system user, hardening) as systemd-run properties
AS_UNIT = (
    " -p MemoryMax=256M -p User=bg-shop -p NoNewPrivileges=yes -p PrivateTmp=yes"
    " -p ProtectSystem=strict -p ProtectHome=yes -p StateDirectory=bluegreen-shop"
)
INSPECT = (
    "docker container inspect -f"
    " '{{.State.Running}} {{index .Config.Labels \"bluegreen.release\"}}'"
)


def test_a_docker_stop_leaves_a_process_on_the_release_alone_and_waits_its_stop_timeout():
    assert workers.docker_stop("shop", WORKER, "abc") == (
        f"if [ \"$({INSPECT} shop-worker 2>/dev/null)\" = 'true abc' ];"
        " then echo process_worker=current;"
        " elif docker container inspect shop-worker >/dev/null 2>&1;"
        " then docker stop -t 60 shop-worker >/dev/null && echo process_worker=stopped;"
        " else echo process_worker=none; fi"
    )


def test_a_docker_process_runs_the_release_image_with_its_own_signal_and_timeout():
    assert workers.docker_run(DOCKER, WORKER, "abc", HOST) == (
        "{ docker rm -f shop-worker-prev >/dev/null 2>&1 || true; }"
        " && { ! docker container inspect shop-worker >/dev/null 2>&1"
        " || { docker stop shop-worker >/dev/null"
        " && docker rename shop-worker shop-worker-prev; }; }"
        " && docker run -d --pull never --name shop-worker --restart unless-stopped"
        " --label bluegreen.app=shop --label bluegreen.process=worker"
        " --label bluegreen.release=abc --env-file /srv/shop/_processes.env --network host"
        " --memory 256m --stop-timeout 60 --stop-signal SIGQUIT --entrypoint /bin/sh shop:abc"
        " -c 'exec node worker.js --queue '\"'\"'a b'\"'\"'' >/dev/null"
    )


def test_the_start_writes_the_env_starts_each_process_then_checks_each_stays_up():
    up = (
        "{ [ \"$(docker container inspect -f '{{.State.Running}} {{.RestartCount}}' shop-worker)\""
        " = \"true 0\" ] || { echo 'worker did not stay up for 2 s:';"
        " docker logs --tail 10 shop-worker 2>&1; exit 1; }; }"
    )
    assert workers.start_all(DOCKER, (WORKER,), "abc", HOST) == (
        "umask 077 && mkdir -p /srv/shop && { cat > /srv/shop/_processes.env.new"
        " && mv -f /srv/shop/_processes.env.new /srv/shop/_processes.env"
        " || { rm -f /srv/shop/_processes.env.new; false; }; }"
        f" && {workers.docker_run(DOCKER, WORKER, 'abc', HOST)} && sleep 2 && {up}"
    )


def test_every_process_of_a_host_stops_at_once():
    assert workers.stop_all(DOCKER, (WORKER, MAILER), "abc", HOST) == (
        f"{{ {workers.docker_stop('shop', WORKER, 'abc')}; }} &\n"
        f"{{ {workers.docker_stop('shop', MAILER, 'abc')}; }} &\nwait"
    )


def test_putting_back_restores_the_set_aside_containers_and_starts_those_that_ran():
    assert workers.restore_all(DOCKER, {WORKER: True, MAILER: False}, HOST) == (
        "docker rm -f shop-worker >/dev/null 2>&1;"
        " if docker container inspect shop-worker-prev >/dev/null 2>&1;"
        " then docker rename shop-worker-prev shop-worker"
        " && docker start shop-worker >/dev/null; fi;"
        " docker rm -f shop-mailer >/dev/null 2>&1;"
        " if docker container inspect shop-mailer-prev >/dev/null 2>&1;"
        " then docker rename shop-mailer-prev shop-mailer; fi"
    )
    assert workers.restart_all(DOCKER, {WORKER: True, MAILER: False}, HOST) == (
        "docker start shop-worker >/dev/null"
    )
    assert workers.restart_all(DOCKER, {MAILER: False}, HOST) == "true"


def test_the_unit_sends_the_stop_signal_to_the_main_process_and_waits_its_timeout():
    assert workers.unit_file(PROCESS, WORKER, "/srv/shop") == (
        "# bluegreen app=shop process=worker\n"
        "[Unit]\n"
        "Description=bluegreen shop worker\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        "WorkingDirectory=/srv/shop/worker.release\n"
        "EnvironmentFile=/srv/shop/_processes.env\n"
        "ExecStart=/bin/sh -c \"exec node worker.js --queue 'a b'\"\n"
        "Restart=on-failure\n"
        "RestartSec=1\n"
        "KillMode=mixed\n"
        "KillSignal=SIGQUIT\n"
        "TimeoutStopSec=60\n"
        "MemoryMax=256M\n"
        "User=bg-shop\n"
        "NoNewPrivileges=yes\n"
        "PrivateTmp=yes\n"
        "ProtectSystem=strict\n"
        "ProtectHome=yes\n"
        "StateDirectory=bluegreen-shop\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def test_a_systemd_process_stops_unless_its_link_names_the_release():
    assert workers.systemd_stop("shop", WORKER, "abc", "/srv/shop") == (
        f'if systemctl is-active -q {UNIT} && [ "$(readlink /srv/shop/worker.release)"'
        " = /srv/shop/releases/abc ]; then echo process_worker=current;"
        f" elif systemctl is-active -q {UNIT}; then systemctl stop {UNIT}"
        " && echo process_worker=stopped; else echo process_worker=none; fi"
    )


def test_a_systemd_process_starts_in_the_release_directory_after_the_old_link_is_set_aside():
    command = workers.systemd_run(PROCESS, WORKER, "abc", HOST)
    assert command.endswith(
        " && rm -f /srv/shop/worker.release-prev"
        f" && {{ systemctl disable --no-reload -q {UNIT} 2>/dev/null; systemctl stop {UNIT}; }}"
        " && { ! [ -L /srv/shop/worker.release ]"
        " || mv -fT /srv/shop/worker.release /srv/shop/worker.release-prev; }"
        " && ln -sfn /srv/shop/releases/abc /srv/shop/worker.release"
        f" && systemctl enable --no-reload -q {UNIT} && systemctl start {UNIT}"
    )
    assert command.startswith(
        "{ id -u bg-shop >/dev/null 2>&1 || useradd --system --user-group --no-create-home"
    )
    assert "0700 /srv/shop/.home && printf '%s' '# bluegreen app=shop process=worker\n" in command
    assert f"/etc/systemd/system/{UNIT}.new" in command


def test_a_systemd_process_counts_as_up_when_active_and_never_restarted():
    assert workers.systemd_up(PROCESS, WORKER, "/srv/shop") == (
        f"{{ systemctl is-active -q {UNIT}"
        f' && [ "$(systemctl show -p NRestarts --value {UNIT})" = 0 ]; }}'
        " || { echo 'worker did not stay up for 2 s:';"
        f" journalctl --no-pager -o cat -n 10 -u {UNIT} 2>&1; exit 1; }}"
    )
    assert workers.restart_all(PROCESS, {WORKER: True}, HOST) == f"systemctl start {UNIT}"


def test_the_env_file_is_written_as_each_runtime_reads_it():
    env = {"A": 'x "y" $z'}
    assert workers.env_text(PROCESS, env) == 'A="x \\"y\\" \\$z"\n'
    assert workers.env_text(DOCKER, env) == 'A=x "y" $z\n'


def test_the_probe_reads_only_the_host_s_processes():
    other = Host(name="web2", address="203.0.113.11", app_dir="/srv/shop")
    assert workers.probe(DOCKER, other) == workers.docker_probe("shop", MAILER)
    assert workers.probe(PROCESS, other) == ""
    assert workers.probe(PROCESS, HOST) == (
        'if [ -L /srv/shop/worker.release ]; then echo "process_worker='
        f'$(systemctl is-active {UNIT}) $(basename "$(readlink /srv/shop/worker.release)")'
        f' $(systemctl show -p ActiveEnterTimestamp --value {UNIT})"; fi'
    )


def test_exec_runs_beside_the_process_in_its_container_or_as_its_unit_would():
    assert workers.exec_in(DOCKER, "worker", HOST, ["rake", "jobs:stats"]) == (
        "docker exec shop-worker rake jobs:stats 2>&1"
    )
    assert workers.exec_in(PROCESS, "worker", HOST, ["ls", "a b"]) == (
        "systemd-run --quiet --pipe --wait --collect -p EnvironmentFile=/srv/shop/_processes.env"
        f" -p WorkingDirectory=/srv/shop/worker.release{AS_UNIT} -- ls 'a b' 2>&1"
    )


def test_a_health_command_runs_beside_the_started_process_and_shows_its_output_on_failure():
    checked = AppProcess("worker", "x", health="bin/check --queue 'a b'")
    failed = " || { echo 'worker health failed:'; echo \"$out\"; exit 1; }; }"
    assert workers.docker_up("shop", checked).endswith(
        " && { out=$(docker exec shop-worker /bin/sh -c 'bin/check --queue '\"'\"'a b'\"'\"''"
        f" 2>&1){failed}"
    )
    assert workers.systemd_up(PROCESS, checked, "/srv/shop").endswith(
        " && { out=$(systemd-run --quiet --pipe --wait --collect"
        " -p EnvironmentFile=/srv/shop/_processes.env -p WorkingDirectory=/srv/shop/worker.release"
        f"{AS_UNIT} -- /bin/sh -c 'bin/check --queue '\"'\"'a b'\"'\"'' 2>&1)" + failed
    )
    assert "health" not in workers.docker_up("shop", WORKER)


def test_with_overlap_the_old_container_runs_on_until_the_new_one_is_up():
    both = AppProcess("mailer", "sh mail.sh", stop_timeout=7, overlap=True)
    assert workers.docker_stop("shop", both, "abc").endswith(
        " elif docker container inspect shop-mailer >/dev/null 2>&1;"
        " then echo process_mailer=overlap; else echo process_mailer=none; fi"
    )
    assert workers.docker_run(DOCKER, both, "abc", HOST).startswith(
        "{ docker rm -f shop-mailer-prev >/dev/null 2>&1 || true; }"
        " && { ! docker container inspect shop-mailer >/dev/null 2>&1"
        " || docker rename shop-mailer shop-mailer-prev; } && docker run -d"
    )
    assert workers.start_all(DOCKER, (both,), "abc", HOST).endswith(
        f"{workers.docker_up('shop', both)}; }}"
        " && { docker stop -t 7 shop-mailer-prev >/dev/null 2>&1 || true; }"
    )
