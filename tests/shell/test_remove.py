"""fab remove's commands: only the app's own names, nginx first, history and volumes kept
unless asked."""

from bluegreen.config.inventory import App, ContainerOptions, Tls
from bluegreen.shell import remove

OPTIONS = ContainerOptions(user="www-data")  # a user the operator manages: never removed


def test_the_app_is_present_with_its_site_or_more_than_a_history():
    assert remove.present("shop", "/srv/shop") == (
        "if [ -e /etc/nginx/conf.d/bluegreen-shop.conf ] || [ -n"
        ' "$(find /srv/shop -mindepth 1 -maxdepth 1 ! -name history.jsonl 2>/dev/null)" ];'
        " then echo present=yes; fi"
    )
    # the lock is taken only where the app is: elsewhere nothing is written (not even its dir)
    assert remove.present("shop", "/srv/shop", then="TAKE").endswith(
        " then echo present=yes; TAKE; fi"
    )


def test_a_removal_takes_nginx_first_then_the_containers_and_image_tags_of_the_app():
    lines = remove.remove(App(name="shop"), "/srv/shop", "RELEASE-LOCK", False, True).split("\n")
    assert lines[0] == "set -e"
    assert lines[1].startswith("rm -f /etc/nginx/conf.d/bluegreen-shop.conf ")
    assert " /etc/nginx/bluegreen/shop.drain " in lines[1]
    assert lines[3] == (
        "find /etc/nginx/bluegreen/tls -maxdepth 1 -name 'shop-????????????.*' -delete"
        " 2>/dev/null || true"
    )
    assert lines[4] == (
        "if ! grep -qs '^# bluegreen site .* domains=[^-]' /etc/nginx/conf.d/bluegreen-*.conf;"
        " then rm -f /etc/nginx/conf.d/00-bluegreen-refuse.conf; fi"
    )
    assert lines[5] == "nginx -t && nginx -s reload"
    assert lines[6] == (
        "docker rm -f shop-blue shop-green shop-blue-prev shop-green-prev >/dev/null 2>&1 || true"
    )
    assert lines[7] == (  # by tag: the same image under another app's tag stays
        "docker images --format '{{.Repository}}:{{.Tag}}' shop | grep -v ':<none>$'"
        " | xargs -r docker rmi >/dev/null"
    )
    assert lines[8:] == [
        "if [ -d /srv/shop ]; then find /srv/shop -mindepth 1 -maxdepth 1 ! -name history.jsonl"
        " ! -name .lock -exec rm -rf {} +; fi",
        "RELEASE-LOCK",
    ]


def test_volumes_and_history_go_only_when_asked():
    app = App(name="shop", volumes=("data:/data", "/srv/uploads:/uploads"))
    kept = remove.remove(app, "/srv/shop", "UNLOCK", False, True)
    assert "docker volume" not in kept and "rm -rf /srv/shop\n" not in kept
    gone = remove.remove(app, "/srv/shop", "UNLOCK", True, False).split("\n")
    assert "docker volume rm data" in gone  # a host directory is never removed
    assert gone[-2:] == ["UNLOCK", "rm -rf /srv/shop"]


def test_process_apps_lose_their_units():
    app = App(name="shop", runtime="process", command="./serve")
    text = remove.remove(app, "/srv/shop", "UNLOCK", False, True)
    assert (
        "systemctl disable --now bluegreen-shop@blue.service bluegreen-shop@green.service"
        " >/dev/null 2>&1 || true"
    ) in text
    assert "rm -f /etc/systemd/system/bluegreen-shop@.service && systemctl daemon-reload" in text
    assert "docker" not in text


def test_process_apps_lose_their_system_user_and_with_volumes_their_state():
    app = App(name="shop", runtime="process", command="./serve")
    kept = remove.remove(app, "/srv/shop", "UNLOCK", False, True).split("\n")
    user = (
        "if id -u bg-shop >/dev/null 2>&1; then userdel bg-shop"
        " || echo 'kept the system user bg-shop: a process still runs as it'; fi"
    )
    units = "rm -f /etc/systemd/system/bluegreen-shop@.service && systemctl daemon-reload"
    assert user in kept and kept.index(user) > kept.index(units)  # its colors stopped first
    assert "rm -rf /var/lib/bluegreen-shop" not in kept  # the app's data, as a named volume
    gone = remove.remove(app, "/srv/shop", "UNLOCK", True, False).split("\n")
    assert "rm -rf /var/lib/bluegreen-shop" in gone
    own = App(name="shop", runtime="process", command="./serve", options=OPTIONS)
    assert "userdel" not in remove.remove(own, "/srv/shop", "UNLOCK", True, False)


def test_an_acme_app_loses_its_certbot_lineage_after_nginx_stopped_naming_it():
    app = App(name="shop", domains=("shop.example",), tls=Tls(mode="acme", email="a@b.c"))
    lines = remove.remove(app, "/srv/shop", "UNLOCK", False, True).split("\n")
    reload = lines.index("nginx -t && nginx -s reload")
    assert lines[reload + 1 : reload + 3] == [
        "certbot delete --non-interactive --cert-name shop >/dev/null 2>&1 || true",
        "rm -f /etc/letsencrypt/bluegreen-shop-ca.pem",
    ]
    assert "certbot" not in remove.remove(App(name="shop"), "/srv/shop", "U", False, True)
