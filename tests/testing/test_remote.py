"""The fake host speaks the engine's formats: its probe answer is what ``facts.parse`` reads,
and the commands the builders make change its model as they would change a server."""

from bluegreen import facts
from bluegreen.config.inventory import App, Host
from bluegreen.errors import RemoteError
from bluegreen.facts.traffic import Split, Traffic
from bluegreen.shell import container, docker, history, lock, nginx, runtime
from bluegreen.testing.remote import DEFAULT_PORTS, Container, FakeHost

HOST = Host(name="web1", address="10.0.0.1")
LOCK = lock.LockInfo("me@here", 1, "deploy", "2026-12-01T00:00:00+00:00", 2**40, "tok")


def _answer(fake: FakeHost, release: str | None = None, take_lock: bool = False) -> str:
    command = facts.probe("web", "/srv/app", release)
    if take_lock:
        command += "\n" + lock.acquire("/srv/app", LOCK)
    return fake.remote(HOST).run(command, what="facts", readonly=not take_lock)


def _probe(fake: FakeHost, release: str | None = None) -> facts.HostFacts:
    return facts.parse(_answer(fake, release))


def test_the_probe_answer_parses_to_the_model():
    R0, R1 = "0" * 12, "1" * 12  # release ids: the facts read nothing else back
    for mode in ("file", "reload"):
        fake = FakeHost(
            "web1",
            Traffic("blue", R1),
            mode=mode,
            containers={"green": Container(R0, running=False)},
            history=[{"release": R0, "result": "switched"}],
        )
        found = _probe(fake, release=R0)
        assert (found.live_color, found.live_release, found.site_mode) == ("blue", R1, mode)
        assert found.containers == {
            "blue": facts.Container("running", R1),
            "green": facts.Container("exited", R0),
        }
        assert found.njs is (mode == "file") and found.image_present
        assert found.history == [{"release": R0, "result": "switched"}] and found.lock is None


def test_a_split_is_served_both_ways_and_read_back():
    fake = FakeHost("web1", Traffic("blue", "r1", Split("green", "r2", 10)))
    assert _probe(fake).split == Split("green", "r2", 10)
    answers = {fake.http(4000, "/").headers["x-bluegreen-color"] for _ in range(4)}
    assert answers == {"blue", "green"}


def test_the_lock_is_taken_once():
    fake = FakeHost("web1")
    assert "lock=taken" in _answer(fake, take_lock=True).splitlines()
    assert fake.lock == LOCK and _probe(fake).lock == LOCK
    again = _answer(fake, take_lock=True)
    assert f"lock=held {LOCK.to_json()}" in again and "lock_now=" in again
    fake.remote(HOST).run(lock.release("/srv/app", "not-ours"))
    assert fake.lock == LOCK


def test_docker_commands_change_the_containers():
    fake = FakeHost("web1", Traffic("blue", "r1"), images=["r2"])
    remote = fake.remote(HOST)
    remote.run(docker.run("web", "green", "r2", HOST, fake.ports, 8080), stdin="A=1\n")
    assert fake.containers["green"] == Container("r2", running=True, fresh=True)
    assert fake.http(4002, "/health").status == 200
    remote.run(docker.stop("web", "blue"))
    remote.run(docker.restore("web", "green", running=False))
    assert fake.containers == {"blue": Container("r1", running=False)}


def test_a_staged_release_sets_the_kept_container_aside_and_undo_puts_it_back():
    fake = FakeHost(
        "web1", Traffic("blue", "r1"), images=["r2"], containers={"green": Container("r0")}
    )
    remote = fake.remote(HOST)
    remote.run(docker.run("web", "green", "r2", HOST, fake.ports, 8080), stdin="")
    assert fake.aside == {"green": Container("r0", running=False)}
    assert fake.containers["green"].release == "r2"
    remote.run(docker.restore("web", "green", running=True))
    assert fake.containers["green"] == Container("r0", running=True) and fake.aside == {}


def test_an_nginx_install_switches_and_a_failed_test_keeps_the_files():
    fake = FakeHost("web1", Traffic("blue", "r1"), mode="reload", fail={"nginx -t"})
    files = dict(fake.nginx.files)
    live = [(nginx.live_path("web"), "# bluegreen live=green release=r2\n")]
    try:
        fake.remote(HOST).run(nginx.install(live), what="nginx switch")
    except RemoteError as error:
        assert error.exited == nginx.TEST_FAILED
    else:
        raise AssertionError("nginx -t should have failed")
    assert fake.nginx.files == files and fake.serving() == Traffic("blue", "r1")
    ok = FakeHost("web1", Traffic("blue", "r1"), mode="reload")
    ok.remote(HOST).run(nginx.install(live))
    assert ok.serving() == Traffic("green", "r2")


def test_an_unknown_command_fails_and_is_recorded():
    fake = FakeHost("web1")
    try:
        fake.remote(HOST).run("rm -rf /", what="oops")
    except RemoteError as error:
        assert error.exited == 127
    assert fake.unknown == ["rm -rf /"]


def _engine_commands(app: App) -> dict[str, tuple[str, str]]:
    """Every builder the engine sends to a docker host, as the engine builds it (also the
    composites of ``repair`` and ``finish``), with the kind the fake must take it for."""
    runs = runtime.of(app)
    info = LOCK
    retire = runs.retire(HOST, "green")
    finish = lock.release("/srv/app", "tok")
    return {
        "probe": ("probe", facts.probe("web", "/srv/app", "r2")),
        "probe and lock": (
            "probe",
            f"{facts.probe('web', '/srv/app', None)}\n{lock.acquire('/srv/app', info)}",
        ),  # fmt: skip
        "build": ("build", runs.build("r2", "/srv/app/releases/r2", "/srv/app")),
        "present": ("image", runs.present(HOST, "r2")),
        "release": ("release", container.release(app, "migrate", "r2", HOST)),
        "start": ("run", runs.run("green", "r2", HOST, DEFAULT_PORTS, {})[0]),
        "undo": ("restore", runs.restore(HOST, "green", running=True)),
        "repair, kept": ("restore", f"{runs.restore(HOST, 'blue', False)}; {retire}"),
        "repair, retired": ("retire", retire),
        "start again": ("start", runs.start("blue")),
        "stop": ("stop", runs.stop("blue")),
        "drain": ("drain", runs.drain(["blue"], 1, nginx.wait_old_workers(5))),
        "busy": ("busy", nginx.wait_busy([4001], 5)),
        "logs": ("logs", runs.logs("green")),
        "exec": ("exec", runs.exec_in(HOST, "green", ["ls"])),
        "switch": ("nginx", nginx.install([(nginx.live_path("web"), "live")])),
        "uninstall": ("uninstall", nginx.uninstall("web")),
        "leave": ("leave", nginx.leave("web")),
        "rejoin": ("rejoin", nginx.rejoin("web")),
        "watch": ("log", nginx.read_log(nginx.access_log_path("web"), 0)),
        "take over": ("take over", lock.take_over("/srv/app", info, info)),
        "heartbeat": ("heartbeat", lock.refresh("/srv/app", info, 60)),
        "unlock": ("unlock", finish),
        "finish": (
            "history",
            f"{retire}; {runs.prune(HOST, ['r1'])}\n{history.append('/srv/app', '{}')}; {finish}",
        ),  # fmt: skip
    }


def test_the_fake_takes_every_builder_the_engine_sends_for_what_it_is():
    """The fake recognises commands by markers: a builder change it no longer recognises
    (or takes for another kind) fails here, not as a confusing scripted-host failure."""
    fake = FakeHost("web1")
    kinds = {
        name: fake.kind(command) for name, (_, command) in _engine_commands(App("web")).items()
    }
    assert kinds == {name: kind for name, (kind, _) in _engine_commands(App("web")).items()}


def test_retiring_drops_the_set_aside_container_only():
    fake = FakeHost("web1", Traffic("green", "r2"), containers={"blue": Container("r1")})
    fake.aside = {"green": Container("r0", running=False)}
    fake.remote(HOST).run(runtime.of(App("web")).retire(HOST, "green"), what="repair")
    assert fake.aside == {} and set(fake.containers) == {"blue", "green"}
