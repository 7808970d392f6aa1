"""The ``bluegreen`` console script: Fabric's ``fab`` with bluegreen's tasks and executor
built in, so an app repository needs no fabfile.py or fabric.yaml.

It is Fabric's own program class (same core flags, ``--list``, ``--help``, config files and
``FABRIC_*`` environment variables), given our namespace, plus ``--inventory FILE``.
"""

from __future__ import annotations

from importlib.metadata import version

import fabric
from fabric.main import Fab
from invoke import Argument

from bluegreen.cli.fleet import FleetExecutor
from bluegreen.tasks import ns


class Bluegreen(Fab):
    """``fab`` plus ``--inventory FILE``, which sets ``bluegreen.inventory`` for this call."""

    def core_args(self) -> list[Argument]:
        inventory = Argument(
            names=("inventory",),
            help="The inventory file (default hosts.yml; also FABRIC_BLUEGREEN_INVENTORY).",
        )
        return [*super().core_args(), inventory]

    def update_config(self) -> None:
        super().update_config()
        inventory = self.args.inventory.value
        if inventory:
            # Overrides outrank config files and env, as Fabric does for -i and -t.
            self.config._overrides.setdefault("bluegreen", {})["inventory"] = inventory
            self.config.merge()

    def task_list_opener(self, extra: str = "") -> str:
        """The ``--list`` heading fab prints ("Available tasks"), not Invoke's "Subcommands"
        for programs with a namespace built in: both list the same tasks."""
        namespace, self.namespace = self.namespace, None
        try:
            return super().task_list_opener(extra)
        finally:
            self.namespace = namespace

    def print_version(self) -> None:
        super().print_version()
        print(f"Fabric {fabric.__version__}")


program = Bluegreen(
    name="bluegreen",
    namespace=ns,
    version=version("bluegreen"),
    executor_class=FleetExecutor,
    config_class=fabric.Config,
)
