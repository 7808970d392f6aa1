"""The files that ship with bluegreen: ``templates/`` (Jinja sources) and ``nginx/`` (files
installed as they are).

Both live at the top of the repository. A wheel carries them inside the package
(``bluegreen/templates``, ``bluegreen/nginx``, mapped by pyproject.toml); an editable
install from a checkout reads the top-level folders themselves.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled(folder: str) -> Path:
    """The shipped folder ``templates`` or ``nginx``, wherever this installation keeps it."""
    packaged = Path(str(resources.files("bluegreen"))) / folder
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / folder


def nginx_file(name: str) -> str:
    """The text of a shipped nginx file, e.g. ``90-bluegreen.conf``."""
    return (bundled("nginx") / name).read_text()
