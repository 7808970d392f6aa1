"""Test and demo rigs: a local fleet of simulated servers, HTTP load, the demo.

Kept apart from the engine (as Fabric keeps ``fabric.testing``): no engine module
imports it (only the ``sandbox.*`` tasks do). The sandbox needs root and the Debian
packages that scripts/setup.sh installs; ``remote`` (a fake host and scripted session for
unit tests of the engine) needs nothing.
"""
