"""hosts.yml's app.processes: workers that follow the release, and what is refused at load."""

from pathlib import Path

import pytest

from bluegreen.config.inventory import AppProcess, ScheduledJob
from tests.config.test_inventory import load, load_error, write

HOSTS = "hosts: {w1: a, w2: b, w3: c}\ngroups: {jobs: [w2, w3]}\n"


def test_processes_land_with_defaults_and_groups_expanded(tmp_path: Path) -> None:
    text = (
        "app:\n  name: e\n  processes:\n"
        "    worker: {command: sh worker.sh, hosts: [jobs], stop_signal: QUIT, stop_timeout: 60,"
        " health: sh check.sh}\n"
        "    mailer: {command: sh mail.sh}\n" + HOSTS
    )
    app = load(write(tmp_path, text)).app
    assert app.processes == (
        AppProcess("worker", "sh worker.sh", ("w2", "w3"), "SIGQUIT", 60, "sh check.sh"),
        AppProcess("mailer", "sh mail.sh"),
    )
    assert [p.name for p in app.processes_on("w1")] == ["mailer"]
    assert [p.name for p in app.processes_on("w3")] == ["worker", "mailer"]


W = "app.processes.w"
BAD = [
    ("processes: {blue: {command: x}}", "app.processes.blue", "not blue, green"),
    ("processes: {'a b': {command: x}}", "app.processes.a b", "a-z 0-9"),
    ("processes: {Worker: {command: x}}", "app.processes.Worker", "a-z 0-9"),
    ("processes: {schedule-x: {command: x}}", "app.processes.schedule-x", "not blue, green, sch"),
    ("processes: {w: {}}", f"{W}.command", "required"),
    (
        "processes: {w: {command: x, hosts: [nope]}}",
        f"{W}.hosts",
        "'nope' is neither a group nor a host",
    ),
    ("processes: {w: {command: x, hosts: w1}}", f"{W}.hosts", "a list of host or group names"),
    (
        "processes: {w: {command: x, stop_signal: TERMINATE}}",
        f"{W}.stop_signal",
        "not a signal name",
    ),
    ("processes: {w: {command: x, stop_signal: KILL}}", f"{W}.stop_signal", "not a signal name"),
    (
        "processes: {w: {command: x, stop_timeout: 0}}",
        f"{W}.stop_timeout",
        "an integer from 1 to 3600",
    ),
    (
        "processes: {w: {command: x, stop_timout: 5}}",
        f"{W}.stop_timout",
        "did you mean 'stop_timeout'",
    ),
]


def test_a_scheduled_job_with_a_line_break_is_refused_under_runtime_process(tmp_path):
    app = '{name: e, runtime: process, command: x, schedule: {j: {command: "a\\nb", every: 5}}}'
    message = load_error(write(tmp_path, f"app: {app}\n{HOSTS}"))
    assert message.endswith("app.schedule.j.command: must be one line (join commands with && or ;)")


def test_overlap_is_for_docker_only(tmp_path):
    app = "{name: e, runtime: process, command: x, processes: {w: {command: y, overlap: true}}}"
    message = load_error(write(tmp_path, f"app: {app}\n{HOSTS}"))
    assert message.endswith("app.processes.w.overlap: only for runtime: docker"), message


def test_a_process_command_with_a_line_break_is_refused_under_runtime_process(tmp_path):
    app = '{name: e, runtime: process, command: x, processes: {w: {command: "a\\nb"}}}'
    message = load_error(write(tmp_path, f"app: {app}\n{HOSTS}"))
    assert (
        message == f"{tmp_path / 'hosts.yml'}: {W}.command: must be one line (join commands"
        " with && or ;)"
    )


def test_a_host_without_web_must_run_a_process(tmp_path: Path) -> None:
    hosts = "hosts: {w1: a, w2: {address: b, web: false}}\n"
    ok = "app: {name: e, processes: {w: {command: x, hosts: [w2]}}}\n" + hosts
    assert [h.web for h in load(write(tmp_path, ok)).hosts.values()] == [True, False]
    idle = "app: {name: e, processes: {w: {command: x, hosts: [w1]}}}\n" + hosts
    message = load_error(write(tmp_path, idle))
    assert message.endswith("hosts.w2.web: false, but no app.processes runs on it"), message
    both = "app: {name: e}\ndefaults: {web: false}\n" + hosts
    assert "defaults.web: unknown key" in load_error(write(tmp_path, both))


def test_scheduled_jobs_land_on_their_host_or_the_first_host(tmp_path: Path) -> None:
    text = (
        "app:\n  name: e\n  schedule:\n"
        "    tick: {command: sh tick.sh, every: 10}\n"
        "    report: {command: sh report.sh, cron: '*/5  1-5 * * 1,3', host: w2}\n" + HOSTS
    )
    assert load(write(tmp_path, text)).app.schedule == (
        ScheduledJob("tick", "sh tick.sh", every=10, host="w1"),
        ScheduledJob("report", "sh report.sh", cron="*/5 1-5 * * 1,3", host="w2"),
    )


S = "app.schedule.j"
BAD_JOBS = [
    ("schedule: {j: {command: x}}", S, "give one of every (seconds) or cron"),
    ("schedule: {j: {command: x, every: 10, cron: '* * * * *'}}", S, "give one of every"),
    ("schedule: {j: {command: x, every: 7}}", f"{S}.every", "seconds that divide 60"),
    ("schedule: {j: {command: x, cron: '* * * *'}}", f"{S}.cron", "expected five fields"),
    ("schedule: {j: {command: x, cron: '60 * * * *'}}", f"{S}.cron", "'60' is not a minute (0-59"),
    ("schedule: {j: {command: x, cron: '* * * 1-13 *'}}", f"{S}.cron", "'1-13' is not a month"),
    ("schedule: {j: {command: x, cron: '5-1 * * * *'}}", f"{S}.cron", "'5-1' is not a minute"),
    ("schedule: {j: {command: x, cron: '*/0 * * * *'}}", f"{S}.cron", "'*/0' is not a minute"),
    ("schedule: {j: {command: x, cron: 'MON * * * *'}}", f"{S}.cron", "'MON' is not a minute"),
    ("schedule: {j: {command: x, cron: '0 0 1 * 1'}}", f"{S}.cron", "not both"),
    ("schedule: {j: {command: x, every: 5, host: jobs}}", f"{S}.host", "'jobs' is not a host"),
    ("schedule: {Big: {command: x, every: 5}}", "app.schedule.Big", "a-z 0-9"),
]


@pytest.mark.parametrize(("section", "key", "problem"), BAD + BAD_JOBS)
def test_bad_processes_and_jobs_name_file_key_and_problem(tmp_path, section, key, problem) -> None:
    message = load_error(write(tmp_path, f"app: {{name: e, {section}}}\n{HOSTS}"))
    assert message.startswith(f"{tmp_path / 'hosts.yml'}: {key}: "), message
    assert problem in message
