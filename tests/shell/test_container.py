from bluegreen.config.inventory import App, ContainerOptions, Host, Ports
from bluegreen.shell import container, docker

HOST = Host(name="web1", address="10.0.0.1", app_dir="/srv/shop", network="host")
FULL = App(
    name="shop",
    volumes=("shop-data:/data", "/srv/uploads:/app/uploads:ro"),
    options=ContainerOptions(
        memory="256m",
        cpus=0.5,
        ulimits={"nofile": "1024:2048"},
        shm_size="64m",
        extra_hosts={"db.internal": "10.0.0.5"},
        labels={"team": "web shop"},
        log={"max-size": "10m"},
        user="1000:1000",
    ),
    stop_timeout=20,
)


def test_settings_are_the_whitelisted_docker_run_flags_in_one_order():
    assert container.settings(FULL) == (
        "-v shop-data:/data -v /srv/uploads:/app/uploads:ro --memory 256m --cpus 0.5"
        " --ulimit nofile=1024:2048 --shm-size 64m --add-host db.internal:10.0.0.5"
        " --label 'team=web shop' --log-opt max-size=10m --user 1000:1000 --stop-timeout 20"
    )
    assert container.settings(App(name="shop")) == "--stop-timeout 10"


def test_both_colors_get_the_settings():
    command = docker.run("shop", "blue", "abc", HOST, Ports(), 8080, container.settings(FULL))
    assert "--network host -e HOST=127.0.0.1 -e PORT=4001 -v shop-data:/data" in command
    assert command.endswith("--user 1000:1000 --stop-timeout 20 shop:abc >/dev/null")


def test_a_release_command_line_runs_in_a_shell_in_a_one_off_container_of_the_new_image():
    app = App(name="shop", release="bin/migrate && echo 'done $(x)'", volumes=("d:/data",))
    assert container.release(app, app.release, "abc", HOST) == (
        "umask 077 && mkdir -p /srv/shop && cat > /srv/shop/release.env"
        " && { docker rm -f shop-release >/dev/null 2>&1 || true; }"
        " && { docker run --rm --pull never --name shop-release --label bluegreen.app=shop"
        " --label bluegreen.role=release --env-file /srv/shop/release.env --network host"
        " -v d:/data --stop-timeout 10 --entrypoint /bin/sh shop:abc"
        " -c 'bin/migrate && echo '\"'\"'done $(x)'\"'\"''"
        " 2>&1; code=$?; rm -f /srv/shop/release.env; exit $code; }"
    )


def test_a_release_command_list_is_run_as_it_is():
    app = App(name="shop", release=("/app/migrate", "--to", "latest version"))
    bridge = Host(name="web1", address="10.0.0.1", app_dir="/srv/shop")
    command = container.release(app, app.release, "abc", bridge)
    assert "--network" not in command
    assert "--entrypoint /app/migrate shop:abc --to 'latest version' 2>&1;" in command


def test_env_lines_are_an_env_file():
    assert container.env_lines({"A": "1", "B": "x y"}) == "A=1\nB=x y\n"


def test_exec_passes_each_argument_as_one_word():
    command = container.exec_in("shop", "green", ["sh", "-c", 'echo "$(id)" it\'s', ""])
    assert command == ("docker exec shop-green sh -c 'echo \"$(id)\" it'\"'\"'s' '' 2>&1")


def test_exec_with_a_terminal_keeps_its_output_on_the_terminal():
    command = container.exec_in("shop", "blue", ["bin/console", "a b"], tty=True)
    assert command == "docker exec -it shop-blue bin/console 'a b'"


def test_exec_new_runs_the_image_with_the_colors_env_file_and_the_exact_words():
    app = App(name="shop", volumes=("shop-data:/data",), options=ContainerOptions(memory="96m"))
    host = Host(name="w", address="a", app_dir="/srv/shop", network="host")
    argv = ["sh", "-c", 'echo "$(id)" it\'s', "a  b", ""]
    assert container.exec_new(app, "green", "r1", host, argv, tty=False) == (
        "docker run --rm --pull never --label bluegreen.app=shop --label bluegreen.role=exec"
        " --env-file /srv/shop/green.env --network host -v shop-data:/data --memory 96m"
        " --stop-timeout 10 --entrypoint sh shop:r1 -c 'echo \"$(id)\" it'\"'\"'s' 'a  b' ''"
        " 2>&1"
    )
    tty = container.exec_new(app, "green", "r1", host, ["sh"], tty=True)
    assert tty.startswith("docker run --rm --pull never -it --label bluegreen.app=shop ")
    assert tty.endswith(" --entrypoint sh shop:r1")
