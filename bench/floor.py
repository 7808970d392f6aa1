"""The floor of a switch: what a careful hand-written Fabric script needs at the least.

    python bench/floor.py --state PATH --line 'green RELEASE' --color green \\
        --key KEY --known-hosts FILE  SSH_ADDRESS:PORT=HTTP_ADDRESS:PORT ...

Per host: one connection with strict host keys (known_hosts loaded, unknown or changed
keys refused), one command (write the state file beside its target and rename it into
place, atomically), in parallel over the hosts; then from this machine one HTTP request to
each public port that must answer with the new color. No lock, no history, no facts, no
revert: ``fab switch`` does all of those on top, and bench/latency.py compares the two.
Plain Fabric and the standard library only, so its start-up cost is Fabric's own.
"""

from __future__ import annotations

import argparse
import http.client
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor

import paramiko
from fabric import Connection


def switch_host(ssh: str, args: argparse.Namespace) -> None:
    address, port = ssh.rsplit(":", 1)
    connection = Connection(
        address, user="root", port=int(port), connect_kwargs={"key_filename": args.key}
    )
    connection.client.load_host_keys(args.known_hosts)
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    temp = f"{args.state}.floor"
    command = f"printf '%s\\n' {shlex.quote(args.line)} > {temp} && mv -f {temp} {args.state}"
    with connection:
        connection.run(command, hide=True)


def serves(target: str, color: str) -> bool:
    address, port = target.rsplit(":", 1)
    conn = http.client.HTTPConnection(address, int(port), timeout=10)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status == 200 and response.getheader("X-Bluegreen-Color") == color
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, help="the state file on every host")
    parser.add_argument("--line", required=True, help="its new content, e.g. 'green abc123'")
    parser.add_argument("--color", required=True, help="the color the public port must serve")
    parser.add_argument("--key", required=True)
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("hosts", nargs="+", help="SSH_ADDRESS:PORT=HTTP_ADDRESS:PORT")
    args = parser.parse_args()
    pairs = [item.split("=", 1) for item in args.hosts]
    with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
        list(pool.map(lambda pair: switch_host(pair[0], args), pairs))
        answers = list(pool.map(lambda pair: serves(pair[1], args.color), pairs))
    if not all(answers):
        print(f"not every host serves {args.color}: {answers}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
