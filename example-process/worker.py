"""The example's job worker (app.processes): takes jobs ("ID:SECONDS") from the Redis list
``jobs`` and records on Redis's clock when it came up and went down and when each job
started and ended, with its version and host, in the list ``events`` (as example/worker.sh
does for the Docker example). SIGTERM: the job in hand finishes, then it exits.

REDIS_HOST and REDIS_PORT say where Redis listens; a release with a WORKER_CRASH file
exits at once (a worker that cannot start). ``worker.py tick`` is the example's scheduled
job: it records "tick SLOT" and exits.
"""

import os
import signal
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSION = (HERE / "VERSION").read_text().strip()
HOST = socket.gethostname()
RECORD = (
    "return redis.call('rpush', KEYS[1], ARGV[1] .. ' ' .. table.concat(redis.call('time'), '.'))"
)
stopping = False


def command(*args: str):
    """One Redis command (RESP2) on a new connection: its reply (a bulk string or None)."""
    parts = [f"*{len(args)}\r\n"] + [f"${len(a.encode())}\r\n{a}\r\n" for a in args]
    with socket.create_connection((os.environ["REDIS_HOST"], int(os.environ["REDIS_PORT"]))) as s:
        s.sendall("".join(parts).encode())
        reply = s.makefile("rb")
        head = reply.readline().rstrip(b"\r\n")
        if head.startswith(b"$"):
            size = int(head[1:])
            return None if size < 0 else reply.read(size).decode()
        return head.decode()


def record(what: str) -> None:
    command("EVAL", RECORD, "1", "events", f"{what} {VERSION} {HOST}")


def stop(signum, frame) -> None:
    global stopping
    stopping = True  # the loop ends after the job in hand (time.sleep resumes after this)


if sys.argv[1:] == ["tick"]:  # the example's scheduled job (app.schedule): one event
    record(f"tick {os.environ.get('BLUEGREEN_SLOT', '-')}")
    sys.exit(0)
if (HERE / "WORKER_CRASH").exists():
    sys.exit("worker: crashing as asked (WORKER_CRASH)")
signal.signal(signal.SIGTERM, stop)
record("up")
print(f"worker {VERSION}: up on {HOST}", flush=True)
while not stopping:
    job = command("LPOP", "jobs")
    if job is None:
        time.sleep(0.1)
        continue
    name, _, seconds = job.partition(":")
    record(f"start {name}")
    time.sleep(float(seconds or 0))
    record(f"end {name}")
record("down")
print(f"worker {VERSION}: stopped", flush=True)
