import io

import pytest

from bluegreen.config.inventory import App, Host, Inventory, Ports, RegistryLogin
from bluegreen.engine.change import Change
from bluegreen.engine.state import HostRun
from bluegreen.errors import Refused
from bluegreen.facts import HostFacts
from bluegreen.local.artifact import LocalImage, Reference
from bluegreen.ops.deploy import Deploy, images
from bluegreen.output.log import Log
from bluegreen.shell import assets, image

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_one_image_on_every_host_passes():
    assert images.differing({"web1": A, "web2": A, "web3": A}) is None
    images.same_everywhere({"web1": A, "web2": A})


def test_different_images_name_the_hosts_and_ids_and_stop_the_switch():
    ids = {"web1": A, "web2": B, "web3": A}
    expected = (
        "the hosts have different images for this release:"
        " web1, web3 aaaaaaaaaaaa; web2 bbbbbbbbbbbb; nothing switched"
    )
    with pytest.raises(Refused) as refused:
        images.same_everywhere(ids)
    assert str(refused.value) == expected


def test_a_host_without_an_image_id_is_a_difference_too():
    assert images.differing({"web1": A, "web2": ""}) == (
        "the hosts have different images for this release: web1 aaaaaaaaaaaa; web2 no image"
    )


def plan(tmp_path, place=None):
    """A deploy's plan over a change (no host is contacted)."""
    inv = Inventory(tmp_path / "hosts.yml", App(name="web"), Ports(), hosts={}, groups={})
    out = io.StringIO()
    change = Change(inv, Log(stream=out, width=4), "deploy")
    return Deploy(change, "HEAD", "0123456789ab", place), change, out


def test_a_shipped_image_that_differs_stops_the_batch_before_its_health_checks(tmp_path):
    deploy, change, out = plan(tmp_path, place=lambda run: A)
    deploy.image_ids.update({"web1": A, "web2": B})
    assert change.agreed(deploy, []) is False
    assert out.getvalue() == (
        "❌ the hosts have different images for this release:"
        " web1 aaaaaaaaaaaa; web2 bbbbbbbbbbbb; nothing switched\n"
    )


def test_builds_on_each_host_that_differ_are_a_warning_only(tmp_path):
    deploy, change, out = plan(tmp_path)
    deploy.image_ids.update({"web1": A, "web2": B})
    assert change.agreed(deploy, []) is True
    assert "⚠️  the hosts have different images" in out.getvalue()
    assert "build: local makes one" in out.getvalue()


class Stub:
    """A host session that records what it was sent and answers as docker would."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str | None]] = []  # (command, stdin or streamed bytes)

    def run(self, command: str, *, stdin=None, **kw) -> str:
        self.calls.append((command, stdin))
        return self.answer

    def send(self, command, source, progress, *, sent, **kw) -> str:
        self.calls.append((command, source.read().decode()))
        sent()
        return self.answer


def host_run(name: str, remote: Stub, image_id: str | None = None) -> HostRun:
    run = HostRun(Host(name=name, address="10.0.0.1"), remote)  # type: ignore[arg-type]
    run.release, run.facts = "0123456789ab", HostFacts(image_id=image_id)
    return run


def test_the_image_is_streamed_only_to_hosts_without_its_id(tmp_path):
    archive = tmp_path / "image.tar.gz"
    archive.write_bytes(b"saved image")
    sender = images.Sender(
        "web", LocalImage("web:0123456789ab", A, archive, 11), Log(io.StringIO())
    )
    lacking, having = Stub(f"image_id={A}\n"), Stub("")
    assert sender.place(host_run("web1", lacking)) == A
    assert sender.place(host_run("web2", having, image_id=A)) == A
    assert lacking.calls == [(image.load("web", "0123456789ab"), "saved image")]
    assert having.calls == []
    assert sender.slots.acquire(blocking=False)  # every slot was given back


def test_every_host_pulls_the_digest_with_the_password_on_stdin(monkeypatch):
    monkeypatch.setenv("REGISTRY_PASSWORD", "hunter22")
    reference = Reference.parse("reg.example.com/team/web:main")
    login = RegistryLogin("ci", "env:REGISTRY_PASSWORD")
    puller = images.Puller("web", reference, A, login, Log(io.StringIO()))
    remote = Stub(f"image_id={A}\n")
    assert puller.place(host_run("web1", remote)) == A
    [(command, stdin)] = remote.calls
    pinned = f"reg.example.com/team/web@{A}"
    assert command == image.pull("web", "0123456789ab", pinned, "reg.example.com", "ci")
    assert stdin == "hunter22\n" and "hunter22" not in command


def test_a_serving_host_stores_the_release_assets_after_its_image_a_host_without_web_not(
    tmp_path,
):
    inv = Inventory(tmp_path / "hosts.yml", App(name="web", assets="/app/static"), Ports(), {}, {})
    deploy = Deploy(Change(inv, Log(io.StringIO()), "deploy"), "HEAD", "0123456789ab", lambda r: A)
    serving, worker = Stub(""), Stub("")
    deploy.staged(host_run("web1", serving))
    deploy.ready(host_run("jobs1", worker))
    copy = assets.from_image("web", "0123456789ab", "/app/static")
    collect = assets.collect("web", "/srv/app", "0123456789ab", copy, "/static/")
    assert [command for command, _ in serving.calls] == [collect]
    assert worker.calls == []
