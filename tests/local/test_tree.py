"""build: local under runtime: process: the tree built on this machine and packed."""

import io
import tarfile
from dataclasses import replace

import pytest

from bluegreen.config.inventory import App
from bluegreen.errors import SourceError
from bluegreen.local import tree


def source(files: dict[str, str]) -> bytes:
    """A tar.gz like ``git archive`` makes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


APP = App(name="e", runtime="process", command="node app.js", build="local")


def test_the_build_command_runs_in_the_commit_files_and_its_output_is_shipped():
    app = replace(APP, build_command="mkdir -p node_modules && cp app.js node_modules/copy.js")
    built = tree.build(app, source({"app.js": "console.log(1)\n"}))
    with tarfile.open(fileobj=io.BytesIO(built.archive), mode="r:gz") as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
        copy = tar.extractfile("./node_modules/copy.js").read()
    assert names == {"./app.js", "./node_modules/copy.js"} and built.files == 2
    assert copy == b"console.log(1)\n"


def test_a_failing_build_shows_its_last_lines():
    app = replace(APP, build_command="echo 'npm error 404 no-such-package'; exit 3")
    with pytest.raises(SourceError) as caught:
        tree.build(app, source({"app.js": ""}))
    assert str(caught.value) == "local build failed (exit 3):\n  npm error 404 no-such-package"
