from pathlib import Path

import pytest

from bluegreen import templates
from bluegreen.inventory import App, Inventory, Ports


def _inventory(tmp_path: Path, name: str = "my-shop") -> Inventory:
    return Inventory(
        path=tmp_path / "hosts.yml", app=App(name=name), ports=Ports(), hosts={}, groups={}
    )


def test_live_include_names_color_release_and_port(tmp_path):
    inv = _inventory(tmp_path)
    text = templates.live(templates.environment(inv), inv, "green", "0123456789ab")
    assert text.splitlines()[0] == "# bluegreen live=green release=0123456789ab"
    assert "upstream bluegreen_my_shop {\n    server 127.0.0.1:4002;" in text
    assert 'map $host $bluegreen_my_shop_color { default "green"; }' in text
    assert 'map $host $bluegreen_my_shop_release { default "0123456789ab"; }' in text


def test_reload_site_listens_on_public_port_and_includes_live_file(tmp_path):
    inv = _inventory(tmp_path)
    text = templates.site(templates.environment(inv), inv, "reload")
    assert text.startswith("# bluegreen site mode=reload\n")
    assert "include /etc/nginx/bluegreen/my-shop.live.conf;" in text
    assert "js_" not in text
    assert "listen 4000;" in text
    assert "proxy_pass http://bluegreen_my_shop;" in text
    assert "add_header X-Bluegreen-Release $bluegreen_my_shop_release always;" in text


def test_file_site_reads_the_color_per_request_and_has_both_upstreams(tmp_path):
    inv = _inventory(tmp_path)
    text = templates.site(templates.environment(inv), inv, "file")
    assert text.startswith("# bluegreen site mode=file\n")
    assert "js_import bluegreen_my_shop from /etc/nginx/bluegreen/my-shop.js;" in text
    assert "js_set $bluegreen_my_shop_live bluegreen_my_shop.live;" in text
    assert "upstream bluegreen_my_shop_blue {\n    server 127.0.0.1:4001;" in text
    assert "upstream bluegreen_my_shop_green {\n    server 127.0.0.1:4002;" in text
    assert "proxy_pass http://bluegreen_my_shop_$bluegreen_my_shop_color;" in text
    assert 'if ($bluegreen_my_shop_color = "") {\n            return 503;' in text
    assert "include " not in text


def test_file_mode_script_whitelists_the_state_file(tmp_path):
    inv = _inventory(tmp_path)
    text = templates.script(templates.environment(inv), inv)
    assert "fs.readFileSync('/etc/nginx/bluegreen/my-shop.state', 'utf8')" in text
    assert "/^(blue|green) [A-Za-z0-9._-]{1,64}$/.test(text)" in text
    assert templates.state("green", "0123456789ab") == "green 0123456789ab\n"


def test_a_user_template_overrides_the_bundled_one(tmp_path):
    inv = _inventory(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.conf.j2").write_text("listen {{ public_port }}; # mine\n")
    assert templates.site(templates.environment(inv), inv, "reload") == "listen 4000; # mine\n"


def test_template_errors_name_the_template_and_line(tmp_path):
    inv = _inventory(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.conf.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(templates.TemplateError, match=r"site\.conf\.j2:2: "):
        templates.site(templates.environment(inv), inv, "reload")
    (tmp_path / "templates" / "site.conf.j2").write_text("{{ no_such_value }}\n")
    with pytest.raises(templates.TemplateError, match="site.conf.j2: 'no_such_value' is undefined"):
        templates.site(templates.environment(inv), inv, "reload")
