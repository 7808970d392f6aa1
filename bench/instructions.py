"""Instructions per proxied request of each switch mode, counted with valgrind's cachegrind.

    .venv/bin/python bench/instructions.py [--rows plain,pre21,file,core,core-nojit,lua-dict,...]
    .venv/bin/python bench/instructions.py --rows 'plain,plain-proxy_set_header Upgrade+proxy_buf'
    .venv/bin/python bench/bench.py --only instructions

wrk's req/s spread by ±40 points on this shared machine; a count of user-space instructions
does not. One private nginx on loopback (its own prefix in a temp dir, ``master_process
off`` so valgrind follows the one process that does everything) serves each mode's site,
rendered from our real templates, and the ``return 200`` backends. A row is the difference
between runs of 1500 and 300 keep-alive requests, / 1200: start-up and exit cancel out.
Frontend and backend are both counted, as a host runs them; kernel time is not. The Lua
rows (not a product mode: a measurement) load Debian's lua module from .debs unpacked in
the temp dir, never installed; they are skipped, with the reason, when apt cannot fetch
them. ``pre21`` is the plain site as it was before issue 21 (no WebSocket, streaming,
upload, header or timeout settings; release headers to every client). A row
``ROW-DIRECTIVE[+...]`` is ROW's site without the lines that start with those directives
(``DIRECTIVE=LINE``: with LINE instead): what they cost. Prints a Markdown table; writes
bench/results/instructions.json.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

import report  # noqa: E402  (bench/report.py)
import sites  # noqa: E402  (bench/sites.py, beside this file)

from bluegreen.config.inventory import Ports, Proxy  # noqa: E402
from bluegreen.shell import nginx, system  # noqa: E402

FEW, MANY = 300, 1500
BACKENDS = Ports(public=18100, blue=18201, green=18202)
NJS_MODULE = "/usr/lib/nginx/modules/ngx_http_js_module.so"
LUA_DEBS = (
    "libnginx-mod-http-lua",
    "libnginx-mod-http-ndk",
    "libluajit2-5.1-2",
    "lua-resty-core",
    "lua-resty-lrucache",
    "libpcre3",  # the lua module links PCRE 1 (nginx itself: PCRE2)
)
START_TIMEOUT, RUN_TIMEOUT = 60.0, 300.0  # seconds: valgrind starts nginx ~50x slower


# What issue 21 added to the site (a directive, the line it now is before #21 or "": none)
BEFORE_21 = (
    ("client_max_body_size", ""),
    ("large_client_header_buffers", ""),
    ("proxy_set_header Upgrade", ""),
    ("proxy_set_header Connection", 'proxy_set_header Connection "";'),
    ("proxy_read_timeout", ""),
    ("proxy_send_timeout", ""),
    ("proxy_buffer", ""),  # proxy_buffer_size, proxy_buffers, proxy_buffering
    ("proxy_busy_buffers_size", ""),
)


@dataclass(frozen=True)
class Row:
    """One measured site: its app name, the switch mode it renders (None: the Lua fixture),
    its port, whether the main context is what ``fab bootstrap`` writes (pcre_jit), its
    proxy settings and the edits of its rendered lines (directive, new line or "")."""

    name: str
    mode: str | None
    port: int
    bootstrapped: bool = True
    proxy: Proxy = Proxy()
    edits: tuple[tuple[str, str], ...] = ()


ROWS = {
    "plain": Row("plain", "reload", 18100),  # reload mode's site: plain proxying, the base
    "pre21": Row("pre21", "reload", 18106, proxy=Proxy(release_headers="public"), edits=BEFORE_21),
    "file": Row("file", "file", 18101),
    "core": Row("core", "core", 18103),
    "core-nojit": Row("core", "core", 18103, bootstrapped=False),
    "lua-dict": Row("luadict", None, 18104),
    "lua-link": Row("lualink", None, 18105),
}
WITHOUT_PORTS = 18110  # and up: the ROW-DIRECTIVE rows


def without(spec: str, index: int) -> Row:
    """``ROW-DIRECTIVE[+DIRECTIVE...]``: ROW's site without those directives' lines (or, for
    ``DIRECTIVE=LINE``, with LINE instead)."""
    base, _, pieces = spec.partition("-")
    row = ROWS[base]
    edits = tuple(
        tuple(piece.split("=", 1)) if "=" in piece else (piece, "") for piece in pieces.split("+")
    )
    name = f"{row.name}w{index}"
    return Row(name, row.mode, WITHOUT_PORTS + index, row.bootstrapped, row.proxy, edits)


def edited(text: str, edits: tuple[tuple[str, str], ...]) -> str:
    """``text`` with each line that starts (indented) with an edit's directive replaced."""
    lines = []
    for line in text.splitlines(keepends=True):
        words = line.strip()
        edit = next((new for directive, new in edits if words.startswith(directive)), None)
        if edit is None:
            lines.append(line)
        elif edit:
            lines.append(line[: len(line) - len(line.lstrip())] + edit + "\n")
    return "".join(lines)


LUA_INIT = """
lua_package_path "{root}/usr/share/lua/5.1/?.lua;;";
lua_shared_dict bluegreen_bench 1m;
init_by_lua_block {{
    local ffi = require "ffi"
    ffi.cdef[[ long readlink(const char *path, char *buf, size_t size); ]]
    local buf = ffi.new("char[?]", 256)
    local last, color, release = nil, "", ""
    local STATE = [[(?:^|/)(blue|green),([A-Za-z0-9._-]{{1,64}})$]]  -- one color: enough here
    -- one parse per change of state, not per request: the state is compared as a string
    local function pick(state)
        if state ~= last then
            last = state
            local m = ngx.re.match(state or "", STATE, "jo")
            color, release = m and m[1] or "", m and m[2] or ""
        end
        ngx.var.bluegreen_lua_release = release
        return color
    end
    ngx.shared.bluegreen_bench:set("state", "{line}")
    bluegreen_bench = {{
        dict = function() return pick(ngx.shared.bluegreen_bench:get("state")) end,
        link = function()
            local n = ffi.C.readlink("{link}", buf, 256)
            return pick(n > 0 and ffi.string(buf, n) or nil)
        end,
    }}
}}
"""
LUA_SITE = """
server {{
    listen {address}:{port};
    access_log {root}/bluegreen-lua.access.log bluegreen_core;
    location / {{
        set $bluegreen_lua_release "";
        set_by_lua_block $bluegreen_lua_color {{ return bluegreen_bench.{source}() }}
        if ($bluegreen_lua_color = "") {{
            return 503;
        }}
        proxy_pass http://bluegreen_core_$bluegreen_lua_color;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        add_header X-Bluegreen-Color $bluegreen_lua_color always;
        add_header X-Bluegreen-Release $bluegreen_lua_release always;
    }}
}}
"""


def write_sites(root: Path, rows: dict[str, Row]) -> list[str]:
    """Render every product row's site into ``root``; the file names to include."""
    includes = []
    for row in {r.name: r for r in rows.values() if r.mode}.values():
        ports = Ports(public=row.port, blue=BACKENDS.blue, green=BACKENDS.green)
        for path, text in sites.files(row.name, row.mode, ports, root, row.proxy).items():
            target = Path(sites.relocated(path, root))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(edited(sites.relocated(text, root), row.edits))
            includes += [str(target)] if "/conf.d/" in path else []
    link = sites.relocated(nginx.point_link("core", sites.TRAFFIC.link_name()), root)
    subprocess.run(["sh", "-c", link], check=True)
    return includes


def fetch_lua(root: Path) -> str | None:
    """Unpack the Lua module's .debs under ``root`` (apt-get download, dpkg -x: nothing is
    installed); None when they are there, else why not."""
    debs = root / "debs"
    debs.mkdir()
    got = subprocess.run(
        ["apt-get", "download", "-qq", *LUA_DEBS], cwd=debs, capture_output=True, text=True
    )
    if got.returncode != 0:
        return f"apt-get download failed: {got.stderr.strip().splitlines()[-1:]}"
    for deb in debs.glob("*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return None


def config(root: Path, includes: list[str], lua: bool, bootstrapped: bool) -> Path:
    """The private nginx.conf: one process, loopback only, our sites (+ Lua rows)."""
    modules = [NJS_MODULE]
    http = [f"include {path};" for path in includes] + [sites.backends(BACKENDS)]
    if lua:
        lib = root / "usr/lib/nginx/modules"
        modules += [str(lib / "ndk_http_module.so"), str(lib / "ngx_http_lua_module.so")]
        link = sites.relocated(nginx.current_path("core"), root)
        http.append(LUA_INIT.format(root=root, line=sites.TRAFFIC.link_name(), link=link))
        for source in ("dict", "link"):
            port = ROWS[f"lua-{source}"].port
            http.append(LUA_SITE.format(address=sites.PUBLIC, port=port, root=root, source=source))
    conf = root / f"nginx{'' if bootstrapped else '-plain'}.conf"
    conf.write_text(
        "daemon off;\nmaster_process off;\n"
        + (system.MAIN_CONF_TEXT if bootstrapped else "")
        + "".join(f"load_module {m};\n" for m in modules)
        + f"pid {root}/nginx.pid;\nerror_log {root}/error.log;\n"
        + "events { worker_connections 64; }\n"
        + "http {\naccess_log off;\n"
        + "\n".join(http)
        + "\n}\n"
    )
    return conf


def environment(root: Path, lua: bool) -> dict[str, str]:
    """The Lua module finds the unpacked OpenResty LuaJIT first, not this machine's."""
    if not lua:
        return dict(os.environ)
    libs = [root / "usr/lib/x86_64-linux-gnu", root / "lib/x86_64-linux-gnu"]
    return os.environ | {"LD_LIBRARY_PATH": ":".join(map(str, libs))}


def ensure_free(ports: set[int]) -> None:
    """Refuse to count while another process holds one of our ports: it would answer our
    requests and the row would count the wrong nginx."""
    for address, port in itertools.product(("127.0.0.1", sites.PUBLIC), sorted(ports)):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx: not a listener
            try:
                probe.bind((address, port))
            except OSError as e:
                raise RuntimeError(f"{address}:{port} is in use ({e.strerror})") from e


def wait_listening(port: int, process: subprocess.Popen) -> None:
    """Until nginx (under valgrind) accepts on ``port``; bounded."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection((sites.PUBLIC, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nginx did not listen on {port}: see its error.log")


def send(port: int, count: int) -> None:
    """``count`` GETs on one keep-alive connection to the public server; each must be
    proxied to blue (its backend answers its color)."""
    client = http.client.HTTPConnection(sites.PUBLIC, port, timeout=30)
    try:
        for _ in range(count):
            client.request("GET", "/")
            answer = client.getresponse()
            body = answer.read()
            if answer.status != 200 or body != b"blue":
                raise RuntimeError(f"port {port}: {answer.status} {body[:40]!r}, not 200 blue")
    finally:
        client.close()


def instructions(conf: Path, env: dict[str, str], port: int, count: int) -> int:
    """Instructions (Ir) the whole nginx run executes while serving ``count`` requests."""
    out = conf.with_suffix(f".{port}.{count}.cachegrind")
    ensure_free({row.port for row in ROWS.values()} | {BACKENDS.blue, BACKENDS.green, port})
    grind = ["valgrind", "-q", "--tool=cachegrind", "--cache-sim=no"]
    process = subprocess.Popen(
        [*grind, f"--cachegrind-out-file={out}", "nginx", "-p", str(conf.parent), "-c", str(conf)],
        env=env,
        stderr=subprocess.DEVNULL,  # valgrind's notes; nginx's own errors go to error.log
    )
    try:
        wait_listening(port, process)
        send(port, count)
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: valgrind then writes its counts
        process.wait(timeout=RUN_TIMEOUT)
    return int(re.search(r"^summary:\s+(\d+)", out.read_text(), re.M).group(1))


def per_request(conf: Path, env: dict[str, str], port: int) -> float:
    """Instructions per request: the difference between MANY and FEW requests."""
    return (instructions(conf, env, port, MANY) - instructions(conf, env, port, FEW)) / (MANY - FEW)


def measure(rows: dict[str, Row]) -> dict[str, object]:
    """Each row's instructions per request and its cost against plain proxying."""
    rows = {"plain": ROWS["plain"]} | rows
    with tempfile.TemporaryDirectory(prefix="bgi", dir="/tmp") as temp:
        root = Path(temp)
        includes = write_sites(root, rows)
        lua_rows = [n for n, row in rows.items() if row.mode is None]
        skipped = fetch_lua(root) if lua_rows else None
        if skipped:
            print(f"Lua rows skipped: {skipped}", flush=True)
        env = environment(root, bool(lua_rows and not skipped))
        counts: dict[str, float] = {}
        for name, row in rows.items():
            if row.mode is None and skipped:
                continue
            conf = config(root, includes, row.mode is None and not skipped, row.bootstrapped)
            counts[name] = per_request(conf, env, row.port)
            print(f"{name:10} {counts[name]:10,.0f} instructions per request", flush=True)
    base = counts["plain"]
    return {
        "requests": [FEW, MANY],
        "lua_skipped": skipped,
        "rows": {
            name: {"per_request": n, "more_than_plain_percent": 100 * (n / base - 1)}
            for name, n in counts.items()
        },
    }


def table(results: dict) -> str:
    """The counts as docs/evidence/benchmarks.md's Markdown table."""
    lines = ["| row | instructions per request | more than plain |", "|---|---|---|"]
    for name, row in results["rows"].items():
        more = "-" if name == "plain" else f"{row['more_than_plain_percent']:+.1f} %"
        lines.append(f"| {name} | {row['per_request']:,.0f} | {more} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        type=lambda text: text.split(","),
        default=list(ROWS),
        help=f"rows to count (default {','.join(ROWS)})",
    )
    args = parser.parse_args(argv)
    unknown = {name.partition("-")[0] for name in args.rows if name not in ROWS} - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    extra = [name for name in args.rows if name not in ROWS]
    rows = {name: ROWS.get(name) or without(name, extra.index(name)) for name in args.rows}
    results = measure(rows)
    report.publish(results, "instructions.json", table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
