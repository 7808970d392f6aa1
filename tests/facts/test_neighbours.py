from pathlib import Path

from bluegreen.config.inventory import App, Inventory, Ports, Tls
from bluegreen.facts import neighbours


def inventory(name="shop", ports=None, domains=(), tls=None) -> Inventory:
    app = App(name=name, domains=domains, tls=tls or Tls())
    return Inventory(path=Path("hosts.yml"), app=app, ports=ports or Ports(), hosts={}, groups={})


BLOG_TLS = "# bluegreen site mode=file app=blog listen=80,443 blue=5001 green=5002 domains=blog.io"
BLOG_PLAIN = "# bluegreen site mode=reload app=blog listen=4000 blue=5001 green=5002 domains=-"
TLS = Tls(mode="acme", email="a@b.io")


def test_apps_with_own_ports_or_own_domains_fit_together():
    assert neighbours.check(inventory(), [BLOG_TLS], {}) is None
    shop = inventory(domains=("shop.io",), tls=TLS)
    assert neighbours.check(shop, [BLOG_TLS], {"blue": "shop"}) is None


def test_the_same_public_port_without_domains_is_refused_naming_the_app():
    assert neighbours.check(inventory(), [BLOG_PLAIN], {}) == (
        "shop collides with what is on this host: app blog already has public port 4000"
        " (only apps with domains share a port, by name)"
    )


def test_a_color_port_a_domain_and_a_foreign_container_are_refused():
    shop = inventory(ports=Ports(public=4000, blue=5001, green=4002), domains=("blog.io",))
    assert neighbours.check(shop, [BLOG_TLS], {"green": "", "blue": "other"}) == (
        "shop collides with what is on this host: app blog already has port 5001 (ours: a color"
        " port), domain blog.io;"
        " container shop-blue exists and is app other's;"
        " container shop-green exists and is not a bluegreen app's"
    )


def test_our_own_site_and_old_headers_are_not_judged():
    own = BLOG_PLAIN.replace("app=blog", "app=shop")
    assert neighbours.check(inventory(), [own, "# bluegreen site mode=file"], {}) is None


def test_where_the_site_listens():
    assert neighbours.listens(inventory()) == (4000,)
    assert neighbours.listens(inventory(domains=("a.io",))) == (80,)
    assert neighbours.listens(inventory(domains=("a.io",), tls=TLS)) == (80, 443)


SHOP_PLAIN = "# bluegreen site mode=core app=shop listen=80 blue=6001 green=6002 domains=shop.io"


def test_the_default_server_covers_every_port_an_app_on_names_listens_on():
    shop = inventory(domains=("shop.io",))  # tls off: port 80 only
    assert neighbours.refused(shop, [], frozenset()) == (80,)
    assert neighbours.refused(shop, [BLOG_TLS, BLOG_PLAIN], frozenset()) == (80, 443)
    tls = inventory(domains=("shop.io",), tls=TLS)
    assert neighbours.refused(tls, [SHOP_PLAIN, "# old header"], frozenset()) == (80, 443)


def test_a_default_server_we_did_not_install_keeps_its_port():
    tls = inventory(domains=("shop.io",), tls=TLS)
    assert neighbours.refused(tls, [], frozenset({80})) == (443,)
    assert neighbours.refused(tls, [], frozenset({80, 443})) == ()


def test_an_app_without_domains_installs_no_default_server():
    assert neighbours.refused(inventory(), [BLOG_TLS], frozenset()) == ()


def test_an_nginx_that_cannot_reject_a_handshake_gets_no_default_server_on_443():
    tls = inventory(domains=("shop.io",), tls=TLS)
    assert neighbours.refused(tls, [], frozenset(), rejects=False) == (80,)
