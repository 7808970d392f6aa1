"""Layer 2, shell: pure builders of the shell commands bluegreen runs on hosts (no I/O;
tested as strings).

Every value that reaches a shell goes through ``shlex.quote``; names are validated
identifiers from the inventory. ``wrap`` holds the idioms (as root, quiet on success).
"""
