from bluegreen.config import child_env, inventory
from bluegreen.testing.demo import write_inventory


def test_secret_variables_are_kept_from_local_programs(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "t0ken-value")
    monkeypatch.setenv("SHOP_REGISTRY_PASSWORD", "pa55word")
    monkeypatch.setenv("SHOP_PLAIN", "kept")
    path = write_inventory(
        tmp_path / "hosts.yml", tmp_path, ["sandbox1"], app_extra="image: reg.test/shop:stable"
    )
    text = path.read_text().replace(
        "secrets: {API_TOKEN: file:", "secrets: {SHOP: env:SHOP_TOKEN, API_TOKEN: file:"
    )
    path.write_text(
        text + "secrets:\n  registry: {username: ci, password: 'env:SHOP_REGISTRY_PASSWORD'}\n"
    )
    inventory.load(path)
    env = child_env.for_children()
    assert "SHOP_TOKEN" not in env and "SHOP_REGISTRY_PASSWORD" not in env
    assert env["SHOP_PLAIN"] == "kept"
