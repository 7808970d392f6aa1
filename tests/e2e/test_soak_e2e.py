"""The randomized fault soak in its short form (issue 15): random operations with random
faults on three hosts under load, every invariant checked after each operation.

The seed is printed (and taken from BLUEGREEN_SOAK_SEED when set) so a failure replays;
the long form is bench/soak.py.
"""

import os
import random

import pytest

from bluegreen.testing.soak import Soak

from .support import HOSTS

pytestmark = pytest.mark.e2e

OPERATIONS = 24


def test_a_short_soak_breaks_no_invariant(sandbox, app_repo, tmp_path):
    seed = int(os.environ.get("BLUEGREEN_SOAK_SEED") or random.randrange(1 << 32))
    print(f"\nsoak seed {seed} (BLUEGREEN_SOAK_SEED={seed} replays it)")
    hosts = [h for h in sandbox if h.name in HOSTS]
    result = Soak(hosts, app_repo, tmp_path, seed).run(OPERATIONS)
    print(result.table())
    assert len(result.steps) == OPERATIONS
    assert sum(1 for s in result.steps if s.fault) > 0, result.table()  # faults were injected
    assert result.violations == [], result.table()
