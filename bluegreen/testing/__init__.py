"""Test and demo rigs: a local fleet of simulated servers, HTTP load, the demo.

Kept apart from the engine (as Fabric keeps ``fabric.testing``): nothing in bluegreen
imports it. The sandbox needs root and the Debian packages scripts/setup.sh installs;
``remote`` (a fake host and scripted session for unit tests of the engine) needs nothing.
"""
