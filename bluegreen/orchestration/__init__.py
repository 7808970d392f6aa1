"""Layer 6: the operations over the fleet, and the engine they share.

Operations: ``deploy``, ``serve`` (rollback, switch), ``split`` (split, promote, abort),
``bootstrap``; read-only: ``status``, ``history``, ``logs``, ``locks``. The engine: ``change``
(the phased state machine) with ``state`` (options, steps, each host's run), ``runner``
(parallel phases), ``probe`` (facts), ``locking``, ``switcher`` (nginx) and ``report``.
"""

from bluegreen.orchestration.deploy import deploy
from bluegreen.orchestration.serve import rollback, switch
from bluegreen.orchestration.split import abort, promote, split

__all__ = ["abort", "deploy", "promote", "rollback", "split", "switch"]
