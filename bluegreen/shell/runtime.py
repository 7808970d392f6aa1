"""What runs a color: a Docker container (``app.runtime: docker``) or a systemd unit
(``process``). The orchestration asks ``of(app)`` for the commands and does not care which.
"""

from __future__ import annotations

from dataclasses import dataclass

from bluegreen.config.inventory import App, Host, Ports
from bluegreen.shell import assets, container, docker, image, process
from bluegreen.shell import release as releases


@dataclass(frozen=True)
class Docker:
    app: App
    kind = "image"  # what a built release is

    def name(self, color: str) -> str:
        """What the operator's log calls the color's instance."""
        return docker.container(self.app.name, color)

    def run(
        self, color: str, release: str, host: Host, ports: Ports, env: dict[str, str]
    ) -> tuple[str, str]:
        """(command, its stdin): start ``release`` as ``color`` (the env on stdin)."""
        settings = container.settings(self.app)
        command = docker.run(
            self.app.name, color, release, host, ports, self.app.container_port, settings
        )
        return command, container.env_lines(env)

    def retire(self, host: Host, color: str) -> str:
        return docker.discard_aside(self.app.name, color)

    def prune(self, host: Host, keep: list[str]) -> str:
        """Old images go; ``keep`` (the new and the previous release) and the app's
        ``keep_releases`` newest others stay."""
        return image.prune(self.app.name, keep, self.app.keep_releases)

    def restore(self, host: Host, color: str, running: bool) -> str:
        return docker.restore(self.app.name, color, running)

    def start(self, color: str) -> str:
        return docker.start(self.app.name, color)

    def stop(self, color: str) -> str:
        return docker.stop(self.app.name, color)

    def drain(self, colors: list[str], seconds: float, wait: str) -> str:
        return docker.drain(self.app.name, colors, seconds, wait)

    def logs(self, color: str, lines: int = 20, follow: bool = False) -> str:
        return docker.logs(self.app.name, color, lines, follow)

    def exec_in(self, host: Host, color: str, argv: list[str], interactive: bool = False) -> str:
        return container.exec_in(self.app.name, color, argv, interactive)

    def present(self, host: Host, release: str) -> str:
        return docker.image_present(self.app.name, release)

    def artifact(self, host: Host, release: str) -> str:
        """A built release's name on the host, for the operator's log."""
        return docker.image(self.app.name, release)

    def build(self, release: str, directory: str, app_dir: str) -> str:
        """Build the unpacked source; prints ``image_id=`` of the result."""
        build = docker.build(self.app.name, release, directory, self.app.dockerfile)
        return f"{build}\n{image.image_id(self.app.name, release)}"

    def copy_assets(self, host: Host, release: str, path: str) -> str:
        """Copy ``path`` of the release into ``$into`` (``app.assets``)."""
        return assets.from_image(self.app.name, release, path)


@dataclass(frozen=True)
class Process(Docker):
    kind = "release"

    def name(self, color: str) -> str:
        return process.unit(self.app.name, color)

    def run(
        self, color: str, release: str, host: Host, ports: Ports, env: dict[str, str]
    ) -> tuple[str, str]:
        command = process.run(self.app, color, release, host)
        return command, process.env_lines(env, ports.of(color))

    def retire(self, host: Host, color: str) -> str:
        return process.discard_aside(host.app_dir, color)

    def prune(self, host: Host, keep: list[str]) -> str:
        """Old release directories go; both colors' (and set-aside) releases always stay."""
        return process.prune(host.app_dir, self.app.keep_releases)

    def restore(self, host: Host, color: str, running: bool) -> str:
        return process.restore(self.app.name, host.app_dir, color, running)

    def start(self, color: str) -> str:
        return process.start(self.app.name, color)

    def stop(self, color: str) -> str:
        return process.stop(self.app.name, color)

    def drain(self, colors: list[str], seconds: float, wait: str) -> str:
        return process.drain(self.app.name, colors, seconds, wait)

    def logs(self, color: str, lines: int = 20, follow: bool = False) -> str:
        return process.logs(self.app.name, color, lines, follow)

    def exec_in(self, host: Host, color: str, argv: list[str], interactive: bool = False) -> str:
        return process.exec_in(self.app, host.app_dir, color, argv)

    def present(self, host: Host, release: str) -> str:
        return process.built(host.app_dir, release)

    def artifact(self, host: Host, release: str) -> str:
        return releases.directory(host.app_dir, release)

    def build(self, release: str, directory: str, app_dir: str) -> str:
        return process.build(self.app, app_dir, directory)

    def copy_assets(self, host: Host, release: str, path: str) -> str:
        return assets.from_directory(releases.directory(host.app_dir, release), path)


def of(app: App) -> Docker:
    """The runtime ``app.runtime`` names."""
    return Process(app) if app.runtime == "process" else Docker(app)
