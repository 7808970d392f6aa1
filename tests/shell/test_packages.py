"""Package commands per profile, as exact strings."""

from bluegreen.config.profiles import PROFILES
from bluegreen.shell import packages

APT_INSTALL = """\
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a
missing=
for p in docker.io nginx git libnginx-mod-http-js; do \
[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] \
|| missing="$missing $p"; done
if [ -n "$missing" ]; then
  out=$({ apt-get -o DPkg::Lock::Timeout=600 -q -y update && \
apt-get -o DPkg::Lock::Timeout=600 -q -y install $missing; } 2>&1) \
|| { printf "%s\\n" "$out" | tail -n 30 >&2; exit 1; }
  echo "changed: installed$missing"
fi
if [ ! -f /etc/nginx/nginx.conf ]; then
  owner=$(dpkg-query -S /etc/nginx/nginx.conf | cut -d: -f1)
  out=$({ apt-get -o DPkg::Lock::Timeout=600 -q -y -o Dpkg::Options::=--force-confmiss \
install --reinstall "$owner"; } 2>&1) || { printf "%s\\n" "$out" | tail -n 30 >&2; exit 1; }
  [ -f /etc/nginx/nginx.conf ] || { echo "still missing after reinstalling $owner" >&2; exit 1; }
  echo "changed: restored /etc/nginx/nginx.conf (reinstalled $owner)"
fi"""

DNF_INSTALL = """\
missing=
for p in docker nginx git; do rpm -q "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  out=$({ dnf -q -y install $missing; } 2>&1) || { printf "%s\\n" "$out" | tail -n 30 >&2; exit 1; }
  echo "changed: installed$missing"
fi
if [ ! -f /etc/nginx/nginx.conf ]; then
  owner=$(rpm -qf --qf '%{NAME}\\n' /etc/nginx/nginx.conf)
  out=$({ dnf -q -y reinstall "$owner"; } 2>&1) \
|| { printf "%s\\n" "$out" | tail -n 30 >&2; exit 1; }
  [ -f /etc/nginx/nginx.conf ] || { echo "still missing after reinstalling $owner" >&2; exit 1; }
  echo "changed: restored /etc/nginx/nginx.conf (reinstalled $owner)"
fi"""


def test_apt_installs_only_what_is_missing_and_restores_a_deleted_nginx_conf():
    assert packages.install(PROFILES["debian"]) == APT_INSTALL


def test_ubuntu_uses_the_same_apt_plan_as_debian():
    assert packages.install(PROFILES["ubuntu"]) == APT_INSTALL


def test_dnf_installs_al2023_names_and_never_allows_erasing():
    command = packages.install(PROFILES["amazon-linux"])
    assert command == DNF_INSTALL
    assert "--allowerasing" not in command and "curl" not in command


def test_acme_apps_also_get_certbot():
    command = packages.install(PROFILES["debian"], ("certbot",))
    assert command == APT_INSTALL.replace("libnginx-mod-http-js;", "libnginx-mod-http-js certbot;")


def test_the_app_language_adds_its_runtime_per_profile():
    """app.language: node installs Node.js from the distribution's own packages."""
    apt = packages.install(PROFILES["debian"], packages.language(PROFILES["debian"], "node"))
    assert apt == APT_INSTALL.replace("libnginx-mod-http-js;", "libnginx-mod-http-js nodejs;")
    al2023 = PROFILES["amazon-linux"]
    dnf = packages.install(al2023, packages.language(al2023, "node"))
    assert dnf == DNF_INSTALL.replace("docker nginx git;", "docker nginx git nodejs;")
    assert packages.language(PROFILES["ubuntu"], "python") == ("python3", "python3-venv")
    assert packages.language(PROFILES["debian"], None) == ()
