"""The post-switch watch on two sandbox hosts under load (file mode).

A healthy release passes its watch and only then is the old color stopped; a release that
passes its health checks and starts answering 500 a few seconds after the switch is
rolled back automatically, with the evidence printed. Failed requests are bounded by the
time the watch needs to notice (one poll a second) and revert: measured and printed.
"""

import re

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import RELEASES, fab, make_app_repo, write_inventory
from bluegreen.testing.load import KINDS, Load

pytestmark = pytest.mark.e2e

HOSTS = ["sandbox1", "sandbox2"]
FAILING = ("failing", "4.0.0", "ENV FAIL_AFTER=4\n")  # healthy, then 500 on / and /version
RESET = (
    "docker rm -f example-blue example-green >/dev/null 2>&1;"
    " rm -rf /etc/nginx/conf.d/bluegreen-* /etc/nginx/bluegreen /srv/example; nginx -s reload"
)


@pytest.fixture(scope="module")
def fleet(sandbox, tmp_path_factory):
    """Blue v1 live on both hosts; every switch is watched for up to 12 s."""
    path = tmp_path_factory.mktemp("watch")
    repo = make_app_repo(path / "repo", (*RELEASES, FAILING))
    hosts = [h for h in sandbox if h.name in HOSTS]
    for host in hosts:
        sb.run_in(host, RESET)
    plain = write_inventory(
        path / "plain.yml", repo.path, HOSTS, defaults_extra="switch_mode: file"
    )
    result = fab(plain, "deploy", "--ref", "v1")
    assert result.returncode == 0, result.output

    def watched(seconds: float):
        return write_inventory(
            path / f"watch-{seconds:g}.yml",
            repo.path,
            HOSTS,
            app_extra=f"watch: {{seconds: {seconds}, min_requests: 10, max_error_rate: 0.01}}",
            defaults_extra="switch_mode: file",
        )

    return watched, hosts, repo.releases


def _state(host, color: str) -> str:
    out = sb.run_in(host, f"docker inspect -f '{{{{.State.Status}}}}' example-{color}", check=False)
    return out.stdout.strip() or "gone"


def test_a_healthy_release_passes_the_watch_and_then_the_old_color_stops(fleet):
    watched, hosts, releases = fleet
    with Load([(h.address, 4000) for h in hosts], max_seconds=120) as load:
        result = fab(watched(2), "deploy", "--ref", "v2")
    print(f"\n{result.stdout}\n{load.report()}")
    assert result.returncode == 0, result.output
    for kind in KINDS:
        assert load.stats(kind).failed == 0, load.report()
    out = result.stdout
    for host in hosts:
        watch_line = re.search(rf"^{host.name} +✅ watch: .*green 0 of \d+ 5xx", out, re.M)
        assert watch_line, out
        assert out.index(watch_line.group(0)) < out.index(f"{host.name} ✅ drain:")
        assert _state(host, "blue") == "exited"


def test_a_release_that_starts_failing_after_the_switch_is_rolled_back(fleet):
    watched, hosts, releases = fleet
    with Load([(h.address, 4000) for h in hosts], max_seconds=120) as load:
        result = fab(watched(12), "deploy", "--ref", "failing")
    print(f"\n{result.stdout}\n{load.report()}")
    assert result.returncode == 1, result.output
    out = result.stdout
    assert re.search(r"❌ watch: blue \d+ of \d+ answers were 5xx \(\d+\.\d%, max 1\.0%\)", out)
    assert re.search(r"\| by upstream: .*blue \d+ of \d+ 5xx", out)
    for host in hosts:
        assert re.search(
            rf"^{host.name} +✅ revert: port 4000 serves green {releases['v2']}", out, re.M
        )
        assert _state(host, "green") == "running"  # the old color was kept running
        # the failing release is removed; the kept previous one is back in blue, stopped
        assert _state(host, "blue") == "exited"
        label = '{{index .Config.Labels "bluegreen.release"}}'
        kept = sb.run_in(host, f"docker inspect -f '{label}' example-blue").stdout.strip()
        assert kept != releases["failing"]
    failures = [t for t, _kind, _color, ok in load.samples() if not ok]
    stats = load.stats()
    window = failures[-1] - failures[0]
    print(
        f"watch rollback: {stats.failed} of {stats.sent} requests failed;"
        f" first to last failed request {window:.2f} s"
    )
    assert stats.failed > 0
    assert window < 3.0  # one poll a second, then one rename per host
