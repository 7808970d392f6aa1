"""Host profiles: what differs between the distributions bootstrap supports, as data.

Adding a distribution is one new ``Profile`` in ``PROFILES``; the command builders in
``bluegreen.shell.packages`` read everything else from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bluegreen.errors import UnsupportedSystem


@dataclass(frozen=True)
class Profile:
    name: str  # as written in hosts.yml (profile: ...)
    manager: str  # apt | dnf
    packages: tuple[str, ...]  # docker, nginx and git under this distribution's names
    njs_package: str | None  # nginx's njs module (file switch mode), where the repos have it
    nginx_user: str  # nginx's worker user
    # nginx includes *.conf here in the main context (worker_shutdown_timeout goes here)
    main_conf_dir: str
    # (available, enabled): the module's load_module file and the link that enables it,
    # for distributions that enable modules by links (the link is made by the package's
    # first install only, so a restored /etc/nginx lacks it)
    njs_link: tuple[str, str] | None = None
    ids: tuple[str, ...] = ()  # os-release ID values
    version_prefix: str = ""  # os-release VERSION_ID must start with this ("" = any)
    like: tuple[str, ...] = ()  # os-release ID_LIKE words that fall back to this profile
    # certbot's systemd timer (Debian's package enables it; Fedora's and AL2023's do not)
    certbot_timer: str = "certbot.timer"
    # node_exporter and mtail (metrics: in hosts.yml), where the distribution packages them
    metrics_packages: tuple[str, ...] = ()
    # app.language (runtime: process) -> the packages of that runtime here
    languages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def all_packages(self) -> tuple[str, ...]:
        return self.packages + ((self.njs_package,) if self.njs_package else ())


# the language runtimes app.language names (runtime: process), by their usual names
LANGUAGES = ("node", "python")
_DEBIAN_LANGUAGES = {"node": ("nodejs",), "python": ("python3", "python3-venv")}

_DEBIAN_NGINX = {
    "languages": _DEBIAN_LANGUAGES,
    "metrics_packages": ("prometheus-node-exporter", "mtail"),
    "nginx_user": "www-data",
    "main_conf_dir": "/etc/nginx/modules-enabled",
    "njs_package": "libnginx-mod-http-js",
    "njs_link": (
        "/usr/share/nginx/modules-available/mod-http-js.conf",
        "/etc/nginx/modules-enabled/50-mod-http-js.conf",
    ),
}

PROFILES: dict[str, Profile] = {
    "ubuntu": Profile(
        name="ubuntu",
        manager="apt",
        packages=("docker.io", "nginx", "git"),
        ids=("ubuntu",),
        like=("ubuntu",),
        **_DEBIAN_NGINX,
    ),
    "debian": Profile(
        name="debian",
        manager="apt",
        packages=("docker.io", "nginx", "git"),
        ids=("debian",),
        like=("debian",),
        **_DEBIAN_NGINX,
    ),
    # AL2023's own repositories have no njs module: file switch mode needs nginx.org's
    # nginx-module-njs (and its nginx) added by hand; otherwise deploys switch by reload.
    # Nor node_exporter and mtail: metrics need them installed by hand (README, Monitoring).
    "amazon-linux": Profile(
        name="amazon-linux",
        manager="dnf",
        packages=("docker", "nginx", "git"),
        njs_package=None,
        nginx_user="nginx",
        main_conf_dir="/usr/share/nginx/modules",
        ids=("amzn",),
        version_prefix="2023",
        certbot_timer="certbot-renew.timer",
        languages={"node": ("nodejs",), "python": ("python3",)},  # venv is in python3 here
    ),
}


def detect(os_release: Mapping[str, str]) -> Profile:
    """The profile for a host's /etc/os-release values: by ID (and VERSION_ID), then ID_LIKE."""
    os_id = os_release.get("ID", "")
    version = os_release.get("VERSION_ID", "")
    for profile in PROFILES.values():
        if os_id in profile.ids and version.startswith(profile.version_prefix):
            return profile
    like = os_release.get("ID_LIKE", "").split()
    for word in like:
        for profile in PROFILES.values():
            if word in profile.like:
                return profile
    found = (
        " ".join(
            f"{key}={os_release[key]!r}"
            for key in ("ID", "VERSION_ID", "ID_LIKE")
            if key in os_release
        )
        or "no /etc/os-release"
    )
    raise UnsupportedSystem(
        f"unsupported system ({found}); bootstrap supports Ubuntu, Debian (and derivatives "
        "by ID_LIKE) and Amazon Linux 2023; set profile: in hosts.yml to force one"
    )


def resolve(configured: str, os_release: Mapping[str, str]) -> tuple[Profile, str]:
    """The host's profile and how it was chosen: from hosts.yml, or detected (``auto``)."""
    if configured != "auto":
        return PROFILES[configured], "from hosts.yml"
    profile = detect(os_release)
    found = " ".join(os_release.get(key, "") for key in ("ID", "VERSION_ID")).strip()
    return profile, f"detected: {found}"
