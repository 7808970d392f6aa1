"""fab bootstrap on bare sandbox hosts: Debian (apt) then a deploy, and Amazon Linux 2023 (dnf).

Both hosts start bare (sshd only: no nginx or dockerd running, an empty /etc/nginx, no
docker state) next to the session's fleet, as sandbox7 and sandbox8. The Debian host has
an active ufw (its own /etc/ufw, rules in its own network namespace) that lets only SSH
in. The AL2023 host has AL2023's /etc/os-release and real dnf, pointed at a local
repository of stand-in packages (tests/e2e/rpm), with private dnf/rpm state so this
machine's stays untouched.
"""

import os
import shutil
import socket
import urllib.request
from pathlib import Path

import pytest

from bluegreen import sandbox as sb
from bluegreen.testing.demo import fab, write_inventory
from bluegreen.testing.load import Load
from tests.e2e import rpm

pytestmark = pytest.mark.e2e

GUARDED = ("new", "keepalive-retry")
AL2023_OS_RELEASE = """\
NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023.6.20250115"
"""
DNF_STATE = ("/etc/yum.repos.d", "/etc/dnf", "/var/lib/dnf", "/var/cache/dnf")


def _bootstrap(inventory: Path, label: str):
    result = fab(inventory, "bootstrap")
    print(f"\n{label}: {result.seconds:.2f} s\n{result.stdout}")
    assert result.returncode == 0, result.output
    return result


def _facts(host) -> dict[str, str]:
    out = sb.run_in(host, "cat /run/nginx.pid; docker ps -q --no-trunc | sort | tr '\\n' ' '")
    pid, containers = out.stdout.split("\n", 1)
    return {"nginx": pid.strip(), "containers": containers.strip()}


def _port_filtered(address: str, port: int) -> bool:
    """A firewall drops the SYN (a timeout), where a host without one refuses at once."""
    try:
        socket.create_connection((address, port), timeout=2).close()
    except TimeoutError:
        return True
    except OSError:
        return False
    return False


@pytest.fixture(scope="module")
def bare_debian(sandbox, tmp_path_factory):
    if not shutil.which("ufw"):
        pytest.fail("the bootstrap test needs ufw (scripts/setup.sh installs it)")
    options = sb.HostOptions(
        bare=True, os_release=Path("/usr/lib/os-release").read_text(), private=("/etc/ufw",)
    )
    host = sb.add_host(7, options=options)
    private = sb.host_dir(sb.DEFAULT_STATE, host.name) / sb.private_dir_name("/etc/ufw")
    shutil.copytree("/etc/ufw", private, dirs_exist_ok=True)  # the package's pristine rules
    sb.run_in(host, "ufw allow 22/tcp >/dev/null && ufw --force enable >/dev/null")
    assert _port_filtered(host.address, 4000)
    yield host
    sb.remove_host(host.name)


@pytest.fixture(scope="module")
def amazon_linux(sandbox):
    missing = [tool for tool in ("dnf", "rpmbuild", "createrepo_c") if not shutil.which(tool)]
    if missing:
        message = f"the dnf test needs: {', '.join(missing)} (scripts/setup.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    repo = rpm.build(sb.DEFAULT_STATE / "rpm-repo")
    options = sb.HostOptions(
        bare=True, os_release=AL2023_OS_RELEASE, private=DNF_STATE + rpm.PRIVATE_DIRS
    )
    host = sb.add_host(8, options=options)
    sb.run_in(
        host,
        "printf '[main]\\ngpgcheck=0\\nbest=True\\nskip_if_unavailable=False\\n'"
        " > /etc/dnf/dnf.conf && printf '[bgtest]\\nname=AL2023 stand-ins\\n"
        f"baseurl=file://{repo}\\nenabled=1\\ngpgcheck=0\\n' > /etc/yum.repos.d/bgtest.repo",
    )
    yield host
    sb.remove_host(host.name)
    shutil.rmtree(repo, ignore_errors=True)


def test_dry_run_changes_nothing(bare_debian, app_repo, tmp_path):
    inventory = write_inventory(tmp_path / "hosts.yml", app_repo.path, [bare_debian.name])
    result = fab(inventory, "bootstrap", "--dry-run")
    assert result.returncode == 0, result.output
    assert "profile debian (detected: debian 12, apt)" in result.stdout
    assert "install --reinstall" in result.stdout
    assert result.stdout.rstrip().endswith("dry run: nothing was changed")
    assert sb.run_in(bare_debian, "ls -A /etc/nginx").stdout == ""
    running = sb.run_in(bare_debian, "ls /run").stdout.split()
    assert "nginx.pid" not in running and "docker.pid" not in running
    assert "log-opts" not in sb.run_in(bare_debian, "cat /etc/docker/daemon.json").stdout
    assert "4000" not in sb.run_in(bare_debian, "ufw status").stdout


def test_bare_debian_bootstrap_deploy_under_load_and_again(bare_debian, app_repo, tmp_path):
    inventory = write_inventory(tmp_path / "hosts.yml", app_repo.path, [bare_debian.name])
    first = _bootstrap(inventory, "first bootstrap (apt, bare Debian)")
    for expected in (
        "packages: changed — restored /etc/nginx/nginx.conf (reinstalled nginx-common)",
        "docker log rotation: changed",
        "nginx main context: changed — enabled the njs module",
        "services: changed — started dockerd",
        "firewall: changed — ufw allow 4000/tcp",
        "port 4000 not served yet",
        "✅ bootstrapped: ready for fab deploy",
    ):
        assert expected in first.stdout
    daemon = sb.run_in(bare_debian, "cat /etc/docker/daemon.json").stdout
    assert '"bridge": "none"' in daemon and '"max-size": "10m"' in daemon  # merged, not clobbered

    sb.import_base_image(bare_debian)  # sandbox hosts cannot pull; a server's build would
    deployed = fab(inventory, "deploy", "--ref", "v1")
    assert deployed.returncode == 0, deployed.output
    with Load([(bare_debian.address, 4000)], kinds=GUARDED, max_seconds=120) as load:
        result = fab(inventory, "deploy", "--ref", "v2")
    print(f"\ndeploy v2 under load:\n{load.report()}")
    assert result.returncode == 0, result.output
    for kind in GUARDED:
        assert load.stats(kind).sent > 50 and load.stats(kind).failed == 0, load.report()

    before = _facts(bare_debian)
    second = _bootstrap(inventory, "second bootstrap (apt)")
    assert "bootstrap: 0 changed, 11 ok" in second.stdout
    assert "port 4000 answers (HTTP 200)" in second.stdout
    assert (
        "4000/tcp                   ALLOW       Anywhere"
        in sb.run_in(bare_debian, "ufw status").stdout
    )
    assert _facts(bare_debian) == before  # nginx not restarted, app containers untouched
    url = f"http://{bare_debian.address}:4000/version"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read().decode() == "2.0.0"


def test_bootstrap_asks_nginx_for_its_pid_file(bare_debian, app_repo, tmp_path):
    """nginx.conf names another pid file: bootstrap finds the running master through it and
    starts no second nginx (it used to assume /run/nginx.pid)."""
    inventory = write_inventory(tmp_path / "hosts.yml", app_repo.path, [bare_debian.name])
    masters = "pgrep -c -f '^nginx: master'"
    # quit nginx, wait (bounded) until its master is gone, start it with the other pid file
    restart = (
        "nginx -s quit; i=0; while pgrep -f '^nginx: master' >/dev/null && [ $i -lt 300 ];"
        " do sleep 0.1; i=$((i+1)); done; sed -i 's#^pid .*#pid {};#' /etc/nginx/nginx.conf"
        " && nginx"
    )
    sb.run_in(bare_debian, restart.format("/run/nginx-custom.pid"))
    try:
        # one master once the quitting one is gone (bounded: a loaded machine is slow at it)
        one = f"i=0; until [ $({masters}) = 1 ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done"
        sb.run_in(bare_debian, one)
        assert sb.run_in(bare_debian, masters).stdout.strip() == "1"
        result = _bootstrap(inventory, "bootstrap with pid /run/nginx-custom.pid")
        assert "started nginx" not in result.stdout
        assert "bootstrap: 0 changed" in result.stdout
        assert sb.run_in(bare_debian, masters).stdout.strip() == "1"
    finally:
        sb.run_in(bare_debian, restart.format("/run/nginx.pid"))


WORKER_INDEX = 11  # a bare worker-only host, apart from every other test's hosts


@pytest.fixture(scope="module")
def bare_worker(sandbox):
    """A bare Debian host (sshd only: no nginx, no dockerd running, an empty /etc/nginx)."""
    host = sb.add_host(WORKER_INDEX, options=sb.HostOptions(bare=True))
    yield host
    sb.remove_host(host.name)


def test_a_worker_only_host_gets_docker_and_no_nginx(bare_worker, app_repo, tmp_path):
    """``web: false``: bootstrap starts dockerd and makes the app directory, installs and
    starts no nginx (its configuration stays empty) and says what it skipped."""
    worker = f"processes: {{worker: {{command: 'sleep 1000', hosts: [{bare_worker.name}]}}}}"
    inventory = write_inventory(
        tmp_path / "hosts.yml",
        app_repo.path,
        [bare_worker.name],
        app_extra=worker,
        host_extra={bare_worker.name: "web: false"},
    )
    result = _bootstrap(inventory, "bootstrap of a worker-only host (web: false)")
    for expected in (
        "web: false: worker-only host, skipping nginx",
        "nginx main context: ok — web: false (no nginx here)",
        "firewall: ok — web: false (no nginx here)",
        "services: changed — started dockerd",
        "✅ bootstrapped: ready for fab deploy",
    ):
        assert expected in result.stdout, result.stdout
    assert "nginx" not in result.stdout.split("checks: ", 1)[1].split("\n", 1)[0]
    assert sb.run_in(bare_worker, "ls -A /etc/nginx").stdout == ""  # not even restored
    assert "nginx.pid" not in sb.run_in(bare_worker, "ls /run").stdout.split()
    assert sb.run_in(bare_worker, "docker info --format '{{.ServerVersion}}'").returncode == 0
    assert sb.run_in(bare_worker, "test -d /srv/example").returncode == 0


def test_amazon_linux_2023_with_real_dnf(amazon_linux, app_repo, tmp_path):
    acme = "domains: [shop.bluegreen.test]\ntls: {acme: {email: ops@bluegreen.test}}"
    inventory = write_inventory(
        tmp_path / "hosts.yml", app_repo.path, [amazon_linux.name], app_extra=acme
    )
    first = _bootstrap(inventory, "first bootstrap (dnf, AL2023 os-release, tls: acme)")
    for expected in (
        "profile amazon-linux (detected: amzn 2023, dnf); no systemd",
        "packages: changed — installed docker nginx git certbot",
        "certificate renewal: no systemd timer and no cron job runs certbot",
        "nginx main context: changed — worker_shutdown_timeout 30s, pcre_jit on in"
        " /usr/share/nginx/modules/90-bluegreen.conf",
        "services: changed — started dockerd (no systemd; log /var/log/dockerd.log);"
        " started nginx (no systemd)",
    ):
        assert expected in first.stdout
    names = ("docker", "nginx", "git", "nginx-core", "certbot")
    installed = sb.run_in(amazon_linux, f"rpm -q {' '.join(names)}").stdout.split()
    assert installed == [f"{name}-{rpm.VERSIONS[name]}-1.bgtest.noarch" for name in names]
    running = sb.run_in(amazon_linux, "docker info --format '{{.ServerVersion}}' && nginx -T")
    assert "include /usr/share/nginx/modules/*.conf;" in running.stdout
    assert "worker_shutdown_timeout 30s;" in running.stdout and "pcre_jit on;" in running.stdout

    second = _bootstrap(inventory, "second bootstrap (dnf)")
    assert "bootstrap: 0 changed, 11 ok" in second.stdout

    sb.run_in(amazon_linux, "rm /etc/nginx/nginx.conf")  # someone deleted the config
    repaired = _bootstrap(inventory, "bootstrap after deleting nginx.conf (dnf)")
    assert "restored /etc/nginx/nginx.conf (reinstalled nginx-core)" in repaired.stdout
    assert "bootstrap: 1 changed, 10 ok" in repaired.stdout
