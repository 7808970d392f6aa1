"""Package commands per package manager: install what is missing, restore a deleted nginx.conf.

Each script checks first and acts only when needed, printing ``changed: ...`` lines for
what it did (bootstrap counts a step without them as ``ok``). Package manager output is
kept back and only its tail is shown when it fails.
"""

from __future__ import annotations

from shlex import quote

from bluegreen.config.profiles import Profile
from bluegreen.shell.wrap import quiet

NGINX_CONF = "/etc/nginx/nginx.conf"
# noninteractive, never ask which services to restart, wait for a held dpkg lock (cloud-init,
# unattended-upgrades) instead of failing
APT_ENV = "export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a"
APT = "apt-get -o DPkg::Lock::Timeout=600 -q -y"
# never --allowerasing: dnf must fail rather than replace curl-minimal or anything else
DNF = "dnf -q -y"


def _installed(profile: Profile, package: str) -> str:
    """A test that succeeds when ``package`` is installed."""
    if profile.manager == "apt":
        status = f"dpkg-query -W -f='${{Status}}' {package} 2>/dev/null"
        return f"[ \"$({status})\" = 'install ok installed' ]"
    return f"rpm -q {package} >/dev/null 2>&1"


def _install(profile: Profile, packages: str) -> str:
    if profile.manager == "apt":
        return f"{APT} update && {APT} install {packages}"
    return f"{DNF} install {packages}"


def _owner(profile: Profile, path: str) -> str:
    """The installed package that owns ``path``, from the package database (works if deleted)."""
    if profile.manager == "apt":
        return f"dpkg-query -S {quote(path)} | cut -d: -f1"
    return f"rpm -qf --qf '%{{NAME}}\\n' {quote(path)}"


def _reinstall(profile: Profile, package: str) -> str:
    """Reinstall ``package`` so that its deleted config files come back (kept ones stay)."""
    if profile.manager == "apt":
        return f"{APT} -o Dpkg::Options::=--force-confmiss install --reinstall {package}"
    return f"{DNF} reinstall {package}"


def language(profile: Profile, name: str | None) -> tuple[str, ...]:
    """The packages of the language runtime ``app.language`` names, under this profile."""
    return profile.languages.get(name, ()) if name else ()


def install(profile: Profile, extra: tuple[str, ...] = ()) -> str:
    """Install the profile's missing packages (and ``extra`` ones, e.g. certbot for ACME);
    restore /etc/nginx/nginx.conf if it was deleted.

    apt-get update runs only when something is missing. An nginx whose config was deleted
    (or a host whose /etc/nginx is empty) gets the owning package reinstalled, which
    brings back every deleted config file of it and leaves the others as they are.
    """
    packages = " ".join(quote(p) for p in (*profile.all_packages, *extra))
    conf = quote(NGINX_CONF)
    installed = _installed(profile, '"$p"')
    reinstall = quiet(_reinstall(profile, '"$owner"'))
    lines = [APT_ENV] if profile.manager == "apt" else []
    lines += [
        "missing=",
        f'for p in {packages}; do {installed} || missing="$missing $p"; done',
        'if [ -n "$missing" ]; then',
        f"  {quiet(_install(profile, '$missing'))}",
        '  echo "changed: installed$missing"',
        "fi",
    ]
    if "nginx" not in profile.packages:  # a worker-only host (web: false): no nginx at all
        return "\n".join(lines)
    return "\n".join(
        [
            *lines,
            f"if [ ! -f {conf} ]; then",
            f"  owner=$({_owner(profile, NGINX_CONF)})",
            f"  {reinstall}",
            f'  [ -f {conf} ] || {{ echo "still missing after reinstalling $owner" >&2; exit 1; }}',
            f'  echo "changed: restored {NGINX_CONF} (reinstalled $owner)"',
            "fi",
        ]
    )
