import dataclasses
import re
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from bluegreen import render
from bluegreen.config.certificates import Pair
from bluegreen.config.inventory import APP_NAME_MAX, App, Host, Inventory, Ports, Tls
from bluegreen.facts.traffic import Split, Traffic, from_link


def _inventory(tmp_path: Path, name: str = "my-shop") -> Inventory:
    return Inventory(
        path=tmp_path / "hosts.yml", app=App(name=name), ports=Ports(), hosts={}, groups={}
    )


def test_live_include_names_color_release_and_port(tmp_path):
    inv = _inventory(tmp_path)
    text = render.live(render.environment(inv), inv, Traffic("green", "0123456789ab"))
    assert text.splitlines()[0] == "# bluegreen live=green release=0123456789ab"
    assert "upstream bluegreen_my_shop {\n    server 127.0.0.1:4002;" in text
    assert 'map $host $bluegreen_my_shop_color { default "green"; }' in text
    assert 'map $host $bluegreen_my_shop_release { default "0123456789ab"; }' in text


def test_reload_site_listens_on_public_port_and_includes_live_file(tmp_path):
    inv = _inventory(tmp_path)
    text = render.site(render.environment(inv), inv, "reload")
    assert text.startswith(
        "# bluegreen site mode=reload app=my-shop listen=4000 blue=4001 green=4002 domains=-\n"
    )
    assert "include /etc/nginx/bluegreen/my-shop.live.conf;" in text
    assert "js_" not in text
    assert "listen 4000;" in text
    assert "proxy_pass http://bluegreen_my_shop;" in text
    public, loopback = text.split("\nserver {\n")[1:]
    assert public.startswith("    listen 4000;\n") and "X-Bluegreen-Release" not in public
    assert loopback.startswith("    listen 127.0.0.1:4000;\n")
    assert "add_header X-Bluegreen-Release $bluegreen_my_shop_release always;" in loopback


def test_file_site_reads_the_color_per_request_and_has_both_upstreams(tmp_path):
    inv = _inventory(tmp_path)
    text = render.site(render.environment(inv), inv, "file")
    assert text.startswith("# bluegreen site mode=file app=my-shop listen=4000 ")
    assert "js_import bluegreen_my_shop from /etc/nginx/bluegreen/my-shop.js;" in text
    assert "js_set $bluegreen_my_shop_live bluegreen_my_shop.live;" in text
    assert "upstream bluegreen_my_shop_blue {\n    server 127.0.0.1:4001;" in text
    assert "upstream bluegreen_my_shop_green {\n    server 127.0.0.1:4002;" in text
    assert "proxy_pass http://bluegreen_my_shop_$bluegreen_my_shop_color;" in text
    assert 'if ($bluegreen_my_shop_color = "") {\n            return 503;' in text
    assert "include " not in text


def test_file_mode_script_whitelists_the_state_file(tmp_path):
    inv = _inventory(tmp_path)
    text = render.script(render.environment(inv), inv)
    assert "fs.readFileSync('/etc/nginx/bluegreen/my-shop.state', 'utf8')" in text
    assert (
        "var STATE = /^(blue|green) ([A-Za-z0-9._-]{1,64})"
        "(?: (blue|green) ([A-Za-z0-9._-]{1,64}) ([1-9][0-9]?)( sticky)?)?( maintenance)?$/;"
    ) in text
    assert "if (!m || m[3] === m[1]) {\n        return '';" in text
    assert "var roll = m[6] ? bucket(r.remoteAddress) : Math.floor(Math.random() * 100);" in text
    assert render.state(Traffic("green", "0123456789ab")) == "green 0123456789ab\n"


def test_the_state_line_of_a_split_names_both_colors_and_the_share():
    split = Traffic("blue", "r1", Split("green", "r2", 10))
    assert render.state(split) == "blue r1 green r2 10\n"
    sticky = Traffic("blue", "r1", Split("green", "r2", 10, sticky=True))
    assert render.state(sticky) == "blue r1 green r2 10 sticky\n"


def test_reload_mode_split_weights_one_upstream_and_names_the_color_that_answered(tmp_path):
    inv = _inventory(tmp_path)
    traffic = Traffic("blue", "r1", Split("green", "r2", 10))
    assert render.live(render.environment(inv), inv, traffic) == (
        "# bluegreen live=blue release=r1 other=green other_release=r2 percent=10 sticky=no\n"
        "# Managed by bluegreen: my-shop is split, 90 % to blue and 10 % to green.\n"
        "upstream bluegreen_my_shop {\n"
        "    server 127.0.0.1:4001 weight=90;\n"
        "    server 127.0.0.1:4002 weight=10;\n"
        "    keepalive 16;\n"
        "}\n"
        "# The headers name the color that answered (the last address nginx tried).\n"
        "map $upstream_addr $bluegreen_my_shop_color {\n"
        '    "~127\\.0\\.0\\.1:4002$" "green";\n'
        '    default "blue";\n'
        "}\n"
        "map $upstream_addr $bluegreen_my_shop_release {\n"
        '    "~127\\.0\\.0\\.1:4002$" "r2";\n'
        '    default "r1";\n'
        "}\n"
        "# fab maintenance --on: nginx answers 503 with the maintenance page.\n"
        'map $host $bluegreen_my_shop_maintenance { default ""; }\n'
    )


def test_reload_mode_sticky_split_hashes_the_client_address(tmp_path):
    inv = _inventory(tmp_path)
    traffic = Traffic("green", "r2", Split("blue", "r1", 25, sticky=True))
    text = render.live(render.environment(inv), inv, traffic)
    assert text.splitlines()[0] == (
        "# bluegreen live=green release=r2 other=blue other_release=r1 percent=25 sticky=yes"
    )
    assert (
        "upstream bluegreen_my_shop {\n"
        "    hash $remote_addr consistent;\n"
        "    server 127.0.0.1:4002 weight=75;\n"
        "    server 127.0.0.1:4001 weight=25;\n"
    ) in text


def test_the_site_logs_status_time_and_upstream_for_the_watch(tmp_path):
    inv = _inventory(tmp_path)
    for mode in ("reload", "file"):
        text = render.site(render.environment(inv), inv, mode)
        assert (
            "log_format bluegreen_my_shop '$msec $status $request_time $upstream_addr';\n"
        ) in text
        assert (
            "    access_log /var/log/nginx/bluegreen-my-shop.access.log bluegreen_my_shop;\n"
        ) in text


def test_a_user_template_overrides_the_bundled_one(tmp_path):
    inv = _inventory(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.conf.j2").write_text("listen {{ public_port }}; # mine\n")
    assert render.site(render.environment(inv), inv, "reload") == "listen 4000; # mine\n"


def test_template_errors_name_the_template_and_line(tmp_path):
    inv = _inventory(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.conf.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(render.TemplateError, match=r"site\.conf\.j2:2: "):
        render.site(render.environment(inv), inv, "reload")
    (tmp_path / "templates" / "site.conf.j2").write_text("{{ no_such_value }}\n")
    with pytest.raises(render.TemplateError, match="site.conf.j2: 'no_such_value' is undefined"):
        render.site(render.environment(inv), inv, "reload")


def _tls_inventory(tmp_path: Path, tls: Tls, domains=("shop.example.com", "www.example.com")):
    app = App(name="my-shop", domains=domains, tls=tls)
    return Inventory(path=tmp_path / "hosts.yml", app=app, ports=Ports(), hosts={}, groups={})


def test_tls_site_serves_443_by_name_with_the_pair_named_by_its_fingerprint(tmp_path):
    pair = Pair(b"chain", b"secret", "0123456789ab")
    inv = _tls_inventory(tmp_path, Tls(mode="files", pair=pair, hsts=True))
    text = render.site(render.environment(inv), inv, "file")
    assert text.startswith(
        "# bluegreen site mode=file app=my-shop listen=80,443 blue=4001 green=4002"
        " domains=shop.example.com,www.example.com\n"
    )
    https, loopback = text.split("server {")[1:]  # the second: bluegreen's checks, by name
    assert "listen 80" not in text  # port 80 is the http file's
    assert loopback.replace("listen 127.0.0.1:443 ", "listen 443 ").startswith(
        https[: https.index("    access_log")]
    )
    expected = (
        "listen 443 ssl http2;\n    server_name shop.example.com www.example.com;",
        "ssl_certificate /etc/nginx/bluegreen/tls/my-shop-0123456789ab.crt;",
        "ssl_certificate_key /etc/nginx/bluegreen/tls/my-shop-0123456789ab.key;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        'add_header Strict-Transport-Security "max-age=63072000" always;',
        "proxy_pass http://bluegreen_my_shop_$bluegreen_my_shop_color;",
    )
    assert [line for line in expected if line not in https] == []
    assert "secret" not in text and "chain" not in text


def test_port_80_answers_challenges_redirects_and_asks_peers_with_acme(tmp_path):
    pair = Pair(b"chain", b"secret", "0123456789ab")
    inv = _tls_inventory(tmp_path, Tls(mode="files", pair=pair))
    hosts = [Host("web1", "10.0.0.1"), Host("web2", "10.0.0.2"), Host("web3", "10.0.0.3")]
    inv = dataclasses.replace(inv, hosts={h.name: h for h in hosts})
    text = render.http(render.environment(inv), inv, hosts[0])
    assert text.startswith("# bluegreen http my-shop: port 80 of its domains")
    assert "listen 80;\n    server_name shop.example.com www.example.com;" in text
    assert "location /.well-known/acme-challenge/ {\n        root /var/lib/bluegreen/acme;" in text
    assert "return 301 https://$host$request_uri;" in text
    assert "proxy_pass" not in text and "try_files" not in text  # files: nothing to forward
    acme = dataclasses.replace(inv, app=dataclasses.replace(inv.app, tls=Tls(mode="acme")))
    text = render.http(render.environment(acme), acme, hosts[0])
    assert (
        "upstream bluegreen_my_shop_acme_peers {\n    server 10.0.0.2:80 max_fails=0;\n"
        "    server 10.0.0.3:80 max_fails=0;\n}"
    ) in text
    assert "try_files $uri @bluegreen_my_shop_peers;" in text
    assert "if ($http_x_bluegreen_acme_hop) {\n            return 404;" in text
    assert "proxy_set_header X-Bluegreen-Acme-Hop 1;" in text
    assert "proxy_next_upstream error timeout http_404;" in text


def test_domains_without_tls_answer_by_name_on_80_and_hsts_is_opt_in(tmp_path):
    inv = _tls_inventory(tmp_path, Tls(), domains=("a.example.com",))
    text = render.site(render.environment(inv), inv, "reload")
    assert "listen 80;\n    server_name a.example.com;" in text
    assert "443" not in text and "return 301" not in text and "Strict-Transport" not in text
    assert "proxy_pass http://bluegreen_my_shop;" in text


def test_acme_site_reads_certbots_lineage_named_after_the_app(tmp_path):
    inv = _tls_inventory(tmp_path, Tls(mode="acme", email="ops@example.com"))
    text = render.site(render.environment(inv), inv, "reload")
    assert "ssl_certificate /etc/letsencrypt/live/my-shop/fullchain.pem;" in text
    assert "ssl_certificate_key /etc/letsencrypt/live/my-shop/privkey.pem;" in text


# the state's whitelist, captured by name: color and release, then a split's other color,
# its release, the percent, sticky; either one may end in maintenance
MAIN = (
    r"^/etc/nginx/bluegreen/my\-shop\.states/(?<bluegreen__main>blue|green),"
    r"(?<bluegreen__main_release>[A-Za-z0-9._-]{1,64})"
)
SPLIT = (
    r",(?!\1)(?<bluegreen__other>blue|green),"
    r"(?<bluegreen__other_release>[A-Za-z0-9._-]{1,64}),"
    r"(?<bluegreen__percent>0[1-9]|[1-9][0-9])(?<bluegreen__sticky>,sticky)?"
)
DOWN = r"(?<bluegreen__down>,maintenance)?$"
CORE_MAPS = r"""# The live color is the name of the directory that this symlink points to:
# /etc/nginx/bluegreen/my-shop.current -> "<color>,<release>", or split:
# "<color>,<release>,<other>,<other release>,<percent, two digits>[,sticky]", either one
# followed by ",maintenance" while the maintenance page is up.
# A switch renames a new link over it (atomic): no reload, no window where both answer,
# and core nginx only ($realpath_root, map, split_clients): no njs or Lua module needed.
# One regex per request: the first map's match captures the state's words by name; color,
# release and maintenance are then hash lookups of the side that serves ("main", or
# "other": a split's bucket below its percent), so they read that one match's captures.
map $bluegreen_my_shop_state $bluegreen_my_shop_side {
    "~MAINDOWN" main;
    "~MAINSPLITDOWN" $bluegreen_my_shop_split_side;
    default "";
}
map $bluegreen_my_shop_side $bluegreen_my_shop_color {
    main $bluegreen__main;
    other $bluegreen__other;
    default "";
}
map $bluegreen_my_shop_side $bluegreen_my_shop_release {
    main $bluegreen__main_release;
    other $bluegreen__other_release;
    default "";
}
map $bluegreen_my_shop_side $bluegreen_my_shop_maintenance {
    main $bluegreen__down;
    other $bluegreen__down;
    default "";
}
# A split only: its bucket 00..99, random per request, or by client address (sticky: a
# bucket below the percent stays on the other color when the percent grows).
split_clients "${request_id}" $bluegreen_my_shop_roll {
BUCKETS}
split_clients "${remote_addr}" $bluegreen_my_shop_stick {
BUCKETS}
map $bluegreen__sticky $bluegreen_my_shop_bucket {
    ",sticky" $bluegreen_my_shop_stick;
    default $bluegreen_my_shop_roll;
}
# "<bucket> <percent>", both two digits: the bucket is below the percent -> the other color.
map "$bluegreen_my_shop_bucket $bluegreen__percent" $bluegreen_my_shop_split_side {
    "~^(?:BELOW)$" other;
    default main;
}
upstream bluegreen_my_shop_blue {
"""
CORE_LOCATION = r"""    location / {
        root /etc/nginx/bluegreen/my-shop.current;  # never served from: only for $realpath_root
        set $bluegreen_my_shop_state $realpath_root;  # once: one switch state per request
        if ($bluegreen_my_shop_maintenance) {
            error_page 503 /.bluegreen-my-shop-maintenance.html;
            return 503;  # fab maintenance --on: the page below, the containers keep running
        }
        if ($bluegreen_my_shop_color = "") {
            return 503;  # the switch state is missing or invalid: never guess a color
        }
        proxy_pass http://bluegreen_my_shop_$bluegreen_my_shop_color;
"""


def test_core_site_reads_the_state_link_once_per_request_with_core_modules_only(tmp_path):
    inv = _inventory(tmp_path)
    text = render.site(render.environment(inv), inv, "core")
    assert text.startswith("# bluegreen site mode=core app=my-shop listen=4000 ")
    buckets = "".join(f"    1% {bucket:02d};\n" for bucket in range(100))
    maps = CORE_MAPS.replace("BUCKETS", buckets).replace("SPLIT", SPLIT).replace("DOWN", DOWN)
    maps = maps.replace("MAIN", MAIN)
    assert maps.replace("BELOW", render.BELOW) in text
    assert CORE_LOCATION in text
    assert "upstream bluegreen_my_shop_green {\n    server 127.0.0.1:4002;" in text
    assert "js_" not in text and "include " not in text and "_by_lua" not in text


@pytest.mark.parametrize(
    ("traffic", "name"),
    [
        (Traffic("green", "r.2-x"), "green,r.2-x"),
        (Traffic("blue", "r1", Split("green", "r2", 5)), "blue,r1,green,r2,05"),
        (
            Traffic("blue", "r1", Split("green", "r2", 50, sticky=True)),
            "blue,r1,green,r2,50,sticky",
        ),
        (Traffic("blue", "r1", maintenance=True), "blue,r1,maintenance"),
        (
            Traffic("blue", "r1", Split("green", "r2", 7, sticky=True), maintenance=True),
            "blue,r1,green,r2,07,sticky,maintenance",
        ),
    ],
)
def test_core_mode_names_the_state_directory_and_reads_it_back(traffic, name):
    assert traffic.link_name() == name
    assert from_link(f"/etc/nginx/bluegreen/my-shop.states/{name}") == traffic


def test_core_mode_sends_a_split_bucket_to_the_other_color_exactly_below_the_percent():
    below = re.compile(f"^(?:{render.BELOW})$")
    for bucket in range(100):
        for percent in range(1, 100):
            key = f"{bucket:02d} {percent:02d}"
            assert bool(below.match(key)) is (bucket < percent), key
    assert below.match(" ") is None  # one color: no bucket, no percent


def test_maintenance_is_a_word_of_the_state_line_and_of_the_live_header(tmp_path):
    inv = _inventory(tmp_path)
    down = Traffic("blue", "r1", maintenance=True)
    assert render.state(down) == "blue r1 maintenance\n"
    split = Traffic("blue", "r1", Split("green", "r2", 10, sticky=True), maintenance=True)
    assert render.state(split) == "blue r1 green r2 10 sticky maintenance\n"
    text = render.live(render.environment(inv), inv, down)
    assert text.splitlines()[0] == "# bluegreen live=blue release=r1 maintenance=on"
    assert 'map $host $bluegreen_my_shop_maintenance { default "1"; }' in text


def test_the_site_answers_503_with_the_page_while_in_maintenance(tmp_path):
    inv = _inventory(tmp_path)
    env = render.environment(inv)
    sites = {mode: render.site(env, inv, mode) for mode in ("file", "core", "reload")}
    answer = (
        "        if ($bluegreen_my_shop_maintenance) {\n"
        "            error_page 503 /.bluegreen-my-shop-maintenance.html;\n"
        "            return 503;"
    )
    page = (
        "    location = /.bluegreen-my-shop-maintenance.html {\n"
        "        internal;\n"
        "        alias /etc/nginx/bluegreen/my-shop.maintenance.html;\n"
        "        default_type text/html;\n"
        "        charset utf-8;\n"
        "        add_header Retry-After 60 always;\n"
    )
    assert all(answer in text and page in text for text in sites.values())
    assert (
        '$bluegreen_my_shop_live $bluegreen_my_shop_maintenance {\n    "~[ ,]maintenance$" 1;'
        in (sites["file"])
    )
    assert "    main $bluegreen__down;\n    other $bluegreen__down;" in sites["core"]
    assert '    "~^(blue|green) (?<release>[A-Za-z0-9._-]+)" $release;' in sites["file"]


def test_the_maintenance_page_escapes_the_message(tmp_path):
    inv = _inventory(tmp_path)
    page = render.maintenance_page(render.environment(inv), inv, '<b>"DB" & co</b>')
    assert "<p>&lt;b&gt;&#34;DB&#34; &amp; co&lt;/b&gt;</p>" in page
    assert "<b>" not in page


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(shutil.which("nginx") is None, reason="needs the nginx binary")
def test_a_real_nginx_serves_two_core_mode_apps_each_its_own_state(tmp_path):
    """Two apps' core-mode sites in one nginx, one app name as long as allowed: PCRE2
    refuses capture names over 32 characters (so they do not carry the app's name, and
    both sites share them), nginx's default variables_hash_bucket_size (64) variable names
    over 46. Each app answers from its own state link: one blue, the other a split."""
    longest = "a" * (APP_NAME_MAX - 1) + "b"
    states = {
        longest: Traffic("blue", "r1"),
        "shop": Traffic("green", "r2", Split("blue", "r1", 50)),
    }
    config, ports = [], {}
    for name, traffic in states.items():
        public, blue, green = _free_port(), _free_port(), _free_port()
        ports[name] = public
        inv = dataclasses.replace(
            _inventory(tmp_path, name), ports=Ports(public=public, blue=blue, green=green)
        )
        text = render.site(render.environment(inv), inv, "core")
        text = text.replace("/etc/nginx/bluegreen/", f"{tmp_path}/").replace(
            "/var/log/nginx/", f"{tmp_path}/"
        )
        config.append(text)
        for color, port in (("blue", blue), ("green", green)):
            config.append(f"server {{ listen 127.0.0.1:{port}; return 200 '{name} {color}'; }}")
        (tmp_path / f"{name}.states" / traffic.link_name()).mkdir(parents=True)
        (tmp_path / f"{name}.current").symlink_to(f"{name}.states/{traffic.link_name()}")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\naccess_log off;\n"
        + "\n".join(config)
        + "\n}\n"
    )
    nginx = ["nginx", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)]
    tested = subprocess.run([*nginx, "-t", "-q"], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stderr
    subprocess.run([*nginx, "-g", "daemon on; master_process off;"], check=True, timeout=10)
    try:
        seen = {name: set() for name in states}
        for name, port in ports.items():
            for _ in range(40):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    color = reply.headers["X-Bluegreen-Color"]
                    release = reply.headers["X-Bluegreen-Release"]
                    assert reply.read().decode() == f"{name} {color}"
                    seen[name].add((color, release))
    finally:
        subprocess.run([*nginx, "-s", "stop"], timeout=10)
    assert seen == {longest: {("blue", "r1")}, "shop": {("green", "r2"), ("blue", "r1")}}


REFUSE_80 = """server {
    listen 80 default_server;
    server_name _;

    # The one exception: a load balancer's health check (sent to the address, without the
    # app's name) gets the host's state: 503 while an app here is drained out of it.
    location = /.bluegreen/up {
        access_log off;
        default_type text/plain;
        add_header Cache-Control "no-store" always;
        if (-e /etc/nginx/bluegreen/my-shop.drain) {
            return 503 "draining\\n";
        }
        return 200 "up\\n";
    }

    location / {
        return 444;  # close the connection without an answer
    }
}
"""
REFUSE_443 = """server {
    listen 443 ssl default_server;
    server_name _;
    # An unknown name, or a handshake without SNI (a scanner), fails the handshake: no
    # certificate of ours is shown (nginx >= 1.19.4).
    ssl_reject_handshake on;
}
"""


def test_the_default_server_refuses_unknown_names_on_each_port_it_is_given(tmp_path):
    env = render.environment(_inventory(tmp_path))
    both = render.refuse(env, (80, 443), ("my-shop",))
    assert both.startswith("# bluegreen refuse ports=80,443\n")
    assert both.endswith(REFUSE_80 + REFUSE_443)
    only = render.refuse(env, (443,), ("my-shop",))
    assert only.startswith("# bluegreen refuse ports=443\n") and only.endswith(REFUSE_443)
    assert "listen 80" not in only


def test_acme_peers_are_the_hosts_of_this_hosts_groups_with_ipv6_in_brackets(tmp_path):
    inv = _tls_inventory(tmp_path, Tls(mode="acme"))
    hosts = [Host("web1", "2001:db8::1"), Host("web2", "2001:db8::2"), Host("web3", "10.0.0.3"),
             Host("stage1", "10.9.0.1"), Host("lone", "10.8.0.1")]  # fmt: skip
    groups = {"prod": ("eu",), "eu": ("web1", "web2", "web3"), "staging": ("stage1",)}
    inv = dataclasses.replace(inv, hosts={h.name: h for h in hosts}, groups=groups)
    text = render.http(render.environment(inv), inv, hosts[0])
    upstream = text[text.index("upstream") : text.index("}") + 1]
    assert upstream == (
        "upstream bluegreen_my_shop_acme_peers {\n    server [2001:db8::2]:80 max_fails=0;\n"
        "    server 10.0.0.3:80 max_fails=0;\n}"
    )  # not staging's host, nor one in no group
    assert "upstream" not in render.http(render.environment(inv), inv, hosts[3])  # alone
