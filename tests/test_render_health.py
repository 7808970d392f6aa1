"""The host health endpoint and the client's real address, served by a real nginx from the
rendered site (core and reload mode): the endpoint follows the switch state and the drain
mark per request, without a reload, for any Host header; X-Forwarded-For is believed only
from app.balancer.trusted_proxies."""

import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bluegreen import render
from bluegreen.config.inventory import App, Balancer, Inventory, Ports, Proxy
from bluegreen.facts.traffic import Traffic

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs the nginx binary")
NJS = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")  # Debian's libnginx-mod-http-js
NEEDS_NJS = pytest.mark.skipif(not NJS.exists(), reason="needs nginx's njs module")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Nginx:
    """One app's rendered site in a private nginx; each color answers with the X-Real-IP
    it was given."""

    def __init__(self, tmp_path: Path, mode: str, trusted: tuple[str, ...]) -> None:
        self.dir, self.mode = tmp_path, mode
        self.port, blue, green = _free_port(), _free_port(), _free_port()
        balancer = Balancer(trusted_proxies=trusted)
        self.inv = Inventory(
            path=tmp_path / "hosts.yml",
            app=App(name="shop", balancer=balancer, proxy=Proxy(release_headers="public")),
            ports=Ports(public=self.port, blue=blue, green=green),
            hosts={},
            groups={},
        )
        self.env = render.environment(self.inv)
        site = self.local(render.site(self.env, self.inv, mode))
        colors = "\n".join(
            f"server {{ listen 127.0.0.1:{port}; return 200 '{color} $http_x_real_ip'; }}"
            for color, port in (("blue", blue), ("green", green))
        )
        njs = ""
        if mode == "file":  # the njs module that reads the state file per request
            njs = f"load_module {NJS};\n"
            (tmp_path / "shop.js").write_text(self.local(render.script(self.env, self.inv)))
        self.conf = tmp_path / "nginx.conf"
        self.conf.write_text(
            f"{njs}pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n{site}\n{colors}\n}}\n"
        )
        self.command = ["nginx", "-e", "stderr", "-p", str(tmp_path), "-c", str(self.conf)]

    def local(self, text: str) -> str:
        return text.replace("/etc/nginx/bluegreen/", f"{self.dir}/").replace(
            "/var/log/nginx/", f"{self.dir}/"
        )

    def point(self, traffic: Traffic) -> None:
        """Switch as the engine does: a renamed link (core), state file (file) or a new
        include (reload)."""
        if self.mode == "file":
            (self.dir / "shop.state.new").write_text(render.state(traffic))
            (self.dir / "shop.state.new").rename(self.dir / "shop.state")
        elif self.mode == "core":
            (self.dir / "shop.states" / traffic.link_name()).mkdir(parents=True, exist_ok=True)
            link = self.dir / "shop.current.new"
            link.symlink_to(f"shop.states/{traffic.link_name()}")
            link.rename(self.dir / "shop.current")
        else:
            live = self.local(render.live(self.env, self.inv, traffic))
            (self.dir / "shop.live.conf").write_text(live)

    def get(self, path: str, **headers: str) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture
def served(tmp_path, request):
    mode, trusted = request.param
    nginx = Nginx(tmp_path, mode, trusted)
    nginx.point(Traffic("blue", "r1"))
    tested = subprocess.run([*nginx.command, "-t", "-q"], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stderr
    subprocess.run([*nginx.command, "-g", "daemon on; master_process off;"], check=True)
    yield nginx
    subprocess.run([*nginx.command, "-s", "stop"], timeout=10)


@pytest.mark.parametrize(
    "served",
    [("core", ()), ("reload", ()), pytest.param(("file", ()), marks=NEEDS_NJS)],
    indirect=True,
)
def test_the_health_endpoint_follows_state_and_drain_mark_for_any_host(served):
    drain = served.dir / "shop.drain"
    assert served.get("/.bluegreen/up", Host="10.0.0.5") == (200, "blue r1\n")
    assert served.get("/.bluegreen/up", Host="anything.example") == (200, "blue r1\n")
    drain.touch()  # leave the balancer: no reload
    assert served.get("/.bluegreen/up") == (503, "draining\n")
    assert served.get("/version")[0] == 200  # the app still serves whoever comes
    drain.unlink()
    if served.mode != "reload":  # reload mode's answer changes with a reload, these without
        served.point(Traffic("green", "r2"))
        assert served.get("/.bluegreen/up") == (200, "green r2\n")
        served.point(Traffic("green", "r2", maintenance=True))
        assert served.get("/.bluegreen/up") == (503, "maintenance\n")
        (served.dir / ("shop.current" if served.mode == "core" else "shop.state")).unlink()
        assert served.get("/.bluegreen/up") == (503, "nothing serves\n")


@pytest.mark.parametrize("served", [("core", ("127.0.0.1/32",))], indirect=True)
def test_a_trusted_balancer_passes_the_client_address_to_the_app(served):
    forwarded = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}
    assert served.get("/", **forwarded) == (200, "blue 203.0.113.9")


@pytest.mark.parametrize("served", [("core", ("10.9.9.9/32",))], indirect=True)
def test_an_untrusted_client_cannot_forge_its_address(served):
    assert served.get("/", **{"X-Forwarded-For": "203.0.113.9"}) == (200, "blue 127.0.0.1")


def test_with_private_release_headers_the_endpoint_names_no_release(tmp_path):
    """A balancer asks from outside: the body says no more than the app's headers would."""
    inv = Inventory(path=tmp_path / "hosts.yml", app=App(name="shop"), ports=Ports(), hosts={},
                    groups={})  # fmt: skip
    text = render.site(render.environment(inv), inv, "core")
    health = text[text.index("location = /.bluegreen/up") :]
    health = health[: health.index("\n    }\n")]
    assert 'return 200 "up\\n";' in health and "_release" not in health
