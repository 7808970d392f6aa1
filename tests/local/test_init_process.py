"""``bluegreen init`` for apps without a Dockerfile: repository files in, the hosts.yml it
writes out, every one loaded by the real loader (``inventory.load``) as written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bluegreen.config import inventory
from bluegreen.errors import InitError
from bluegreen.local import init

BIN = Path(sys.executable).parent
VENV_PIP = "python3 -m venv .venv && .venv/bin/pip install --quiet --disable-pip-version-check"


def package(**fields: object) -> str:
    return json.dumps({"name": "shop", **fields})


# (case, repository files, build_command, command); None: init cannot tell
CASES = [
    (
        "npm lockfile, start script runs a file",
        {"package.json": package(scripts={"start": "node server.js"}), "package-lock.json": "{}"},
        "npm ci --omit=dev",
        "exec node server.js",
    ),
    (
        "npm lockfile, a build script, start script with flags",
        {
            "package.json": package(scripts={"build": "tsc", "start": "node --enable-x dist/a.js"}),
            "package-lock.json": "{}",
        },
        "npm ci && npm run build && npm prune --omit=dev",
        "exec npm start",
    ),
    (
        "no lockfile, main",
        {"package.json": package(main="lib/app.js"), "lib/app.js": ""},
        "npm install --omit=dev",
        "exec node lib/app.js",
    ),
    (
        "yarn, index.js",
        {"package.json": package(), "yarn.lock": "", "index.js": ""},
        "yarn install --frozen-lockfile --production",
        "exec node index.js",
    ),
    (
        "pnpm, build and start scripts",
        {
            "package.json": package(scripts={"build": "vite build", "start": "vite preview"}),
            "pnpm-lock.yaml": "",
        },  # fmt: skip
        "pnpm install --frozen-lockfile && pnpm run build && pnpm prune --prod",
        "exec pnpm start",
    ),
    (
        "package.json that says nothing of how to start",
        {"package.json": package(main="missing.js")},
        "npm install --omit=dev",
        None,
    ),
    (
        "requirements.txt and app.py",
        {"requirements.txt": "flask\n", "app.py": ""},
        f"{VENV_PIP} -r requirements.txt",
        "exec .venv/bin/python app.py",
    ),
    (
        "pyproject.toml with one console script",
        {"pyproject.toml": '[project]\nname = "shop"\n[project.scripts]\nshop-web = "shop:main"\n'},
        f"{VENV_PIP} .",
        "exec .venv/bin/shop-web",
    ),
    (
        "pyproject.toml with two scripts and main.py",
        {
            "pyproject.toml": '[project]\nname = "s"\n[project.scripts]\na = "s:a"\nb = "s:b"\n',
            "main.py": "",
        },
        f"{VENV_PIP} .",
        "exec .venv/bin/python main.py",
    ),
    (
        "requirements.txt without an entry file",
        {"requirements.txt": "", "shop/__init__.py": ""},
        f"{VENV_PIP} -r requirements.txt",
        None,
    ),
    (
        "Node and Python: the one that can start wins",
        {"package.json": package(), "requirements.txt": "", "server.py": ""},
        f"{VENV_PIP} -r requirements.txt",
        "exec .venv/bin/python server.py",
    ),
    ("nothing known", {"README.md": "# shop\n", "bin/server": ""}, None, None),
]


def git_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


@pytest.mark.parametrize(("files", "build", "command"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_init_writes_a_process_inventory_that_loads(tmp_path, files, build, command):
    repo = git_repo(tmp_path / "shop", files)
    plan = init.prepare(repo, Path("hosts.yml"), health="/up")
    init.write(plan)
    app = inventory.load(repo / "hosts.yml").app
    assert (app.runtime, app.name, app.repo, app.path) == ("process", "shop", str(repo), ".")
    node = "package.json" in files and (command is None or "node" in command or "pm " in command)
    language = None if build is None else "node" if node else "python"
    assert (app.language, app.build) == (language, "local" if node else "host")
    assert app.build_command == build
    assert app.command == (command if command is not None else init.PLACEHOLDER)
    assert app.health.path == "/up"
    assert bool(init.warnings(plan)) == (command is None)


def test_init_in_a_subfolder_uploads_that_folder(tmp_path):
    repo = git_repo(
        tmp_path / "mono", {"services/api/requirements.txt": "", "services/api/app.py": ""}
    )
    init.write(init.prepare(repo / "services" / "api", Path("hosts.yml")))
    app = inventory.load(repo / "services" / "api" / "hosts.yml").app
    assert (app.name, app.repo, app.path, app.runtime) == (
        "api",
        str(repo),
        "services/api",
        "process",
    )


def test_options_win_over_what_the_files_say_and_quoting_survives(tmp_path):
    repo = git_repo(tmp_path / "shop", {"requirements.txt": "", "app.py": "", "Dockerfile": ""})
    command = """exec ./bin/server --listen "$HOST:$PORT" --name 'it''s' # not a comment"""
    plan = init.prepare(repo, Path("hosts.yml"), command=command)
    init.write(plan)
    app = inventory.load(repo / "hosts.yml").app
    assert (app.runtime, app.command) == ("process", command)
    assert app.build_command == f"{VENV_PIP} -r requirements.txt"


def test_a_dockerfile_means_docker_unless_process_is_asked_for(tmp_path):
    repo = git_repo(tmp_path / "shop", {"Dockerfile": "", "requirements.txt": "", "app.py": ""})
    assert init.prepare(repo, Path("hosts.yml")).process is None
    plan = init.prepare(repo, Path("hosts.yml"), runtime="process")
    init.write(plan)
    assert inventory.load(repo / "hosts.yml").app.command == "exec .venv/bin/python app.py"


@pytest.mark.parametrize(
    ("files", "options", "message"),
    [
        ({}, {"runtime": "podman"}, "--runtime takes docker or process, not 'podman'"),
        (
            {"Dockerfile": ""},
            {"runtime": "docker", "command": "x"},
            "--command and --build-command",
        ),
        ({"app.py": ""}, {"runtime": "process", "dockerfile": "Dockerfile"}, "--dockerfile is for"),
        ({"package.json": "{"}, {}, "package.json: not valid JSON"),
        ({"pyproject.toml": "[project"}, {}, "pyproject.toml: not valid TOML"),
        # a command the loader refuses: nothing is written
        ({}, {"command": "a\nb"}, "the inventory init would write does not load: hosts.yml"),
    ],
)
def test_init_refuses_what_it_cannot_write_and_writes_nothing(tmp_path, files, options, message):
    repo = git_repo(tmp_path / "shop", files)
    with pytest.raises(InitError, match=None) as refused:
        init.prepare(repo, Path("hosts.yml"), **options)
    assert message in str(refused.value)
    assert not (repo / "hosts.yml").exists()
    assert sorted(p.name for p in repo.iterdir()) == sorted([".git", *files])


def test_the_command_line_says_what_it_found_and_what_to_fill_in(tmp_path):
    repo = git_repo(tmp_path / "shop", {"README.md": ""})
    done = subprocess.run([str(BIN / "bluegreen"), "init"], cwd=repo, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "✅ wrote hosts.yml: app shop, runtime process (no package.json" in done.stdout
    assert "⚠️  no package.json, requirements.txt or pyproject.toml here: fill in app.command" in (
        done.stdout
    )
    assert "--command 'exec ./server'" in done.stdout
    assert inventory.load(repo / "hosts.yml").app.runtime == "process"
