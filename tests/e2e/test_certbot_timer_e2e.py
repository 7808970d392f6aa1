"""``tls: acme`` on a host with a real systemd: bootstrap turns certbot's renewal timer on.

Debian's certbot package enables ``certbot.timer`` itself; Amazon Linux 2023's leaves its
``certbot-renew.timer`` off, and the certificate would expire after 90 days. The test
switches the timer off first (as on AL2023), then bootstraps: the timer must be enabled
and running, and the service it starts (``certbot -q renew``) must run to success under
the host's systemd. Obtaining and renewing a certificate itself is test_acme_e2e.py's.
"""

import textwrap
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.sandbox import app as sandbox_app
from bluegreen.testing import demo
from tests.e2e import support

pytestmark = pytest.mark.e2e

INDEX = 6  # sandbox6: a systemd host apart from the session's tini hosts
TIMER = "certbot.timer"


@pytest.fixture(scope="module")
def host():
    with support.systemd_host(INDEX) as started:
        yield started


def _inventory(folder: Path) -> Path:
    app = textwrap.dedent("""\
        app:
          name: shop
          runtime: process
          repo: .
          command: exec python3 -m http.server "$PORT"
          domains: [shop.bluegreen.test]
          tls: {acme: {email: ops@bluegreen.test}}
        """)
    path = folder / "hosts.yml"
    path.write_text(app + sandbox_app.sandbox_hosts("fleet", [sb.host_name(INDEX)]))
    return path


def _timer(host) -> str:
    return sb.run_in(
        host, f"systemctl is-enabled {TIMER}; systemctl is-active {TIMER}", check=False
    ).stdout.strip()


def test_bootstrap_enables_certbots_timer_and_its_renewal_runs(host, tmp_path):
    sb.run_in(host, f"systemctl disable --now -q {TIMER}")
    assert _timer(host).split() == ["disabled", "inactive"]
    inventory = _inventory(tmp_path)

    first = demo.fab(inventory, "bootstrap")
    print(first.stdout)
    assert first.returncode == 0, first.output
    assert f"certificate renewal: changed — enabled {TIMER}" in first.stdout
    assert _timer(host).split() == ["enabled", "active"]
    next_run = sb.run_in(host, f"systemctl show -p NextElapseUSecRealtime --value {TIMER}")
    assert next_run.stdout.strip() not in ("", "n/a"), "the timer has no next run"

    renewal = sb.run_in(
        host,
        "systemctl start certbot.service;"
        " systemctl show -p Result -p ExecMainStatus certbot.service",
    )
    assert renewal.stdout.split() == ["Result=success", "ExecMainStatus=0"], renewal.stdout

    second = demo.fab(inventory, "bootstrap")
    assert second.returncode == 0, second.output
    assert "certificate renewal: ok" in second.stdout
