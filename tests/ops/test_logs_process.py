"""``fab logs|exec --process NAME``: the hosts that run it, and a name that is no process."""

from pathlib import Path

import pytest

from bluegreen.config.inventory import App, AppProcess, Host, Inventory, Ports, ScheduledJob
from bluegreen.engine.processes import running
from bluegreen.errors import Refused
from bluegreen.shell import workers

WORKER = AppProcess("worker", "sh w.sh", ("web2",))
APP = App(name="shop", processes=(WORKER,), schedule=(ScheduledJob("tick", "x", 5, host="web1"),))
HOSTS = {n: Host(name=n, address=f"203.0.113.{i}") for i, n in enumerate(("web1", "web2"), 1)}
INVENTORY = Inventory(Path("hosts.yml"), APP, Ports(), HOSTS, {})


def test_a_process_s_logs_come_from_the_hosts_that_run_it():
    hosts = list(HOSTS.values())
    assert [h.name for h in running(INVENTORY, hosts, "worker")] == ["web2"]
    assert [h.name for h in running(INVENTORY, hosts, "schedule-tick")] == ["web1"]
    assert workers.logs(APP, "worker", 5, False) == "docker logs --tail 5 shop-worker 2>&1"
    unit = workers.logs(App(name="shop", runtime="process", command="x"), "worker", 5, True)
    assert (
        unit == "journalctl --no-pager -o cat -n 5 --follow -u bluegreen-shop-worker.service 2>&1"
    )


def test_an_unknown_process_or_one_the_selected_hosts_do_not_run_is_refused():
    with pytest.raises(Refused, match=r"no process 'mailer' \(processes: schedule-tick, worker\)"):
        running(INVENTORY, list(HOSTS.values()), "mailer")
    with pytest.raises(Refused, match="worker runs on none of the selected hosts"):
        running(INVENTORY, [HOSTS["web1"]], "worker")
