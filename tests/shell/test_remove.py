"""fab remove's commands: only the app's own names, nginx first, history and volumes kept
unless asked."""

from bluegreen.config.inventory import App, AppProcess, ContainerOptions, ScheduledJob, Tls
from bluegreen.config.model import Metrics
from bluegreen.shell import remove

OPTIONS = ContainerOptions(user="www-data")  # a user the operator manages: never removed
METRICS = Metrics(textfile_dir="/var/lib/node")


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
    assert lines[7].startswith("docker ps -aq --filter label=bluegreen.app=shop ")  # workers
    assert lines[8] == (  # by tag: the same image under another app's tag stays
        "docker images --format '{{.Repository}}:{{.Tag}}' shop | grep -v ':<none>$'"
        " | xargs -r docker rmi >/dev/null"
    )
    assert lines[9].startswith("grep -lsF 'app=\"shop\"' ")  # the metrics files
    assert lines[11:] == [
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


WORKER = AppProcess("worker", "node worker.js")
CLEANUP = ScheduledJob("cleanup", "node cleanup.js", every=10, host="web1")


def test_docker_workers_and_schedulers_go_before_the_image_they_run():
    """Every process container of the app (``<app>-<name>``, set aside ``-prev``, the
    schedulers ``<app>-schedule-<job>``), also one hosts.yml no longer names: by label."""
    app = App(name="shop", processes=(WORKER,), schedule=(CLEANUP,))
    lines = remove.remove(app, "/srv/shop", "UNLOCK", False, True).split("\n")
    workers = (
        "docker ps -aq --filter label=bluegreen.app=shop --filter label=bluegreen.process"
        " | xargs -r docker rm -f >/dev/null"
    )
    images = next(line for line in lines if line.startswith("docker images"))
    assert workers in lines and lines.index(workers) < lines.index(images)


def test_process_workers_and_timers_go_with_the_units_by_their_header_line():
    """``bluegreen-<app>-<name>.service`` and the jobs' ``.timer``/``.service``: the ones
    whose first line names this app (``bluegreen-shop-*`` alone would match app shop-b's)."""
    app = App(name="shop", runtime="process", command="x", processes=(WORKER,), schedule=(CLEANUP,))
    lines = remove.remove(app, "/srv/shop", "UNLOCK", False, True).split("\n")
    found = (
        "units=$(cd /etc/systemd/system && grep -lsE '^# bluegreen app=shop (process|schedule)='"
        " bluegreen-shop-*.service bluegreen-shop-*.timer || true)"
    )
    stop = (
        'if [ -n "$units" ]; then systemctl disable --now $units >/dev/null 2>&1 || true;'
        " (cd /etc/systemd/system && rm -f $units); fi"
    )
    reload = "rm -f /etc/systemd/system/bluegreen-shop@.service && systemctl daemon-reload"
    assert lines.index(found) + 1 == lines.index(stop) < lines.index(reload)
    assert lines[lines.index(reload) + 1] == (
        "systemctl reset-failed $units 'bluegreen-shop@*.service' >/dev/null 2>&1 || true"
    )


def test_the_metrics_files_of_the_app_go_and_mtail_forgets_its_program():
    """The state and lock files in node_exporter's textfile directory (only where they name
    this app: ``bluegreen-a-lock.prom`` may be app ``a-lock``'s), mtail's program."""
    text = remove.remove(App(name="shop"), "/srv/shop", "UNLOCK", False, True, METRICS)
    assert (
        "grep -lsF 'app=\"shop\"' /var/lib/node/bluegreen-shop.prom"
        " /var/lib/node/bluegreen-shop-lock.prom | xargs -r rm -f"
    ) in text
    assert (
        "if [ -e /etc/mtail/bluegreen-shop.mtail ]; then rm -f /etc/mtail/bluegreen-shop.mtail;"
        " systemctl try-restart mtail 2>/dev/null"
        ' || { [ -s /run/bluegreen-mtail.pid ] && kill -HUP "$(cat /run/bluegreen-mtail.pid)"; }'
        " || true; fi"
    ) in text
