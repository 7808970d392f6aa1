"""Bootstrap without a server: the daemon.json merge, output parsing, and the step flow."""

import io
import json

import pytest

from bluegreen import transport
from bluegreen.config.inventory import App, Host, Inventory, Ports, Tls
from bluegreen.ops import bootstrap
from bluegreen.output.log import Log
from bluegreen.shell import acme, docker_config, system

# --- daemon.json merge -------------------------------------------------------------


def test_merge_into_no_file_adds_log_rotation():
    merged = json.loads(docker_config.merge_log_rotation(""))
    assert merged == {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}


def test_merge_keeps_every_other_key_and_the_operators_values():
    text = json.dumps({"bridge": "none", "iptables": False, "log-opts": {"max-size": "50m"}})
    merged = json.loads(docker_config.merge_log_rotation(text))
    assert merged == {
        "bridge": "none",
        "iptables": False,
        "log-opts": {"max-size": "50m", "max-file": "3"},
        "log-driver": "json-file",
    }


def test_merge_of_a_configured_file_changes_nothing():
    done = docker_config.merge_log_rotation('{"data-root": "/data"}')
    assert docker_config.merge_log_rotation(done) is None
    assert docker_config.merge_log_rotation(json.dumps(json.loads(done))) is None  # any layout


def test_merge_leaves_another_log_driver_alone():
    assert docker_config.merge_log_rotation('{"log-driver": "journald"}') is None


@pytest.mark.parametrize("text", ['{"a": 1,}', "[1, 2]", '{"log-opts": "big"}'])
def test_merge_refuses_to_overwrite_what_it_cannot_read(text):
    with pytest.raises(docker_config.DockerConfigError, match="fix it by hand"):
        docker_config.merge_log_rotation(text)


# --- output parsing ------------------------------------------------------------------


def test_outcome_sorts_changes_warnings_and_notes():
    result = bootstrap.outcome("changed: installed git\nstatus: done\nwarning: odd\n\n")
    assert (result.changes, result.warnings, result.notes) == (
        ["installed git"],
        ["odd"],
        ["status: done"],
    )


# --- the flow, against a scripted fake host --------------------------------------------

DEBIAN = 'os_ID=debian\nos_VERSION_ID="12"\n'


class FakeHost:
    """Answers bootstrap's scripts like a host would; records what ran."""

    def __init__(self, probe: str, answers: dict[str, str] | None = None) -> None:
        self.probe = probe
        self.answers = answers or {}  # what -> stdout
        self.ran: list[tuple[str, str, str | None]] = []  # (what, command, stdin)
        self.opened = 0

    def remote(self, host: Host) -> "FakeRemote":
        return FakeRemote(self, host)


class FakeRemote:
    def __init__(self, fake: FakeHost, host: Host) -> None:
        self.fake, self.host, self.round_trips = fake, host, 0

    def open(self) -> None:
        self.fake.opened += 1

    def close(self) -> None:
        pass

    def run(self, command, *, timeout=120, stdin=None, check=True, what="command"):
        self.round_trips += 1
        self.fake.ran.append((what, command, stdin))
        if what.startswith("probe"):
            return self.fake.probe
        return self.fake.answers.get(what, "")

    def http_get(self, port, path, timeout, tls=None):
        raise ConnectionRefusedError(port)


def _run(
    fake: FakeHost, monkeypatch, dry_run=False, inventory=None, docker_group=False, **host
) -> tuple[bool, str]:
    monkeypatch.setattr(transport, "connect", lambda host, dry_run=False: fake.remote(host))
    out = io.StringIO()
    hosts = [Host("web1", "10.0.0.1", **host)]
    inv = inventory or _inventory()
    ok = bootstrap.bootstrap(inv, hosts, dry_run, Log(out, 4), docker_group=docker_group)
    return ok, out.getvalue()


def test_a_configured_host_reports_ok_for_every_step(monkeypatch):
    done = docker_config.merge_log_rotation("")
    fake = FakeHost(DEBIAN + "systemd=yes\n", {"read daemon.json": f"running=yes\n---\n{done}"})
    ok, out = _run(fake, monkeypatch)
    assert ok, out
    assert "profile debian (detected: debian 12, apt); systemd" in out
    assert "web1 ✅ bootstrap: 0 changed, 11 ok" in out
    assert "cloud-init: ok — no cloud-init" in out
    assert "port 4000 not served yet" in out
    ran = [what for what, _, _ in fake.ran]
    assert ran == [
        "probe (root login)",
        "packages",
        "read daemon.json",
        "nginx main context",
        "services",
        "app directory",
        "firewall",
        "checks",
    ]


def test_daemon_json_is_merged_and_docker_restarted_only_when_idle(monkeypatch):
    fake = FakeHost(
        DEBIAN + "systemd=yes\n",
        {"read daemon.json": 'running=yes\ncontainers=0\nmd5=abc\n---\n{"bridge": "none"}\n'},
    )
    ok, out = _run(fake, monkeypatch)
    assert ok, out
    ((what, command, stdin),) = [r for r in fake.ran if r[0] == "write daemon.json"]
    assert 'if [ "$now" != abc ]' in command and "systemctl restart docker" in command
    assert json.loads(stdin)["bridge"] == "none"
    assert "docker log rotation: changed — log rotation merged into /etc/docker/daemon.json" in out


def test_daemon_json_change_never_restarts_docker_with_running_containers(monkeypatch):
    fake = FakeHost(DEBIAN + "systemd=yes\n", {"read daemon.json": "running=yes\ncontainers=3\n"})
    ok, out = _run(fake, monkeypatch)
    ((_, command, _),) = [r for r in fake.ran if r[0] == "write daemon.json"]
    assert "restart" not in command
    assert "⚠️  docker log rotation: docker not restarted (3 containers running)" in out


def test_a_sudo_user_joins_the_docker_group_only_when_asked(monkeypatch):
    """The group is root without sudo's log, and every command already runs through sudo -n."""
    fake = FakeHost(DEBIAN)
    ok, out = _run(fake, monkeypatch, user="ubuntu")
    assert ok, out
    assert "docker group" not in [what for what, _, _ in fake.ran]
    assert "docker group: ok — not asked for (--docker-group); commands run with sudo -n" in out


def test_sudo_user_joins_docker_group_then_reconnects(monkeypatch):
    fake = FakeHost(DEBIAN, {"docker group": "changed: added ubuntu to group docker\n"})
    ok, out = _run(fake, monkeypatch, user="ubuntu", docker_group=True)
    assert ok, out
    assert "connect: user ubuntu with sudo -n" in out
    assert "docker group: changed — added ubuntu to group docker" in out
    assert fake.opened == 2


def test_selinux_step_runs_only_when_enforcing(monkeypatch):
    fake = FakeHost(DEBIAN + "selinux=Enforcing\ncloud_init=yes\n")
    _run(fake, monkeypatch)
    assert [w for w, _, _ in fake.ran][1:3] == ["cloud-init", "packages"]
    assert "SELinux" in [w for w, _, _ in fake.ran]


def test_dry_run_only_probes_and_prints_every_step(monkeypatch):
    fake = FakeHost("os_ID=amzn\nos_VERSION_ID=2023\nos_ID_LIKE=fedora\n")
    ok, out = _run(fake, monkeypatch, dry_run=True)
    assert ok, out
    assert [what for what, _, _ in fake.ran] == ["probe (root login)"]
    assert "profile amazon-linux (detected: amzn 2023, dnf)" in out
    assert "dnf -q -y install $missing" in out
    assert "/usr/share/nginx/modules/90-bluegreen.conf" in out
    assert "docker group: skip (not asked for (--docker-group); commands run with sudo -n)" in out
    assert out.rstrip().endswith("dry run: nothing was changed")


def test_unsupported_system_fails_that_host_with_what_was_found(monkeypatch):
    fake = FakeHost("os_ID=rocky\nos_VERSION_ID=9.3\n")
    ok, out = _run(fake, monkeypatch)
    assert not ok
    assert "web1 ❌ connect: unsupported system (ID='rocky' VERSION_ID='9.3')" in out
    assert out.rstrip().endswith("❌ bootstrap failed on web1")


def test_a_failing_step_stops_that_host(monkeypatch):
    fake = FakeHost(DEBIAN)
    answer = FakeRemote.run

    def run(self, command, **kw):
        if kw.get("what") == "packages":
            raise RuntimeError("web1: packages failed (exit 1): E: Unable to locate package")
        return answer(self, command, **kw)

    monkeypatch.setattr(FakeRemote, "run", run)
    ok, out = _run(fake, monkeypatch)
    assert not ok
    assert "web1 ❌ packages: failed (exit 1): E: Unable to locate package" in out
    assert "services:" not in out


def test_steps_are_in_dependency_order():
    names = [step.name for step in bootstrap.steps(_inventory())]
    assert names == [
        "cloud-init",
        "packages",
        "docker log rotation",
        "nginx main context",
        "services",
        "docker group",
        "SELinux",
        "app directory",
        "firewall",
        "certificate renewal",
        "checks",
    ]
    assert "\nworker_shutdown_timeout 30s;\n" in system.MAIN_CONF_TEXT
    assert system.MAIN_CONF_TEXT.endswith("\npcre_jit on;\n")


@pytest.mark.parametrize(
    ("probe", "timer"),
    [
        (DEBIAN, "certbot.timer"),
        ("os_ID=amzn\nos_VERSION_ID=2023\n", "certbot-renew.timer"),  # AL2023 leaves it off
    ],
)
def test_acme_installs_certbot_and_enables_its_renewal_timer(monkeypatch, probe, timer):
    fake = FakeHost(probe + "systemd=yes\n", {"certificate renewal": f"changed: enabled {timer}"})
    ok, out = _run(fake, monkeypatch, inventory=_inventory(Tls(mode="acme", email="a@b.io")))
    assert ok, out
    ((command,),) = [(c,) for what, c, _ in fake.ran if what == "certificate renewal"]
    assert command == acme.renewal_timer(timer)
    assert "certbot" in next(c for what, c, _ in fake.ran if what == "packages")
    assert f"certificate renewal: changed — enabled {timer}" in out


def test_without_systemd_renewal_relies_on_cron_and_says_so():
    inventory = _inventory(Tls(mode="acme", email="a@b.io"))
    (step,) = [s for s in bootstrap.steps(inventory) if s.name == "certificate renewal"]
    target = bootstrap.Target(Host("web1", "10.0.0.1"), None, None, False, False, "", False)
    assert step.plan(target) == [acme.renewal_cron()]
    (off,) = [s for s in bootstrap.steps(_inventory()) if s.name == "certificate renewal"]
    assert off.plan(target) == [] and off.skipped == "no ACME certificate"


def _inventory(tls: Tls | None = None) -> Inventory:
    app = App(name="web", tls=tls or Tls())
    return Inventory(path=None, app=app, ports=Ports(), hosts={}, groups={})


def test_a_worker_only_host_gets_docker_and_no_nginx_and_says_what_it_skipped(monkeypatch):
    """``web: false``: no color, no site, so no nginx package, main context, service,
    SELinux proxy boolean, firewall port, certificate or public-port check."""
    done = docker_config.merge_log_rotation("")
    fake = FakeHost(DEBIAN + "systemd=yes\n", {"read daemon.json": f"running=yes\n---\n{done}"})
    inv = _inventory(Tls(mode="acme", email="a@b.c"))
    ok, out = _run(fake, monkeypatch, inventory=inv, web=False)
    assert ok, out
    ran = {what: command for what, command, _ in fake.ran}
    assert list(ran) == [
        "probe (root login)",
        "packages",
        "read daemon.json",
        "services",
        "app directory",
        "checks",
    ]
    assert "nginx" not in ran["packages"] + ran["services"] + ran["checks"]
    assert "certbot" not in ran["packages"] and "docker.io" in ran["packages"]
    assert "docker info" in ran["checks"]
    assert (
        "web1 ✅ web: false: worker-only host, skipping nginx (its package, main context and"
        " service), the SELinux proxy setting, the firewall, certificate renewal"
    ) in out
    for step in ("nginx main context", "SELinux", "firewall", "certificate renewal"):
        assert f"{step}: ok — web: false (no nginx here)" in out
