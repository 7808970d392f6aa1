"""A local dnf repository of small stand-in packages named as on Amazon Linux 2023.

Built with Debian's rpmbuild and createrepo_c. Each package installs a marker file under
``MARKER_DIR``; ``nginx-core`` also installs an AL2023-style /etc/nginx (main-context
modules from /usr/share/nginx/modules, conf.d inside http). The programs themselves are
this machine's Debian builds, shared by every sandbox host.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARKER_DIR = "/opt/bluegreen-rpm"
VERSIONS = {
    "docker": "25.0.6",
    "nginx": "1.24.0",
    "nginx-core": "1.24.0",
    "git": "2.40.1",
    "certbot": "2.6.0",  # in AL2023's repositories since 2023.3.20231211
}
# paths the packages install to: the sandbox host must have them private
PRIVATE_DIRS = (MARKER_DIR, "/usr/share/nginx/modules")

_FILES = {
    "nginx-core": """\
        mkdir -p %{buildroot}/etc/nginx/conf.d %{buildroot}/etc/nginx/default.d \\
                 %{buildroot}/usr/share/nginx/modules
        install -m 644 %{_sourcedir}/nginx.conf %{buildroot}/etc/nginx/nginx.conf
        install -m 644 %{_sourcedir}/mime.types %{buildroot}/etc/nginx/mime.types
        %files
        %config(noreplace) /etc/nginx/nginx.conf
        %config(noreplace) /etc/nginx/mime.types
        %dir /etc/nginx/conf.d
        %dir /etc/nginx/default.d
        %dir /usr/share/nginx/modules
        """,
}


def _spec(name: str) -> str:
    requires = "Requires: nginx-core\n" if name == "nginx" else ""
    files = textwrap.dedent(_FILES.get(name, "%files\n"))
    install, _, listed = files.partition("%files\n")
    return (
        f"Name: {name}\nVersion: {VERSIONS[name]}\nRelease: 1.bgtest\n"
        f"Summary: stand-in for Amazon Linux 2023's {name}\nLicense: MIT\nBuildArch: noarch\n"
        f"{requires}\n%description\nTest stand-in: a marker file only.\n\n"
        f"%install\nmkdir -p %{{buildroot}}{MARKER_DIR}\n"
        f"echo {name} > %{{buildroot}}{MARKER_DIR}/{name}\n{install}\n"
        f"%files\n{MARKER_DIR}/{name}\n{listed}"
    )


def build(target: Path) -> Path:
    """Build every package into ``target`` and index it as a dnf repository; returns target."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as top:
        sources = Path(top) / "SOURCES"
        sources.mkdir()
        shutil.copy(HERE / "nginx.conf", sources)
        shutil.copy("/etc/nginx/mime.types", sources)
        for name in VERSIONS:
            spec = Path(top) / f"{name}.spec"
            spec.write_text(_spec(name))
            subprocess.run(
                ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", str(spec)],
                check=True,
                capture_output=True,
            )
        for rpm in Path(top, "RPMS").rglob("*.rpm"):
            shutil.copy(rpm, target)
    subprocess.run(["createrepo_c", "--quiet", str(target)], check=True, capture_output=True)
    return target
