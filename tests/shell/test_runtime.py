"""The runtime switch: docker's commands as before, process's for runtime: process."""

from bluegreen.config.inventory import App, Host, Ports
from bluegreen.shell import docker, process, runtime

HOST = Host(name="web1", address="203.0.113.10", app_dir="/srv/shop")


def test_docker_is_the_default_and_runs_containers() -> None:
    runs = runtime.of(App(name="shop"))
    assert runs.name("blue") == "shop-blue"
    assert runs.stop("blue") == docker.stop("shop", "blue")
    command, env = runs.run("blue", "abc", HOST, Ports(), {"A": "1"})
    assert command.startswith("umask 077") and "docker run" in command
    assert env == "A=1\n"


def test_process_runs_units_with_the_color_port_in_the_env() -> None:
    app = App(name="shop", runtime="process", command="python3 app.py")
    runs = runtime.of(app)
    assert runs.name("green") == "bluegreen-shop@green.service"
    assert runs.start("green") == process.start("shop", "green")
    assert runs.retire(HOST, "green") == "rm -f /srv/shop/green.release-prev"
    assert runs.artifact(HOST, "abc") == "/srv/shop/releases/abc"
    command, env = runs.run("green", "abc", HOST, Ports(), {"A": "1"})
    assert command == process.run(app, "green", "abc", HOST)
    assert env == 'A="1"\nHOST="127.0.0.1"\nPORT="4002"\n'
