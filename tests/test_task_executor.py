import subprocess
import sys
from pathlib import Path

FAB = Path(sys.executable).parent / "fab"


def _fab(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "fabfile.py").write_text(
        "from invoke import task\n"
        "@task\n"
        "def show(c):\n"
        "    print('hosts:', list(c.config.bluegreen.hosts), type(c).__name__)\n"
    )
    (tmp_path / "fabric.yaml").write_text(
        "tasks:\n  executor_class: bluegreen.task_executor.FleetExecutor\nbluegreen:\n  hosts: []\n"
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
