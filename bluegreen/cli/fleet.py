"""A Fabric Executor that gives each task ALL the hosts named by ``-H`` in one call.

Fabric runs a task once per host; a fleet switch needs one orchestration that sees every
host. ``-H`` names (inventory groups or hosts) go into ``config.bluegreen.hosts`` and the
task runs once, with a plain Context. Used by ``fab`` (``tasks.executor_class`` in
fabric.yaml) and built into the ``bluegreen`` program.

``fab exec -- CMD ARGS``: the words after ``--`` go into ``config.bluegreen.command``
exactly as the shell gave them (Invoke keeps only their join, which loses quoting), and
Fabric does not run them on its own.
"""

from __future__ import annotations

import shlex
import sys

from fabric.executor import Executor


def exact_remainder(remainder: str, argv: list[str]) -> list[str]:
    """The words after the first ``--`` of ``argv`` when they are what Invoke joined into
    ``remainder`` (they are for ``fab``/``bluegreen``); else ``remainder`` split as shell."""
    words = argv[argv.index("--") + 1 :] if "--" in argv else []
    return words if " ".join(words) == remainder else shlex.split(remainder)


class FleetExecutor(Executor):
    def expand_calls(self, calls, apply_hosts=True):
        names = self.core[0].args.hosts.value if (apply_hosts and self.core) else None
        given = {}
        if names:
            given["hosts"] = [n for n in names.split(",") if n]
        if apply_hosts and self.core and self.core.remainder and _runs_exec(calls):
            given["command"] = exact_remainder(self.core.remainder, sys.argv)
            self.core.remainder = ""
        if given:
            # A modification, merged deeply over the collection's defaults (loaded later).
            self.config["bluegreen"] = given
        return super().expand_calls(calls, apply_hosts=False)


def _runs_exec(calls) -> bool:
    return any(call.task.name == "exec" for call in calls)
