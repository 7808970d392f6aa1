import subprocess
import sys
from pathlib import Path

from bluegreen.cli.fleet import exact_remainder

FAB = Path(sys.executable).parent / "fab"


def _fab(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "fabfile.py").write_text(
        "from invoke import task\n"
        "@task\n"
        "def show(c):\n"
        "    print('hosts:', list(c.config.bluegreen.hosts), type(c).__name__)\n"
        "@task(name='exec')\n"
        "def exec_(c):\n"
        "    print(list(c.config.bluegreen.hosts), list(c.config.bluegreen.command))\n"
    )
    (tmp_path / "fabric.yaml").write_text(
        "tasks:\n  executor_class: bluegreen.cli.fleet.FleetExecutor\nbluegreen:\n  hosts: []\n"
    )
    return subprocess.run(
        [str(FAB), *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


def test_one_call_receives_every_host_named_by_H(tmp_path):
    result = _fab(tmp_path, "-H", "prod,web3", "show")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hosts: ['prod', 'web3'] Context"]


def test_without_H_the_task_runs_once_with_no_hosts(tmp_path):
    result = _fab(tmp_path, "show")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hosts: [] Context"]


def test_exec_gets_the_words_after_the_double_dash_exactly(tmp_path):
    words = ["sh", "-c", "echo \"a  b\" $(id -u) 'q'", "--", ""]
    result = _fab(tmp_path, "-H", "web1,web2", "exec", "--", *words)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{['web1', 'web2']} {words}"]


def test_exact_remainder_falls_back_to_shell_words_when_argv_is_not_the_command_line():
    assert exact_remainder("ls -l", ["fab", "exec", "--", "ls", "-l"]) == ["ls", "-l"]
    assert exact_remainder("echo 'a b'", ["pytest"]) == ["echo", "a b"]
