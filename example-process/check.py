"""The example's build check (run by app.build_command inside the new venv): a release
with a BUILD_FAILS file fails its build, as a broken dependency would."""

import sys
from pathlib import Path

if (Path(__file__).resolve().parent / "BUILD_FAILS").exists():
    sys.exit("build failed as asked (BUILD_FAILS)")
print(f"build ok with {sys.executable}")
