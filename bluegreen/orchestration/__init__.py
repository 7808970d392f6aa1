"""Layer 6: the fleet changes (deploy, rollback, switch, split, promote, abort)."""

from bluegreen.orchestration.operations import deploy, rollback, switch
from bluegreen.orchestration.split import abort, promote, split

__all__ = ["abort", "deploy", "promote", "rollback", "split", "switch"]
