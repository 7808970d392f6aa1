"""Bootstrap for runtime: process: systemd required, no docker packages or steps."""

from dataclasses import replace
from pathlib import Path

from bluegreen.config import profiles
from bluegreen.config.inventory import App, Host, Inventory, Ports
from bluegreen.ops import bootstrap


def inventory(**app: object) -> Inventory:
    return Inventory(Path("hosts.yml"), App(name="e", **app), Ports(), {}, {})  # type: ignore[arg-type]


def test_process_apps_get_no_docker_steps_and_need_systemd() -> None:
    names = [step.name for step in bootstrap.steps(inventory(runtime="process", command="x"))]
    assert names == [
        "systemd",
        "cloud-init",
        "packages",
        "nginx main context",
        "services",
        "SELinux",
        "app directory",
        "firewall",
        "certificate renewal",
        "checks",
    ]
    docker = [step.name for step in bootstrap.steps(inventory())]
    assert "docker log rotation" in docker and "systemd" not in docker


def test_the_packages_leave_out_docker_and_git_unless_the_hosts_fetch_the_source() -> None:
    debian = profiles.PROFILES["debian"]
    upload = bootstrap._no_docker(inventory(runtime="process", command="x"), debian)
    assert upload == replace(debian, packages=("nginx",))
    fetched = inventory(runtime="process", command="x", source="git", repo="https://x/y.git")
    assert bootstrap._no_docker(fetched, profiles.PROFILES["amazon-linux"]).packages == (
        "nginx",
        "git",
    )


def test_a_worker_only_process_host_needs_systemd_and_no_service_at_all() -> None:
    """``web: false``: systemd runs the workers; nothing of nginx is planned."""
    worker = Host("w", "10.0.0.2", web=False)
    target = bootstrap.Target(worker, None, profiles.PROFILES["debian"], True, False, "", False)  # type: ignore[arg-type]
    steps = bootstrap.steps(inventory(runtime="process", command="x"))
    planned = {step.name: step.commands(target) for step in steps}
    assert planned["services"] == [] and planned["nginx main context"] == []
    assert planned["systemd"] and planned["app directory"]
    assert "nginx" not in planned["packages"][0] and "nginx" not in planned["checks"][0]
