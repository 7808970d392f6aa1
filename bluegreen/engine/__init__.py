"""Layer 6, engine: the phased state machine every change runs through (``change``), with
its parts: each host's run (``state``), parallel phases (``runner``), facts corrected by
the public port (``probe``), the lock protocol, nginx switching and drain (``switcher``),
health and serving checks, the post-switch watch, certificates, metrics, the report and
deferred signals. Imports no operation.
"""
