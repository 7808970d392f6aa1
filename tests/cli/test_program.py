"""The ``bluegreen`` program and ``bluegreen init``: what a user's app repository gets."""

import subprocess
import sys
from pathlib import Path

import fabric
import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoke import Collection, task

from bluegreen import sandbox, tasks
from bluegreen.cli import program as cli
from bluegreen.cli.fleet import FleetExecutor
from bluegreen.config import inventory
from bluegreen.local import init
from bluegreen.sandbox import app as sandbox_app

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(program: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / program), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def git_repo(path: Path, files: dict[str, str]) -> Path:
    """A git repository (nothing committed: init needs none) holding ``files``."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


# --- app names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("shop", "shop"),
        ("My_Web.App", "my_web-app"),
        ("2048-game", "game"),
        ("hello world!", "hello-world"),
        ("___", "app"),
        ("a" * 50, "a" * 24),
    ],
)
def test_the_app_name_is_the_folder_name_made_valid(folder, name):
    assert init.app_name(folder) == name


@given(st.text(max_size=60))
def test_every_folder_name_gives_a_name_the_inventory_accepts(folder):
    assert inventory._APP_NAME.fullmatch(init.app_name(folder))


# --- init ----------------------------------------------------------------------------------


def test_init_writes_an_inventory_that_loads_and_says_what_next(tmp_path):
    repo = git_repo(tmp_path / "My Shop", {"Dockerfile": "FROM scratch\n"})
    done = run("bluegreen", "init", "--health", "/healthz", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "✅ wrote hosts.yml: app my-shop, build context ., health path /healthz" in done.stdout
    assert "next:" in done.stdout and "bluegreen -H prod deploy" in done.stdout
    loaded = inventory.load(repo / "hosts.yml")
    assert (loaded.app.name, loaded.app.repo, loaded.app.path) == ("my-shop", str(repo), ".")
    assert loaded.app.health.path == "/healthz"
    assert [h.name for h in loaded.select("prod")] == ["web1", "web2"]
    assert loaded.default_group == "prod"
    assert "#" in (repo / "hosts.yml").read_text()  # commented, for the user to edit


def test_init_defaults_the_health_path_to_the_root(tmp_path):
    repo = git_repo(tmp_path / "app", {"Dockerfile": ""})
    init.write(init.prepare(repo, Path("hosts.yml")))
    assert inventory.load(repo / "hosts.yml").app.health.path == "/"


def test_init_refuses_to_overwrite_an_inventory(tmp_path):
    repo = git_repo(tmp_path / "app", {"Dockerfile": "", "hosts.yml": "mine\n"})
    done = run("bluegreen", "init", cwd=repo)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"❌ hosts.yml already exists in {repo}: left untouched"
        " (edit it, or remove it to start again)"
    )
    assert (repo / "hosts.yml").read_text() == "mine\n"
    assert not (repo / ".gitignore").exists()


def test_init_refuses_a_folder_that_is_not_a_git_repository(tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "Dockerfile").write_text("")
    done = run("bluegreen", "init", cwd=folder)
    assert done.returncode == 2
    assert done.stderr.startswith(f"❌ {folder} is not a git repository")
    assert sorted(p.name for p in folder.iterdir()) == ["Dockerfile"]


def test_init_refuses_a_bad_health_path(tmp_path):
    repo = git_repo(tmp_path / "app", {"Dockerfile": ""})
    done = run("bluegreen", "init", "--health", "healthz", cwd=repo)
    assert done.returncode == 2
    assert done.stderr.strip() == "❌ --health takes a URL path starting with '/', not 'healthz'"
    assert not (repo / "hosts.yml").exists()


@pytest.mark.parametrize(
    ("files", "given", "context"),
    [
        ({"Dockerfile": "", "web/Dockerfile": ""}, None, init.BuildContext(".", "Dockerfile")),
        ({"web/Dockerfile": "", "README": ""}, None, init.BuildContext("web", "Dockerfile")),
        ({"a/b/Dockerfile": ""}, None, init.BuildContext("a/b", "Dockerfile")),
        ({"Dockerfile.prod": ""}, "Dockerfile.prod", init.BuildContext(".", "Dockerfile.prod")),
        ({"a/Dockerfile": "", "b/Dockerfile": ""}, "b/Dockerfile", init.BuildContext("b")),
    ],
)
def test_init_finds_the_dockerfile(tmp_path, files, given, context):
    repo = git_repo(tmp_path / "app", files)
    plan = init.prepare(repo, Path("hosts.yml"), dockerfile=given)
    assert plan.context == context
    init.write(plan)
    app = inventory.load(repo / "hosts.yml").app
    assert (app.path, app.dockerfile) == (context.path, context.dockerfile)


def test_init_skips_dockerfiles_that_git_ignores(tmp_path):
    files = {"web/Dockerfile": "", "vendor/Dockerfile": "", ".gitignore": "vendor/\n"}
    repo = git_repo(tmp_path / "app", files)
    assert init.prepare(repo, Path("hosts.yml")).context == init.BuildContext("web")


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"README": ""}, ("--runtime", "docker"), "no Dockerfile in {repo} or below"),
        ({"a/Dockerfile": "", "b/Dockerfile": ""}, (), "several Dockerfiles (a/Dockerfile,"),
        ({"Dockerfile": ""}, ("--dockerfile", "nope"), "--dockerfile nope: no such file in"),
    ],
)
def test_init_says_when_it_cannot_tell_the_dockerfile(tmp_path, files, args, message):
    repo = git_repo(tmp_path / "app", files)
    done = run("bluegreen", "init", *args, cwd=repo)
    assert done.returncode == 2
    assert done.stderr.startswith("❌ " + message.format(repo=repo)), done.stderr
    assert not (repo / "hosts.yml").exists()


def test_init_in_a_subfolder_of_a_repository_points_repo_at_its_top(tmp_path):
    repo = git_repo(tmp_path / "mono", {"services/api/Dockerfile": ""})
    init.write(init.prepare(repo / "services" / "api", Path("hosts.yml")))
    app = inventory.load(repo / "services" / "api" / "hosts.yml").app
    assert (app.name, app.repo, app.path) == ("api", str(repo), "services/api")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, ".bluegreen/\n"),
        ("node_modules/", "node_modules/\n.bluegreen/\n"),
        ("*.pyc\n", "*.pyc\n.bluegreen/\n"),
        ("/.bluegreen\n", "/.bluegreen\n"),
        (".bluegreen/\n", ".bluegreen/\n"),
    ],
)
def test_init_ignores_the_sandbox_state_in_git(tmp_path, before, after):
    repo = git_repo(tmp_path / "app", {"Dockerfile": ""})
    if before is not None:
        (repo / ".gitignore").write_text(before)
    done = init.write(init.prepare(repo, Path("hosts.yml")))
    assert (repo / ".gitignore").read_text() == after
    assert any(".gitignore" in line for line in done) == (before != after)


def test_init_fabfile_makes_plain_fab_work(tmp_path):
    repo = git_repo(tmp_path / "app", {"Dockerfile": ""})
    done = run("bluegreen", "init", "--fabfile", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert (repo / "fabfile.py").read_text() == (PROJECT / "fabfile.py").read_text()
    listed = run("fab", "--list", cwd=repo)
    assert listed.returncode == 0 and "sandbox.up" in listed.stdout
    # fab finds the inventory (collection defaults) and gives -H to bluegreen's executor
    selected = run("fab", "-H", "web9,prod", "status", cwd=repo)
    assert selected.returncode == 2
    assert selected.stderr.startswith("❌ hosts.yml: unknown host or group 'web9'")


def test_init_fabfile_refuses_to_overwrite_a_fabfile(tmp_path):
    repo = git_repo(tmp_path / "app", {"Dockerfile": "", "fabfile.py": "# mine\n"})
    done = run("bluegreen", "init", "--fabfile", cwd=repo)
    assert done.returncode == 2
    assert "fabfile.py already exists" in done.stderr
    assert not (repo / "hosts.yml").exists()


# --- the program ---------------------------------------------------------------------------


@task
def show(c):
    """Print what a task sees of the program's parsing."""
    print(list(c.config.bluegreen.hosts), c.config.bluegreen.inventory, type(c).__name__)


def shown(*args: str, capsys) -> str:
    """``bluegreen ARGS show``, in this process, with the real program's class and options."""
    namespace = Collection(show)
    namespace.configure(tasks.CONFIG)
    program = cli.Bluegreen(
        name="bluegreen",
        namespace=namespace,
        version="0",
        executor_class=FleetExecutor,
        config_class=fabric.Config,
    )
    program.run(["bluegreen", *args, "show"], exit=False)
    return capsys.readouterr().out.strip()


def test_H_gives_the_task_every_name_at_once(capsys):
    assert shown("-H", "prod,web3", capsys=capsys) == "['prod', 'web3'] hosts.yml Context"
    assert shown(capsys=capsys) == "[] hosts.yml Context"


def test_inventory_flag_names_the_inventory_over_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("FABRIC_BLUEGREEN_INVENTORY", "env.yml")
    assert shown(capsys=capsys) == "[] env.yml Context"
    assert shown("--inventory", "flag.yml", capsys=capsys) == "[] flag.yml Context"


def test_the_program_is_built_from_the_tasks_and_the_executor():
    assert cli.program.namespace is tasks.ns
    assert cli.program.executor_class is FleetExecutor
    assert cli.program.name == "bluegreen"


def test_the_installed_program_reads_the_inventory_flag(tmp_path):
    done = run("bluegreen", "--inventory", "other.yml", "status", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"❌ other.yml: file not found ({tmp_path}/other.yml)"


def test_bluegreen_list_is_fab_list():
    ours, fabs = (run(program, "--list", cwd=PROJECT) for program in ("bluegreen", "fab"))
    assert ours.returncode == fabs.returncode == 0, ours.stderr + fabs.stderr
    assert ours.stdout == fabs.stdout
    assert ours.stdout.startswith("Available tasks:") and "  init " in ours.stdout


# --- the sandbox's inventory of your app --------------------------------------------------

NAMES = ["sandbox1", "sandbox2"]


def test_the_sandbox_inventory_is_your_app_on_the_sandbox_hosts(tmp_path):
    repo = git_repo(tmp_path / "shop", {"web/Dockerfile": ""})
    init.write(init.prepare(repo, Path("hosts.yml"), health="/up"))
    target = tmp_path / "sandbox.yml"
    target.write_text(
        sandbox_app.app_section(repo / "hosts.yml")[0] + sandbox_app.sandbox_hosts("sandbox", NAMES)
    )
    loaded = inventory.load(target)
    assert (loaded.app.name, loaded.app.repo, loaded.app.path) == ("shop", str(repo), "web")
    assert loaded.app.health.path == "/up"
    hosts = loaded.select(None)
    assert [(h.name, h.address) for h in hosts] == [
        (f"sandbox{i}", sandbox.host_address(i)) for i in (1, 2)
    ]
    assert {(h.key, h.host_keys, h.network) for h in hosts} == {
        (sandbox.DEFAULT_STATE / "id_ed25519", "strict", "host")
    }
    assert loaded.default_group == "sandbox"


def test_sandbox_up_refuses_a_bad_inventory_before_starting_anything(tmp_path):
    (tmp_path / "hosts.yml").write_text("app: {name: Bad}\nhosts: {a: 1.2.3.4}\n")
    done = run("bluegreen", "sandbox.up", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("❌ hosts.yml: app.name: expected a name"), done.stderr
    assert not (tmp_path / ".bluegreen").exists()


def test_the_sandbox_inventory_keeps_a_git_url_and_finds_the_env_file(tmp_path):
    (tmp_path / "app.env").write_text("TOKEN=x\n")
    (tmp_path / "app.env").chmod(0o600)
    (tmp_path / "db.secret").write_text("pw\n")
    (tmp_path / "db.secret").chmod(0o600)
    (tmp_path / "hosts.yml").write_text(
        "app: {name: shop, source: git, repo: 'https://git.example/shop.git', env_file: app.env,"
        " secrets: {DB: file:db.secret}}\n"
        "hosts: {web1: 203.0.113.10}\n"
    )
    target = tmp_path / "elsewhere" / "hosts.yml"
    target.parent.mkdir()
    target.write_text(
        sandbox_app.app_section(tmp_path / "hosts.yml")[0] + sandbox_app.sandbox_hosts("sb", NAMES)
    )
    app = inventory.load(target).app
    assert (app.repo, app.env_file_values["TOKEN"]) == ("https://git.example/shop.git", "x")
    assert app.secrets == {"DB": "pw"}


@pytest.mark.parametrize(
    ("runtime", "asked", "init"),
    [("process", False, "systemd"), ("docker", False, "tini"), ("docker", True, "systemd"),
     (None, False, "tini"), (None, True, "systemd")],
)  # fmt: skip
def test_sandbox_hosts_boot_systemd_for_a_process_app_or_when_asked(runtime, asked, init):
    app = inventory.App(name="shop", runtime=runtime) if runtime else None
    assert sandbox_app.host_options(app, asked).init == init


@pytest.mark.parametrize(
    ("build", "where", "missing"),
    [("npm ci --omit=dev", "host", True), ("make && pnpm install", "host", True),
     ("npm ci --omit=dev", "local", False), ("python3 -m venv .venv", "host", False),
     (None, "host", False), ("./npm-free --mode=npm-ish", "host", False)],
)  # fmt: skip
def test_sandbox_up_warns_when_its_hosts_lack_what_the_app_needs(build, where, missing):
    app = inventory.App(
        name="shop", runtime="process", build=where, build_command=build, command="exec x"
    )
    assert (sandbox_app.missing_runtime(app) is not None) == missing
    assert "no Docker" in sandbox_app.missing_runtime(inventory.App(name="shop"))
    assert sandbox_app.missing_runtime(None) is None
