"""The state metrics: inventory section, Prometheus text, atomic textfile commands, the
exporters' bootstrap script, the dashboard's queries and the CI example."""

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bluegreen.config.inventory import InventoryError, Metrics, load
from bluegreen.facts import metrics
from bluegreen.facts.metrics import State
from bluegreen.facts.traffic import Split, Traffic
from bluegreen.shell import metrics as textfile
from bluegreen.tasks import deploy
from bluegreen.testing.prometheus import config, dashboard_queries

ROOT = Path(__file__).resolve().parents[2]
BASE = "app: {name: shop}\nhosts: {web1: 203.0.113.10}\n"


def _load(tmp_path: Path, section: str):
    path = tmp_path / "hosts.yml"
    path.write_text(BASE + section)
    return load(path)


def test_metrics_are_off_without_the_section_and_have_defaults_with_it(tmp_path):
    assert _load(tmp_path, "").metrics is None
    assert _load(tmp_path, "metrics: {}\n").metrics == Metrics()
    custom = _load(tmp_path, "metrics: {textfile_dir: /srv/m, listen: '::1', mtail_port: 3904}\n")
    assert custom.metrics == Metrics("/srv/m", "::1", 9100, 3904)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("{listen: metrics.local}", "metrics.listen: expected an IP address"),
        ("{listen: 10.0.0.300}", "metrics.listen: expected an IP address"),
        ("{listen: 17}", "metrics.listen: expected an IP address"),
        ("{textfile_dir: var/lib/x}", "metrics.textfile_dir: expected an absolute directory"),
        ("{textfile_dir: /var/../etc}", "metrics.textfile_dir: expected an absolute directory"),
        ("{textfile_dir: '/a b'}", "metrics.textfile_dir: expected an absolute directory"),
        ("{mtail_port: 9100}", "metrics.mtail_port: must differ from metrics.node_exporter_port"),
        ("{listen_on: 1.2.3.4}", "metrics.listen_on: unknown key (did you mean 'listen'?)"),
    ],
)
def test_bad_metrics_settings_name_the_key(tmp_path, section, problem):
    with pytest.raises(InventoryError) as error:
        _load(tmp_path, f"metrics: {section}\n")
    assert str(error.value) == f"{tmp_path / 'hosts.yml'}: {problem}" or problem in str(error.value)
    assert str(error.value).startswith(f"{tmp_path / 'hosts.yml'}: metrics.")


SPLIT = State(
    app="shop",
    host="web1",
    traffic=Traffic("green", "r2", Split("blue", "r1", 10)),
    releases={"blue": "r1", "green": "r2"},
    mode="file",
    operation="split",
    result="switched",
    changed_at=1796170000.125,
)


def test_a_split_host_renders_every_family():
    lab = 'app="shop",host="web1"'
    assert metrics.render(SPLIT).splitlines() == [
        "# HELP bluegreen_up 1 when fab knows what serves (0: nothing, or a failed switch"
        " left it unknown).",
        "# TYPE bluegreen_up gauge",
        f"bluegreen_up{{{lab}}} 1",
        "# HELP bluegreen_live_color 1 for the live color (the one a split does not take),"
        " 0 for the other.",
        "# TYPE bluegreen_live_color gauge",
        f'bluegreen_live_color{{{lab},color="blue"}} 0',
        f'bluegreen_live_color{{{lab},color="green"}} 1',
        "# HELP bluegreen_traffic_share_percent Percent of the requests nginx sends to each color.",
        "# TYPE bluegreen_traffic_share_percent gauge",
        f'bluegreen_traffic_share_percent{{{lab},color="blue"}} 10',
        f'bluegreen_traffic_share_percent{{{lab},color="green"}} 90',
        "# HELP bluegreen_release_info The release each color's container runs (1 per color"
        " that has one).",
        "# TYPE bluegreen_release_info gauge",
        f'bluegreen_release_info{{{lab},color="blue",release="r1"}} 1',
        f'bluegreen_release_info{{{lab},color="green",release="r2"}} 1',
        "# HELP bluegreen_maintenance 1 while nginx answers with the maintenance page"
        " (fab maintenance --on).",
        "# TYPE bluegreen_maintenance gauge",
        f"bluegreen_maintenance{{{lab}}} 0",
        "# HELP bluegreen_switch_mode_info How this host's nginx switches: reload, or file or"
        " core (no reload).",
        "# TYPE bluegreen_switch_mode_info gauge",
        f'bluegreen_switch_mode_info{{{lab},mode="file"}} 1',
        "# HELP bluegreen_last_change_timestamp_seconds When fab's last change on this host"
        " ended (a new value: a switch annotation).",
        "# TYPE bluegreen_last_change_timestamp_seconds gauge",
        f"bluegreen_last_change_timestamp_seconds{{{lab}}} 1796170000.125",
        "# HELP bluegreen_last_change_result 1 for how fab's last change on this host ended,"
        " 0 for the other results.",
        "# TYPE bluegreen_last_change_result gauge",
        f'bluegreen_last_change_result{{{lab},operation="split",result="switched"}} 1',
        f'bluegreen_last_change_result{{{lab},operation="split",result="already live"}} 0',
        f'bluegreen_last_change_result{{{lab},operation="split",result="unchanged"}} 0',
        f'bluegreen_last_change_result{{{lab},operation="split",result="reverted"}} 0',
        f'bluegreen_last_change_result{{{lab},operation="split",result="failed"}} 0',
    ]


def test_the_maintenance_page_is_a_gauge():
    down = State(app="shop", host="web1", traffic=Traffic("blue", "r1", maintenance=True))
    assert 'bluegreen_maintenance{app="shop",host="web1"} 1' in metrics.render(down)


def test_an_unknown_state_has_no_color_and_no_share():
    text = metrics.render(State(app="shop", host="web1", traffic=None, result="failed"))
    assert 'bluegreen_up{app="shop",host="web1"} 0' in text
    assert "bluegreen_live_color{" not in text and "bluegreen_traffic_share_percent{" not in text


def test_label_values_are_escaped():
    text = metrics.lock('a"b\\c', "h\nx", held=True)
    assert text.splitlines()[-1] == 'bluegreen_lock_held{app="a\\"b\\\\c",host="h\\nx"} 1'


def test_the_renderer_output_passes_promtool():
    text = metrics.render(SPLIT) + metrics.lock("shop", "web1", False)
    text += metrics.certificate("shop", "web1") + " 1798762000\n"
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_write_goes_through_a_temp_file_in_the_same_directory():
    assert textfile.write("/srv/m", "bluegreen-shop.prom", "a 1\n") == (
        "{ t=$(mktemp /srv/m/.bluegreen-shop.prom.XXXXXX) && { printf '%s' 'a 1\n' > \"$t\"; }"
        ' && chmod 0644 "$t" && mv -f "$t" /srv/m/bluegreen-shop.prom; }'
        ' || { rm -f "$t"; echo "warning: could not write /srv/m/bluegreen-shop.prom"; }'
    )


def test_write_with_a_certificate_appends_its_expiry(tmp_path):
    command = textfile.write(str(tmp_path), "x.prom", "expiry", "/no/such.pem")
    assert "openssl x509 -enddate -noout -in /no/such.pem" in command
    subprocess.run(["sh", "-c", command], check=True)
    assert (tmp_path / "x.prom").read_text() == "expiry NaN\n"  # unreadable: NaN, not absent
    assert [p.name for p in tmp_path.iterdir()] == ["x.prom"]
    pem = tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(tmp_path / "k"),
            "-out",
            str(pem),
            "-days",
            "30",
            "-subj",
            "/CN=shop.example",
            "-set_serial",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(["sh", "-c", textfile.write(str(tmp_path), "x.prom", "expiry", str(pem))])
    seconds = int((tmp_path / "x.prom").read_text().split()[1])
    assert abs(seconds - (time.time() + 30 * 86400)) < 120


def test_ready_makes_the_directory_or_says_no(tmp_path):
    made = tmp_path / "a" / "b"
    run = subprocess.run(["sh", "-c", textfile.ready(str(made))], capture_output=True, text=True)
    assert run.stdout == "metrics_dir=ok\n" and made.is_dir()
    run = subprocess.run(["sh", "-c", textfile.ready("/proc/x")], capture_output=True, text=True)
    assert run.stdout == "metrics_dir=no\n"


def test_exporters_without_systemd_start_each_daemon_once(tmp_path):
    script = textfile.exporters(
        "/srv/m", "0.0.0.0", (9100, 3903), {"/etc/mtail/p.mtail": "x"}, False
    )
    assert (
        'setsid -f sh -c \'echo $$ > /run/bluegreen-node-exporter.pid; exec "$0"'
        ' --collector.textfile.directory=/srv/m --web.listen-address=0.0.0.0:9100\' "$ne"'
    ) in script
    assert "--progs /etc/mtail --logs '\"'\"'/var/log/nginx/bluegreen-*.access.log'\"'\"'" in script
    assert 'if [ -n "$programs" ]; then kill -HUP' in script  # a new program: mtail reloads
    assert "systemctl" not in script


def test_exporters_with_systemd_configure_debians_units():
    script = textfile.exporters("/srv/m", "::1", (9100, 3903), {}, True)
    assert 'ARGS="--collector.textfile.directory=/srv/m --web.listen-address=[::1]:9100"' in script
    assert "LOGS=/var/log/nginx/bluegreen-*.access.log\nHOST=::1\nPORT=3903\n" in script
    assert 'systemctl enable --now "$s"' in script and "setsid" not in script


DASHBOARD = json.loads((ROOT / "dashboards" / "bluegreen.json").read_text())


def test_the_dashboard_has_every_view_and_its_queries_are_filled_in():
    queries = dict(dashboard_queries(DASHBOARD))
    assert len(queries) == 12
    assert "annotation 'Switches'" in queries
    for expr in queries.values():
        assert "$" not in expr, expr  # every Grafana variable replaced
    titles = {panel["title"] for panel in DASHBOARD["panels"]}
    assert {
        "Traffic share by color",
        "Error rate (5xx) per color",
        "p99 latency per color",
    } <= titles
    assert {"Live color and traffic share per host", "Release per color and host"} <= titles


def test_prometheus_config_scrapes_every_target_each_second():
    assert yaml.safe_load(config(["10.0.0.1:9100", "10.0.0.1:3903"])) == {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "bluegreen",
                "static_configs": [{"targets": ["10.0.0.1:9100", "10.0.0.1:3903"]}],
            }
        ],
    }


WORKFLOW = ROOT / "examples" / "github-actions" / "deploy.yml"


def test_the_ci_example_is_a_valid_github_workflow():
    checked = subprocess.run(
        [
            str(Path(__file__).parents[2] / ".venv" / "bin" / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_ci_example_deploys_with_real_options_one_run_at_a_time_and_pinned_keys():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["concurrency"] == {"group": "deploy-prod", "cancel-in-progress": False}
    steps = workflow["jobs"]["deploy"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert 'bluegreen -H prod deploy --ref "$GITHUB_SHA" --json' in runs
    options = {arg.name for arg in deploy.get_arguments()}
    assert {"ref", "json"} <= options
    assert "StrictHostKeyChecking" not in WORKFLOW.read_text()
    assert "secrets.DEPLOY_KNOWN_HOSTS" in WORKFLOW.read_text()
    assert any("ssh-agent" in step.get("uses", "") for step in steps)
