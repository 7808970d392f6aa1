"""What the operator reads: one line per step prefixed by host (``log``), or JSON event
lines for CI (``events``). Imports nothing of bluegreen."""
