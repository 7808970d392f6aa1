"""nginx commands: install rendered files atomically, test, reload, restore on failure."""

from __future__ import annotations

from collections.abc import Sequence
from shlex import quote

CONF_DIR = "/etc/nginx"
# The bracket keeps the pattern from matching the shell that runs pgrep itself.
SHUTTING_DOWN = "[n]ginx: worker process is shutting down"
TEST_FAILED = 3  # install's exit status when ``nginx -t`` failed (files restored, no reload)


def site_path(app: str) -> str:
    """Our server block; conf.d/*.conf is included inside http {} on apt and dnf systems."""
    return f"{CONF_DIR}/conf.d/bluegreen-{app}.conf"


def http_path(app: str) -> str:
    """With TLS: port 80 of the app's domains (ACME challenges, the redirect to https)."""
    return f"{CONF_DIR}/conf.d/bluegreen-{app}.http.conf"


def refuse_path() -> str:
    """The host's default server for names no app was deployed under: one file shared by
    every app with domains (outside ``bluegreen-*.conf``, so no app name can be its name)."""
    return f"{CONF_DIR}/conf.d/00-bluegreen-refuse.conf"


def foreign_defaults_probe() -> str:
    """Prints ``default_server=<listen line>`` for each ``default_server`` that nginx loads
    from a file other than ours (``nginx -T``: only files nginx includes, e.g. Debian's
    enabled default site, not ``sites-available``), and nginx's version."""
    return (
        "printf 'nginx_version=%s\\n' \"$(nginx -v 2>&1)\"\n"
        f"nginx -T 2>/dev/null | awk -v ours={quote(refuse_path())}"
        ' \'/^# configuration file /{f=$4; sub(/:$/, "", f); next}'
        " f != ours && /^[ \\t]*listen[ \\t]/ && /default_server/"
        ' {print "default_server=" $0}\'; true'
    )


def live_path(app: str) -> str:
    """Reload mode: the include naming the live color; outside conf.d, read via the site only."""
    return f"{CONF_DIR}/bluegreen/{app}.live.conf"


def state_path(app: str) -> str:
    """File mode: one line, ``<color> <release>``, read by njs on every request."""
    return f"{CONF_DIR}/bluegreen/{app}.state"


def script_path(app: str) -> str:
    """File mode: the njs module that reads the state file and whitelists its values."""
    return f"{CONF_DIR}/bluegreen/{app}.js"


def current_path(app: str) -> str:
    """Core mode: the symlink to the live state's directory, read per request (realpath)."""
    return f"{CONF_DIR}/bluegreen/{app}.current"


def states_dir(app: str) -> str:
    """Core mode: one empty directory per state, named ``<color>,<release>[,...]``."""
    return f"{CONF_DIR}/bluegreen/{app}.states"


def point_link(app: str, name: str) -> str:
    """Core mode: point the ``current`` link at state ``name`` with one atomic rename.

    The state being replaced keeps its directory (a request may be resolving it right
    now); older ones are removed.
    """
    link, states = quote(current_path(app)), quote(states_dir(app))
    target = quote(f"{app}.states/{name}")
    return "\n".join(
        [
            f'old=$(basename "$(readlink {link})" 2>/dev/null); mkdir -p {states}/{quote(name)}',
            f'for s in {states}/*; do case "${{s##*/}}" in {quote(name)}|"$old") ;;'
            ' *) rmdir "$s" 2>/dev/null || true;; esac; done',
            f"ln -sfn {target} {link}.new && mv -Tf {link}.new {link}",
        ]
    )


def assets_path(app: str) -> str:
    """``app.assets``: the link to the store's union of recent releases' files (the site's
    root for the assets' URL path; shell/assets.py replaces it)."""
    return f"{CONF_DIR}/bluegreen/{app}.assets"


def drain_path(app: str) -> str:
    """While it exists the health endpoint answers 503: the host is drained out of the load
    balancer (a batch switching). nginx checks it per request: no reload."""
    return f"{CONF_DIR}/bluegreen/{app}.drain"


def leave(app: str) -> str:
    """Drain the host out of the load balancer: the health endpoint turns 503."""
    path = drain_path(app)
    return f"mkdir -p {quote(path.rsplit('/', 1)[0])} && : > {quote(path)}"


def rejoin(app: str) -> str:
    """Back into the load balancer: the health endpoint answers from the switch state again."""
    return f"rm -f {quote(drain_path(app))}"


def maintenance_path(app: str) -> str:
    """The maintenance page (``fab maintenance --on``), read by nginx per request."""
    return f"{CONF_DIR}/bluegreen/{app}.maintenance.html"


def njs_probe() -> str:
    """Prints ``njs=yes`` when nginx loads the njs module (apt: modules-enabled; dnf: modules)."""
    places = "/etc/nginx/nginx.conf /etc/nginx/modules-enabled /usr/share/nginx/modules"
    return (
        f"grep -Rqs '^[^#]*load_module.*ngx_http_js_module' {places} && echo njs=yes || echo njs="
    )


def install(files: Sequence[tuple[str, str]], reload: bool = True, then: str = "") -> str:
    """Write ``files`` (path, content) atomically; with ``reload``, ``nginx -t`` and reload.

    Each file is written next to its target and moved into place with ``mv -f`` (atomic);
    the previous version is kept as ``<path>.prev`` for restore and for manual inspection.
    When the test fails every file is put back and nginx is not reloaded. Without
    ``reload`` (a file-mode switch: only the state file changes) nginx is not involved.
    A state file (``*.state``) is read per request, so it takes effect the moment it is
    renamed: with ``reload`` it moves only after the test passed (before the reload), as
    does ``then`` (core mode's link switch, also read per request).
    """
    steps = ["set -e"]
    for path, content in files:
        p = quote(path)
        steps += [
            f"mkdir -p {quote(path.rsplit('/', 1)[0])}",
            f"printf '%s' {quote(content)} > {p}.new",
            f"if [ -f {p} ]; then cp -p {p} {p}.prev; else rm -f {p}.prev; fi",
        ]
    if not reload:
        steps += [f"mv -f {quote(path)}.new {quote(path)}" for path, _ in files]
        return "\n".join([*steps, then] if then else steps)
    later = [quote(path) for path, _ in files if path.endswith(".state")]
    config = [quote(path) for path, _ in files if not path.endswith(".state")]
    steps += [f"mv -f {p}.new {p}" for p in config]
    restore = "; ".join([_put_back(p) for p in config] + [f"rm -f {p}.new" for p in later])
    # nginx -t's last line ("... test failed") says nothing: keep the cause last for the error
    steps.append(
        f"if ! out=$(nginx -t 2>&1); then {restore};"
        f' printf "%s\\n" "$out" | grep -v "test failed$" >&2; exit {TEST_FAILED}; fi'
    )
    steps += [f"mv -f {p}.new {p}" for p in later]
    steps += [then, "nginx -s reload"] if then else ["nginx -s reload"]
    return "\n".join(steps)


def _put_back(quoted: str) -> str:
    """The previous version of a file an install replaced (its ``.prev``); none: removed."""
    return f"if [ -f {quoted}.prev ]; then mv -f {quoted}.prev {quoted}; else rm -f {quoted}; fi"


def put_back(paths: Sequence[str]) -> str:
    """Put back the files the last install replaced (a revert: the site, its TLS settings and
    script as they were, not as this run renders them), one line each; then reload."""
    return "\n".join(["set -e", *(_put_back(quote(path)) for path in paths)])


def uninstall(app: str) -> str:
    """Remove the app's site and switch files (a first deploy that failed), test, reload."""
    paths = (site_path(app), http_path(app), live_path(app), state_path(app), script_path(app))
    files = " ".join(quote(p) for p in (*paths, current_path(app), drain_path(app)))
    states = quote(states_dir(app))
    return f"rm -f {files} && rm -rf {states} && nginx -t 2>/dev/null && nginx -s reload"


def wait_old_workers(limit: float) -> str:
    """Wait (bounded) until workers of the previous configuration finished in-flight requests."""
    tenths = int(limit * 10)
    return (
        f"i=0; while pgrep -f {quote(SHUTTING_DOWN)} >/dev/null && [ $i -lt {tenths} ];"
        " do sleep 0.1; i=$((i+1)); done"
    )


# nginx's side of each connection to a port (ss -i: ms since the last data sent and
# received, bytes received; ss leaves out zeros): busy when nothing came back yet, a request
# went out after the last answer, or data came in within the last second (a stream, an
# upload's answer, a WebSocket); an idle keep-alive connection got its last answer over a
# second ago and holds nothing up.
_BUSY = (
    "awk '/rto:/ {s=0; r=0; b=0; for (i=1; i<=NF; i++) {"
    " if ($i ~ /^lastsnd:/) s=substr($i, 9); if ($i ~ /^lastrcv:/) r=substr($i, 9);"
    " if ($i ~ /^bytes_received:/) b=1 } if (!b || s+0 < r+0 || r+0 < 1000) n++ }"
    " END {print n+0}'"
)


def wait_busy(ports: list[int], limit: float) -> str:
    """Wait (at most ``limit`` seconds) until no connection to ``ports`` is busy; print
    ``busy=N waited=S`` (N still busy at the end)."""
    match = " or ".join(f"dport = :{int(port)}" for port in ports)
    count = f"ss -Htni state established {quote(f'( {match} )')} | {_BUSY}"
    tenths = "$(($(date +%s%N) / 100000000))"  # the clock in tenths of a second
    end = f"$((t0+{int(limit * 10)}))"
    return (
        f"t0={tenths}; t=$t0; n=$({count}); while [ $n -gt 0 ] && [ $t -lt {end} ];"
        f" do sleep 0.1; t={tenths}; n=$({count}); done;"
        ' echo "busy=$n waited=$(((t-t0)/10)).$(((t-t0)%10))"'
    )


def access_log_path(app: str) -> str:
    """Our server's access log (``$msec $status $request_time $upstream_addr``)."""
    return f"/var/log/nginx/bluegreen-{app}.access.log"


def read_log(path: str, offset: int | None, limit: int = 4_000_000) -> str:
    """Print ``size=`` and ``start=`` lines, then the log's bytes from ``start`` (<= ``limit``).

    ``start`` is ``offset``, or 0 when the file shrank (rotated); without an offset only
    the size is printed (where a watch begins).
    """
    p = quote(path)
    size = f"size=$(stat -c %s {p} 2>/dev/null || echo 0); echo size=$size"
    if offset is None:
        return size
    return (
        f"{size}; start={int(offset)}; [ $size -ge $start ] || start=0; echo start=$start;"
        f" [ $size -gt $start ] && tail -c +$((start + 1)) {p} | head -c {int(limit)}; true"
    )
