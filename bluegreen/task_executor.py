"""A Fabric Executor that gives each task ALL the hosts named by ``-H`` in one call.

Fabric runs a task once per host; a fleet switch needs one orchestration that sees every
host. ``-H`` names (inventory groups or hosts) go into ``config.bluegreen.hosts`` and the
task runs once, with a plain Context. Used by ``fab`` (``tasks.executor_class`` in
fabric.yaml) and built into the ``bluegreen`` program.
"""

from __future__ import annotations

from fabric.executor import Executor


class FleetExecutor(Executor):
    def expand_calls(self, calls, apply_hosts=True):
        names = self.core[0].args.hosts.value if (apply_hosts and self.core) else None
        if names:
            # A modification, merged deeply over the collection's defaults (loaded later).
            self.config["bluegreen"] = {"hosts": [n for n in names.split(",") if n]}
        return super().expand_calls(calls, apply_hosts=False)
