import io
import json
import os
import sys
from pathlib import Path

from bluegreen.config import child_env
from bluegreen.config.inventory import App, Hooks, Inventory, Ports
from bluegreen.local import hooks
from bluegreen.output.log import Log


def test_the_variables_name_app_release_hosts_operation_and_the_result_only_after():
    assert hooks.environment("shop", "0123456789ab", ["web1", "web2"], "deploy") == {
        "BLUEGREEN_APP": "shop",
        "BLUEGREEN_RELEASE": "0123456789ab",
        "BLUEGREEN_HOSTS": "web1,web2",
        "BLUEGREEN_OPERATION": "deploy",
    }
    after = hooks.environment("shop", "r1", ["web1"], "rollback", "reverted")
    assert after["BLUEGREEN_RESULT"] == "reverted"


def _inventory(tmp_path: Path, **commands: str) -> Inventory:
    app = App(name="shop", repo=str(tmp_path))
    return Inventory(tmp_path / "hosts.yml", app, Ports(), {}, {}, hooks=Hooks(**commands))


def test_a_hook_runs_in_the_repository_with_the_variables_and_its_output_prefixed(
    tmp_path, monkeypatch
):
    for name in [n for n in os.environ if n.startswith("BLUEGREEN_")]:
        monkeypatch.delenv(name)  # a test run's own (BLUEGREEN_SANDBOX, …), inherited too
    dump = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    inv = _inventory(tmp_path, after=f"pwd; {dump}")
    out = io.StringIO()
    variables = hooks.environment("shop", "r1", ["web1"], "deploy", "succeeded")
    assert hooks.run(inv, "after", variables, Log(stream=out))
    lines = out.getvalue().splitlines()
    assert lines[0] == f"[hook after] {tmp_path}"
    seen = json.loads(lines[1].removeprefix("[hook after] "))
    assert {k: v for k, v in seen.items() if k.startswith("BLUEGREEN_")} == variables
    assert lines[2] == f"[hook after] ✅ pwd; {dump}"


def test_a_hook_never_gets_the_variables_secrets_are_read_from(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_DB_PASSWORD", "s3cr3t")
    monkeypatch.setenv("SHOP_REGION", "eu")
    monkeypatch.setattr(child_env, "_hidden", set())
    child_env.hide("SHOP_DB_PASSWORD")  # what loading `secrets: {DB: env:SHOP_DB_PASSWORD}` does
    inv = _inventory(tmp_path, after='echo "[$SHOP_DB_PASSWORD] [$SHOP_REGION]"')
    out = io.StringIO()
    assert hooks.run(inv, "after", hooks.environment("shop", "r1", ["w"], "deploy"), Log(out))
    assert out.getvalue().splitlines()[0] == "[hook after] [] [eu]"


def test_a_failing_before_hook_is_an_error_and_the_others_a_warning(tmp_path):
    inv = _inventory(tmp_path, before="echo no; exit 3", failed="exit 4")
    out = io.StringIO()
    assert not hooks.run(inv, "before", {}, Log(stream=out))
    assert not hooks.run(inv, "failed", {}, Log(stream=out))
    assert hooks.run(inv, "after", {}, Log(stream=out))  # not set: nothing to run
    assert out.getvalue().splitlines() == [
        "[hook before] no",
        "[hook before] ❌ echo no; exit 3: exit 3",
        "[hook failed] ⚠️  exit 4: exit 4",
    ]
