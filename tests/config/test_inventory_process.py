"""hosts.yml with runtime: process: what it needs, and what only Docker has, refused."""

from pathlib import Path

import pytest

from tests.config.test_inventory import load, load_error, write

PROCESS = "name: e, runtime: process"


def test_a_process_app_lands_with_its_command_and_build_command(tmp_path: Path) -> None:
    text = (
        "app: {name: e, runtime: process, command: 'exec .venv/bin/python app.py',"
        " build_command: 'python3 -m venv .venv', options: {memory: 128m, cpus: 0.5}}\n"
        "hosts: {w: a}\n"
    )
    app = load(write(tmp_path, text)).app
    assert (app.runtime, app.command, app.build_command) == (
        "process",
        "exec .venv/bin/python app.py",
        "python3 -m venv .venv",
    )
    assert (app.options.memory, app.options.cpus) == ("128m", 0.5)


def test_a_node_app_builds_its_tree_locally(tmp_path: Path) -> None:
    """build: local with runtime: process: build_command runs on the operator's machine."""
    text = (
        f"app: {{{PROCESS}, command: node app.js, build: local, build_command: npm ci,"
        " language: node}\nhosts: {w: a}\n"
    )
    app = load(write(tmp_path, text)).app
    assert (app.build, app.build_command, app.language) == ("local", "npm ci", "node")


BAD = [
    ("{name: e, runtime: podman}", "app.runtime", "expected 'docker' or 'process'"),
    (f"{{{PROCESS}}}", "app.command", "required with runtime: process"),
    (f'{{{PROCESS}, command: "a\\nb"}}', "app.command", "must be one line"),
    (f'{{{PROCESS}, command: x, build_command: "a\\rb"}}', "app.build_command", "one line"),
    (f"{{{PROCESS}, command: ''}}", "app.command", "expected a command line"),
    (f"{{{PROCESS}, command: x, image: r.io/e:1}}", "app.image", "only for runtime: docker"),
    (f"{{{PROCESS}, command: x, volumes: ['d:/d']}}", "app.volumes", "only for runtime: docker"),
    (f"{{{PROCESS}, command: x, dockerfile: D}}", "app.dockerfile", "only for runtime: docker"),
    (f"{{{PROCESS}, command: x, release: migrate}}", "app.release", "only for runtime: docker"),
    (f"{{{PROCESS}, command: x, build: local}}", "app.build_command", "required with build: local"),
    (f"{{{PROCESS}, command: x, language: ruby}}", "app.language", "expected 'node' or 'python'"),
    ("{name: e, language: node}", "app.language", "only for runtime: process"),
    (
        f"{{{PROCESS}, command: x, options: {{shm_size: 1g}}}}",
        "app.options.shm_size",
        "only for runtime: docker",
    ),
    (f"{{{PROCESS}, command: x, env: {{PORT: '1'}}}}", "app.env.PORT", "set by bluegreen"),
    ("{name: e, command: x}", "app.command", "only for runtime: process"),
    # options.user reaches User=/Group= and runuser -u: a POSIX name, not a uid nor root
    (f"{{{PROCESS}, command: x, options: {{user: '1000'}}}}", "app.options.user", "POSIX"),
    (f"{{{PROCESS}, command: x, options: {{user: Deploy}}}}", "app.options.user", "POSIX"),
    (f"{{{PROCESS}, command: x, options: {{user: a.b}}}}", "app.options.user", "POSIX"),
    (f"{{{PROCESS}, command: x, options: {{user: 'app:1'}}}}", "app.options.user", "POSIX"),
    (f"{{{PROCESS}, command: x, options: {{user: {'a' * 33}}}}}", "app.options.user", "POSIX"),
    (f"{{{PROCESS}, command: x, options: {{user: root}}}}", "app.options.user", "unprivileged"),
]


@pytest.mark.parametrize(("app", "key", "problem"), BAD)
def test_bad_process_settings_name_the_key(tmp_path: Path, app: str, key: str, problem: str):
    message = load_error(write(tmp_path, f"app: {app}\nhosts: {{w: a}}\n"))
    assert message.startswith(f"{tmp_path / 'hosts.yml'}: {key}: ")
    assert problem in message


def test_a_port_clash_is_refused_for_a_process_app_too(tmp_path: Path) -> None:
    text = f"app: {{{PROCESS}, command: x}}\nports: {{public: 4000, blue: 4000}}\nhosts: {{w: a}}\n"
    assert "ports.blue: 4000 is also ports.public" in load_error(write(tmp_path, text))


def test_a_posix_user_and_group_are_taken_under_runtime_process(tmp_path: Path) -> None:
    app = f"{{{PROCESS}, command: x, options: {{user: 'deploy_1:www-data'}}}}"
    text = f"app: {app}\nhosts: {{w: a}}\n"
    assert load(write(tmp_path, text)).app.options.user == "deploy_1:www-data"


def test_a_uid_stays_valid_under_docker_where_it_is_docker_run_user(tmp_path: Path) -> None:
    """``docker run --user`` takes a uid[:gid] of the image as well as a name."""
    text = "app: {name: e, options: {user: '1000:1000'}}\nhosts: {w: a}\n"
    assert load(write(tmp_path, text)).app.options.user == "1000:1000"
