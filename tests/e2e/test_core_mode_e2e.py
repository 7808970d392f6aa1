"""Core switch mode on an Amazon Linux 2023 host: no njs, no reload, no failed request.

The host is test_bootstrap_e2e's AL2023 stand-in (AL2023's os-release, real dnf, AL2023's
nginx.conf, which loads modules only from the empty /usr/share/nginx/modules), bootstrapped
with ``fab bootstrap``: its nginx loads no njs module. With ``switch_mode: auto`` a deploy,
a rollback, a 10 % split and its promote must each switch by renaming the state link, never
reload nginx, and fail no request of any of the three client kinds; maintenance on and off
(a word of the link's name) must answer with the page and then serve again, still with no
reload. The same scenarios on Debian run in test_deploy_e2e.py and test_split_e2e.py
(``core`` there is one of the modes).
"""

import json

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import KINDS, Load
from tests.e2e.test_bootstrap_e2e import amazon_linux  # noqa: F401  (the AL2023 host)
from tests.e2e.test_operate_e2e import MESSAGE, page

pytestmark = pytest.mark.e2e

WORKERS = "pgrep -f '^nginx: worker process$' | sort | tr '\\n' ' '"


def _under_load(host, inventory, *args):
    with Load([(host.address, 4000)], kinds=KINDS, max_seconds=120) as load:
        result = fab(inventory, *args)
    print(f"\nfab {' '.join(args)}: {result.seconds:.2f} s\n{load.report()}")
    assert result.returncode == 0, result.output
    for kind in KINDS:
        stats = load.stats(kind)
        assert stats.sent > 20 and stats.failed == 0, load.report()
    return result, load


def test_al2023_without_njs_deploys_rolls_back_and_splits_with_no_reload(
    amazon_linux,  # noqa: F811
    app_repo,
    tmp_path,
):
    host = amazon_linux
    inventory = write_inventory(tmp_path / "hosts.yml", app_repo.path, [host.name])
    assert fab(inventory, "bootstrap").returncode == 0
    config = sb.run_in(host, "nginx -T 2>/dev/null").stdout
    assert "include /usr/share/nginx/modules/*.conf;" in config
    assert "ngx_http_js_module" not in config and "js_import" not in config  # no njs here
    assert "pcre_jit on;" in config  # bootstrap's main context: core mode's regex compiled
    sb.import_base_image(host)  # sandbox hosts cannot pull; a server's build would
    first = fab(inventory, "deploy", "--ref", "v1")  # installs the site: the one reload
    assert first.returncode == 0, first.output
    workers = sb.run_in(host, WORKERS).stdout
    v1, v2 = app_repo.releases["v1"], app_repo.releases["v2"]
    split = {"color": "green", "release": v2, "percent": 10, "sticky": False}
    steps = (  # fab arguments, then what status says each host serves: live, release, split
        (("deploy", "--ref", "v2"), ("green", v2, None)),
        (("rollback",), ("blue", v1, None)),
        (("split", "--green", "10"), ("blue", v1, split)),
        (("promote",), ("green", v2, None)),
    )
    for args, (live, release, share) in steps:
        result, _ = _under_load(host, inventory, *args)
        assert "switch: state link renamed, no reload" in result.stdout, result.stdout
        status = json.loads(fab(inventory, "status", "--json").stdout)["hosts"][0]
        assert (status["switch_mode"], status["live"], status["split"]) == ("core", live, share)
        assert status["colors"][live]["release"] == release
    assert fab(inventory, "maintenance", "--on", "--message", MESSAGE).returncode == 0
    status, headers, body = page(host)
    assert (status, headers["Retry-After"], headers["X-Bluegreen-Maintenance"]) == (503, "60", "on")
    assert "Upgrading the &lt;database&gt; &amp; &#34;search&#34;" in body
    assert fab(inventory, "maintenance", "--off").returncode == 0
    status, headers, _ = page(host)
    assert (status, headers["X-Bluegreen-Color"], headers["X-Bluegreen-Release"]) == (
        200,
        "green",
        v2,
    )
    assert sb.run_in(host, WORKERS).stdout == workers  # the same workers: nginx never reloaded
