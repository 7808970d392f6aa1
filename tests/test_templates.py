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


def test_site_listens_on_public_port_and_includes_live_file(tmp_path):
    inv = _inventory(tmp_path)
    text = templates.site(templates.environment(inv), inv)
    assert "include /etc/nginx/bluegreen/my-shop.live.conf;" in text
    assert "listen 4000;" in text
    assert "proxy_pass http://bluegreen_my_shop;" in text
    assert "add_header X-Bluegreen-Release $bluegreen_my_shop_release always;" in text


def test_a_user_template_overrides_the_bundled_one(tmp_path):
    inv = _inventory(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.conf.j2").write_text("listen {{ public_port }}; # mine\n")
    assert templates.site(templates.environment(inv), inv) == "listen 4000; # mine\n"


def test_template_errors_name_the_template_and_line(tmp_path):
    inv = _inventory(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.conf.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(templates.TemplateError, match=r"site\.conf\.j2:2: "):
        templates.site(templates.environment(inv), inv)
    (tmp_path / "templates" / "site.conf.j2").write_text("{{ no_such_value }}\n")
    with pytest.raises(templates.TemplateError, match="site.conf.j2: 'no_such_value' is undefined"):
        templates.site(templates.environment(inv), inv)
