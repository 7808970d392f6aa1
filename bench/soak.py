"""The long randomized fault soak (issue 15): ``python bench/soak.py --ops 200 --seed N``.

Starts three sandbox hosts (BLUEGREEN_SANDBOX picks the instance), runs the soak of
bluegreen/testing/soak.py, prints its table and stops the hosts. Exit 1 on any invariant
violation; the seed printed first replays the same run.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from bluegreen import sandbox
from bluegreen.testing.demo import make_app_repo
from bluegreen.testing.soak import FAULTS, Soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200, help="operations (default 200)")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--faults", type=float, default=0.5, help="share with a fault")
    parser.add_argument("--only", default=None, help="comma-separated fault kinds (default: all)")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long")
    args = parser.parse_args(argv)
    seed = random.randrange(1 << 32) if args.seed is None else args.seed
    hosts = sandbox.up(3)
    try:
        with tempfile.TemporaryDirectory(prefix="bluegreen-soak-") as work:
            repo = make_app_repo(Path(work) / "app")
            faults = tuple(args.only.split(",")) if args.only else FAULTS
            soak = Soak(hosts, repo, Path(work) / "run", seed, args.faults, faults=faults)
            result = soak.run(args.ops, args.minutes)
    finally:
        sandbox.down()
    print(result.table())
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
