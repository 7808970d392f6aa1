"""hosts.yml: a good file lands in the dataclasses; a bad one names file, key and problem."""

import os
import textwrap
from pathlib import Path

import pytest

from bluegreen.config import child_env
from bluegreen.config.inventory import (
    App,
    Balancer,
    Drain,
    Expect,
    Health,
    Host,
    InventoryError,
    Ports,
    Proxy,
    Watch,
    load,
)

MINIMAL = "app: {name: example}\nhosts: {web1: 203.0.113.10}\n"


def write(directory: Path, text: str, name: str = "hosts.yml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def env_file(directory: Path, text: str, mode: int = 0o600) -> Path:
    path = write(directory, text, ".env")
    path.chmod(mode)
    return path


def load_error(path: Path) -> str:
    with pytest.raises(InventoryError) as error:
        load(path)
    return str(error.value)


# --- valid files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ("{max_body: 512m}", Proxy(max_body="512m")),
        ("{max_body: 2g, timeout: 120}", Proxy(max_body="2g", timeout=120)),
        ("{max_body: 0, buffering: true}", Proxy(max_body="0", buffering=True)),
        ("{max_body: 1048576}", Proxy(max_body="1048576")),
        ("{release_headers: public}", Proxy(release_headers="public")),
        ("", Proxy()),
    ],
)
def test_proxy_settings_keep_their_units(tmp_path: Path, proxy: str, expected: Proxy) -> None:
    text = f"app: {{name: e, proxy: {proxy or '{}'}}}\nhosts: {{w: a}}\n"
    assert load(write(tmp_path, text)).app.proxy == expected


@pytest.mark.parametrize(
    ("ci", "given", "expected"),
    [
        (None, "", "accept-new"),
        ("true", "", "strict"),
        ("1", "", "strict"),
        ("false", "", "accept-new"),
        ("true", "defaults: {host_keys: accept-new}\n", "accept-new"),
    ],
)
def test_host_keys_are_strict_by_default_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str | None, given: str, expected: str
) -> None:
    # a CI machine's known_hosts starts empty: accept-new would trust whoever answers
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    inventory = load(write(tmp_path, MINIMAL + given))
    assert inventory.hosts["web1"].host_keys == expected


@pytest.mark.parametrize(
    ("drain", "expected"),
    [
        ("3", Drain(3.0, 30.0)),  # a number: the seconds, busy connections up to the default
        ("45", Drain(45.0, 45.0)),  # the maximum is never below the seconds
        ("{seconds: 1, max: 5}", Drain(1.0, 5.0)),
        ("{max: 10}", Drain(3.0, 10.0)),
        ("{seconds: 2, max: 2}", Drain(2.0, 2.0)),
    ],
)
def test_drain_is_seconds_then_a_maximum_for_busy_connections(
    tmp_path: Path, drain: str, expected: Drain
) -> None:
    text = f"app: {{name: e, drain: {drain}}}\nhosts: {{w: a}}\n"
    assert load(write(tmp_path, text)).app.drain == expected


def test_minimal_file_gets_every_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)  # CI's default host_keys is strict
    inventory = load(write(tmp_path, MINIMAL))

    assert inventory.path == tmp_path / "hosts.yml"
    assert inventory.app == App(name="example", repo=str(tmp_path))
    assert inventory.ports == Ports()
    assert inventory.hosts == {
        "web1": Host(name="web1", address="203.0.113.10", app_dir="/srv/example")
    }
    assert inventory.groups == {}
    assert inventory.default_group is None


def test_full_file_lands_in_every_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/op")
    deploy = tmp_path / "deploy"
    env_file(deploy, "FROM_FILE=f\n")
    (deploy / "db.secret").write_text("pw-from-file\n")
    (deploy / "db.secret").chmod(0o600)
    monkeypatch.setenv("SHOP_TOKEN", "tok-from-env")
    path = write(
        deploy,
        """
        app:
          name: shop_api-2
          source: upload
          repo: ../checkout
          path: services/api
          dockerfile: docker/Dockerfile.prod
          container_port: 3000
          env: {DEBUG: true, WORKERS: 4, RATIO: 0.5, GREETING: hi}
          env_file: .env
          secrets: {DB_PASSWORD: file:db.secret, TOKEN: env:SHOP_TOKEN}
          health:
            path: /healthz
            attempts: 5
            interval: 1
            timeout: 0.5
            expect: {status: [200, 204], contains: ok, json: {db: up, checks.ready: true}}
          drain: 0
          watch: {seconds: 30, max_error_rate: 0.05, max_p99_ms: 250, min_requests: 50, probe: /}
        ports: {public: 8000, blue: 8001, green: 8002}
        defaults:
          user: deploy
          port: 2222
          key: keys/id_ed25519
          known_hosts: ~/.ssh/fleet_known_hosts
          host_keys: strict
          profile: ubuntu
          app_dir: /opt/{app}/live
          network: host
          connect_timeout: 3
          group: prod
        groups:
          prod: [web1, web2]
        hosts:
          web1: 203.0.113.10
          web2:
            address: web2.example.com
            user: ec2-user
            port: 22
            key: null
            known_hosts: /etc/ssh/ssh_known_hosts
            host_keys: accept-new
            profile: amazon-linux
            app_dir: /srv/{app}
            network: bridge
            connect_timeout: 20
            env: {REGION: eu}
        """,
    )

    inventory = load(path)

    assert inventory.app == App(
        name="shop_api-2",
        source="upload",
        repo=str(tmp_path / "checkout"),
        path="services/api",
        dockerfile="docker/Dockerfile.prod",
        container_port=3000,
        env={"DEBUG": "true", "WORKERS": "4", "RATIO": "0.5", "GREETING": "hi"},
        env_file=deploy / ".env",
        env_file_values={"FROM_FILE": "f"},
        secrets={"DB_PASSWORD": "pw-from-file", "TOKEN": "tok-from-env"},
        health=Health(
            path="/healthz",
            attempts=5,
            interval=1.0,
            timeout=0.5,
            expect=Expect(
                status=(200, 204), contains="ok", json={"db": "up", "checks.ready": "true"}
            ),
        ),
        drain=Drain(0.0, 30.0),
        watch=Watch(
            seconds=30.0, max_error_rate=0.05, max_p99_ms=250.0, min_requests=50, probe="/"
        ),
    )
    assert inventory.ports == Ports(public=8000, blue=8001, green=8002)
    assert inventory.default_group == "prod"
    assert inventory.groups == {"prod": ("web1", "web2")}
    assert inventory.hosts == {
        "web1": Host(
            name="web1",
            address="203.0.113.10",
            user="deploy",
            port=2222,
            key=deploy / "keys/id_ed25519",
            known_hosts=Path("/home/op/.ssh/fleet_known_hosts"),
            host_keys="strict",
            profile="ubuntu",
            app_dir="/opt/shop_api-2/live",
            network="host",
            connect_timeout=3.0,
        ),
        "web2": Host(
            name="web2",
            address="web2.example.com",
            user="ec2-user",
            port=22,
            key=None,
            known_hosts=Path("/etc/ssh/ssh_known_hosts"),
            host_keys="accept-new",
            profile="amazon-linux",
            app_dir="/srv/shop_api-2",
            network="bridge",
            connect_timeout=20.0,
            env={"REGION": "eu"},
        ),
    }
    assert isinstance(inventory.app.health.interval, float)


def test_git_source_keeps_the_repo_url(tmp_path: Path) -> None:
    url = "https://github.com/example/shop.git"
    path = write(tmp_path, f"app: {{name: shop, source: git, repo: '{url}'}}\nhosts: {{w: a}}\n")

    assert load(path).app.repo == url


def test_empty_sections_count_as_absent(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "ports:\ndefaults:\ngroups:\n")

    assert load(path).ports == Ports()


# --- bad files -----------------------------------------------------------------------------

BAD_APP = [  # the app: mapping, in a file that is otherwise valid
    ("{name: e, proxy: {max_body: 10 parsecs}}", "app.proxy.max_body", "a size like 512m"),
    ("{name: e, proxy: {max_body: 1.5g}}", "app.proxy.max_body", "a size like 512m"),
    ("{name: e, proxy: {max_body: -1}}", "app.proxy.max_body", "a size like 512m"),
    ("{name: e, proxy: {timeout: 0}}", "app.proxy.timeout", "an integer >= 1"),
    ("{name: e, proxy: {timeout: -5}}", "app.proxy.timeout", "an integer >= 1"),
    ("{name: e, proxy: {buffering: 1}}", "app.proxy.buffering", "true or false"),
    ("{name: e, proxy: {max_bdy: 1g}}", "app.proxy.max_bdy", "did you mean 'max_body'?"),
    ("{name: e, build: remote}", "app.build", "expected 'host' or 'local', got 'remote'"),
    ("{name: e, build: local, source: git, repo: u}", "app.build", "source: git builds on hosts"),
    ("{name: e, build: host, image: r.io/e:1}", "app.build", "give one of the two"),
    ("{name: e, image: 'r.io/e:1 x'}", "app.image", "a reference like registry.example.com"),
    ("{name: e, image: 'R.io/Team/e'}", "app.image", "a reference like"),
    ("{name: e, image: 'r.io/e@sha256:abc'}", "app.image", "a reference like"),
    ("{name: e, keep_releases: -1}", "app.keep_releases", "an integer >= 0, got -1"),
    ("null", "app.name", "required"),
    ("{source: git}", "app.name", "required"),
    ("{name: My App}", "app.name", "got 'My App'"),
    ("{name: %s}" % ("x" * 25), "app.name", "at most 24"),
    ("{name: e, helth: {}}", "app.helth", "unknown key (did you mean 'health'?)"),
    ("{name: e, zzz: 1}", "app.zzz", "unknown key (expected one of: name, source"),
    ("{name: e, source: svn}", "app.source", "expected 'upload' or 'git', got 'svn'"),
    ("{name: e, source: git}", "app.repo", "required with source: git"),
    ("{name: e, source: git, repo: -oX}", "app.repo", "expected a git URL"),
    ("{name: e, repo: ''}", "app.repo", "expected a path or git URL"),
    ("{name: e, path: ../x}", "app.path", "expected a relative path"),
    ("{name: e, path: /abs}", "app.path", "expected a relative path"),
    ("{name: e, dockerfile: a/../../D}", "app.dockerfile", "a relative path"),
    ("{name: e, release: 3}", "app.release", "expected a command (string) or a list of"),
    ("{name: e, release: ''}", "app.release", "expected a command (string) or a list of"),
    ("{name: e, release: []}", "app.release", "expected a command (string) or a list of"),
    ("{name: e, release: [migrate, 1]}", "app.release", "a list of arguments, got ['migrate', 1]"),
    ("{name: e, release: {a: b}}", "app.release", "expected a command (string)"),
    ("{name: e, release_on: w9}", "app.release_on", "'w9' is not first, all or a host name"),
    ("{name: e, volumes: data:/data}", "app.volumes", "expected a list of SOURCE:/path[:ro]"),
    ("{name: e, volumes: [data]}", "app.volumes[0]", "expected SOURCE:/container/path"),
    ("{name: e, volumes: ['data:rel/path']}", "app.volumes[0]", "got 'data:rel/path'"),
    ("{name: e, volumes: ['d:/x:rx']}", "app.volumes[0]", "got 'd:/x:rx'"),
    ("{name: e, volumes: ['../up:/x']}", "app.volumes[0]", "got '../up:/x'"),
    ("{name: e, volumes: ['/srv/../etc:/x']}", "app.volumes[0]", "got '/srv/../etc:/x'"),
    ("{name: e, volumes: ['-v:/x']}", "app.volumes[0]", "got '-v:/x'"),
    ("{name: e, volumes: ['d;rm -rf:/x']}", "app.volumes[0]", "got 'd;rm -rf:/x'"),
    ("{name: e, options: {memroy: 1g}}", "app.options.memroy", "unknown key (did you mean"),
    ("{name: e, options: {privileged: true}}", "app.options.privileged", "unknown key"),
    ("{name: e, options: {memory: lots}}", "app.options.memory", "a size like 512m"),
    ("{name: e, options: {cpus: 0}}", "app.options.cpus", "expected a number > 0"),
    ("{name: e, options: {ulimits: {nofile: x}}}", "app.options.ulimits.nofile", "SOFT:HARD"),
    ("{name: e, options: {labels: {bluegreen.color: x}}}", "app.options.labels", "not a valid"),
    ("{name: e, options: {extra_hosts: {db: 'a b'}}}", "app.options.extra_hosts.db", "an IP"),
    ("{name: e, options: {user: 'root; id'}}", "app.options.user", "uid[:gid]"),
    ('{name: e, options: {log: {max-size: "1\\n2"}}}', "app.options.log.max-size", "one line"),
    ("{name: e, stop_timeout: 999}", "app.stop_timeout", "an integer from 0 to 300"),
    ("{name: e, health: {expect: {status: 99}}}", "app.health.expect.status", "HTTP status"),
    ("{name: e, health: {expect: {status: []}}}", "app.health.expect.status", "HTTP status"),
    ("{name: e, health: {expect: {contains: ''}}}", "app.health.expect.contains", "non-empty"),
    ("{name: e, health: {expect: {json: {'a b': 1}}}}", "app.health.expect.json", "field name"),
    ("{name: e, health: {expect: {json: {a: [1]}}}}", "app.health.expect.json.a", "got list"),
    ("{name: e, health: {expect: {body: x}}}", "app.health.expect.body", "unknown key"),
    ("{name: e, container_port: 0}", "app.container_port", "from 1 to 65535, got 0"),
    ("{name: e, env: {1X: a}}", "app.env", "'1X' is not a valid variable name"),
    ("{name: e, env: {A: [s3cr3t]}}", "app.env.A", "string, number or boolean, got list"),
    ("{name: e, env: [A=1]}", "app.env", "expected a mapping of NAME: value, got list"),
    ("{name: e, drain: -1}", "app.drain", "expected a number >= 0, got -1"),
    ("{name: e, drain: {seconds: 3, max: 2}}", "app.drain.max", "2 is below app.drain.seconds (3)"),
    ("{name: e, drain: {seconds: -1}}", "app.drain.seconds", "expected a number >= 0, got -1"),
    ("{name: e, drain: {min: 1}}", "app.drain.min", "unknown key"),
    ("{name: e, proxy: {release_headers: yes}}", "app.proxy.release_headers", "'private' or"),
    ("{name: e, health: {attempts: ten}}", "app.health.attempts", "an integer >= 1, got 'ten'"),
    ("{name: e, health: {attempts: 0}}", "app.health.attempts", "got 0"),
    ("{name: e, health: {attempts: true}}", "app.health.attempts", "got True"),
    ("{name: e, health: {attempts: 2.5}}", "app.health.attempts", "got 2.5"),
    ("{name: e, health: {path: health}}", "app.health.path", "starting with '/'"),
    ("{name: e, health: {interval: 0}}", "app.health.interval", "a number > 0, got 0"),
    ("{name: e, health: {timeout: .inf}}", "app.health.timeout", "a number > 0, got inf"),
    ("{name: e, health: {timeout: '2'}}", "app.health.timeout", "got '2'"),
    ("{name: e, health: {tries: 2}}", "app.health.tries", "unknown key"),
    ("{name: e, health: 5}", "app.health", "expected a mapping, got int"),
    ("{name: e, watch: {seconds: -1}}", "app.watch.seconds", "a number >= 0, got -1"),
    ("{name: e, watch: {max_error_rate: 5}}", "app.watch.max_error_rate", "from 0 to 1, got 5"),
    ("{name: e, watch: {max_error_rate: '1%'}}", "app.watch.max_error_rate", "got '1%'"),
    ("{name: e, watch: {max_p99_ms: 0}}", "app.watch.max_p99_ms", "a number > 0, got 0"),
    ("{name: e, watch: {min_requests: 0}}", "app.watch.min_requests", "an integer >= 1, got 0"),
    ("{name: e, watch: {probe: health}}", "app.watch.probe", "starting with '/'"),
    ("{name: e, watch: {second: 5}}", "app.watch.second", "did you mean 'seconds'?"),
    ("{name: e, watch: 30}", "app.watch", "expected a mapping, got int"),
]

BAD_REST = [  # everything after a valid app: line
    ("hosts: {w: a}\nhooks: {befor: x}", "hooks.befor", "did you mean 'before'?"),
    ("hosts: {w: a}\nhooks: {after: 3}", "hooks.after", "expected one shell command line"),
    ("hosts: {w: a}\nhooks: {failed: ''}", "hooks.failed", "expected one shell command line"),
    ('hosts: {w: a}\nhooks: {before: "a\\nb"}', "hooks.before", "one shell command line"),
    ("hosts: {w: a}\nhooks: [x]", "hooks", "expected a mapping, got list"),
    ("hosts: {w: a}\nsecrets: {registri: {}}", "secrets.registri", "did you mean 'registry'?"),
    (
        "hosts: {w: a}\nsecrets: {registry: {password: env:P}}",
        "secrets.registry.username",
        "required",
    ),
    (
        "hosts: {w: a}\nsecrets: {registry: {username: u}}",
        "secrets.registry.password",
        "required",
    ),
    (
        "hosts: {w: a}\nsecrets: {registry: {username: u, password: hunter22}}",
        "secrets.registry.password",
        "expected env:VAR or file:PATH (never the value itself)",
    ),
    (
        "hosts: {w: a}\nsecrets: {registry: {username: u, password: 'env:a b'}}",
        "secrets.registry.password",
        "expected env:VAR or file:PATH",
    ),
    (
        "hosts: {w: a}\nsecrets: {registry: {username: u, password: 'file:nope'}}",
        "secrets.registry.password",
        "nope: file not found",
    ),
    (
        "hosts: {w: a}\nsecrets: {registry: {username: u, pasword: x}}",
        "secrets.registry.pasword",
        "did you mean",
    ),
    ("host: {w: a}", "host", "unknown key (did you mean 'hosts'?)"),
    # ports
    ("hosts: {w: a}\nports: [1, 2]", "ports", "expected a mapping, got list"),
    ("hosts: {w: a}\nports: {public: 70000}", "ports.public", "from 1 to 65535, got 70000"),
    ("hosts: {w: a}\nports: {public: '4000'}", "ports.public", "got '4000'"),
    ("hosts: {w: a}\nports: {green: 4001}", "ports.green", "4001 is also ports.blue"),
    ("hosts: {w: a}\nports: {red: 4003}", "ports.red", "unknown key"),
    # defaults
    ("hosts: {w: a}\ndefaults: {user: Bad User}", "defaults.user", "a user name"),
    ("hosts: {w: a}\ndefaults: {port: '22'}", "defaults.port", "65535, got '22'"),
    ("hosts: {w: a}\ndefaults: {port: true}", "defaults.port", "got True"),
    ("hosts: {w: a}\ndefaults: {host_keys: yes}", "defaults.host_keys", "'strict', got True"),
    ("hosts: {w: a}\ndefaults: {profile: centos}", "defaults.profile", "got 'centos'"),
    ("hosts: {w: a}\ndefaults: {network: overlay}", "defaults.network", "'bridge' or 'host'"),
    ("hosts: {w: a}\ndefaults: {connect_timeout: 0}", "defaults.connect_timeout", "a number > 0"),
    ("hosts: {w: a}\ndefaults: {key: ''}", "defaults.key", "expected a path"),
    ("hosts: {w: a}\ndefaults: {known_hosts: null}", "defaults.known_hosts", "a path, got None"),
    ("hosts: {w: a}\ndefaults: {app_dir: srv/x}", "defaults.app_dir", "an absolute path"),
    ("hosts: {w: a}\ndefaults: {app_dir: '/srv/$(x)'}", "defaults.app_dir", "an absolute path"),
    ("hosts: {w: a}\ndefaults: {app_dir: /srv/../etc}", "defaults.app_dir", "an absolute path"),
    ("hosts: {w: a}\ndefaults: {app_dir: /}", "defaults.app_dir", "got '/'"),
    ("hosts: {w: a}\ndefaults: {address: a}", "defaults.address", "unknown key"),
    (
        "hosts: {w: a}\ndefaults: {group: nope}",
        "defaults.group",
        "'nope' is neither a group nor a host (groups: none; hosts: w)",
    ),
    # hosts
    ("", "hosts", "required (at least one host)"),
    ("hosts: {}", "hosts", "required (at least one host)"),
    ("hosts: [a]", "hosts", "expected a mapping, got list"),
    ("hosts: {w: {user: u}}", "hosts.w.address", "required"),
    ("hosts: {w: null}", "hosts.w.address", "required"),
    ("hosts: {w: 5}", "hosts.w", "expected a mapping, got int"),
    ("hosts: {w: 'a; rm -rf /'}", "hosts.w.address", "a hostname or IP address"),
    ("hosts: {w: -oProxyCommand=x}", "hosts.w.address", "a hostname or IP address"),
    ("hosts: {w: {address: a, prot: 22}}", "hosts.w.prot", "unknown key (did you mean 'port'?)"),
    ("hosts: {w: {address: a, group: g}}", "hosts.w.group", "unknown key"),
    ("hosts: {w: {address: a, env: {A-B: x}}}", "hosts.w.env", "'A-B' is not a valid variable"),
    ("hosts: {web 1: a}", "hosts.web 1", "'web 1' is not a valid name"),
    ("hosts: {1: a}", "hosts.1", "1 is not a valid name"),
    ("hosts: {w1: a, w2: {address: a}}", "hosts.w2.address", "same address and port as hosts.w1"),
    ("defaults: {port: 2}\nhosts: {w1: a, w2: {address: a, port: 2}}", "hosts.w2.address", "(a:2)"),
    # groups
    ("hosts: {w: a}\ngroups: {'-g': [w]}", "groups.-g", "'-g' is not a valid name"),
    ("hosts: {w: a}\ngroups: {w: [w]}", "groups.w", "'w' is also a host name"),
    ("hosts: {w: a}\ngroups: {g: w}", "groups.g", "expected a non-empty list"),
    ("hosts: {w: a}\ngroups: {g: []}", "groups.g", "expected a non-empty list"),
    ("hosts: {w: a}\ngroups: {g: ['w x']}", "groups.g", "'w x' is not a valid name"),
    (
        "hosts: {w1: a, w2: b}\ngroups: {g: [w1, w9]}",
        "groups.g",
        "'w9' is neither a group nor a host (groups: g; hosts: w1, w2)",
    ),
    ("hosts: {w: a}\ngroups: {a: [a]}", "groups.a", "includes itself: a -> a"),
    ("hosts: {w: a}\ngroups: {a: [w, b], b: [c], c: [a]}", "groups.a", "a -> b -> c -> a"),
]

BAD = [(f"app: {app}\nhosts: {{w: a}}", key, problem) for app, key, problem in BAD_APP] + [
    (f"app: {{name: e}}\n{rest}", key, problem) for rest, key, problem in BAD_REST
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD)
def test_bad_file_names_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    message = load_error(write(tmp_path, text + "\n"))

    assert message.startswith(f"{tmp_path / 'hosts.yml'}: {key}: ")
    assert problem in message


def test_assets_are_served_at_their_last_part_unless_a_url_is_given(tmp_path: Path) -> None:
    text = "app: {name: e, assets: /rails/public/assets}\nhosts: {w: a}\n"
    app = load(write(tmp_path, text)).app
    assert (app.assets, app.assets_prefix()) == ("/rails/public/assets", "/assets/")
    text = "app: {name: e, assets: /app/staticfiles, assets_url: /static/}\nhosts: {w: a}\n"
    assert load(write(tmp_path, text)).app.assets_prefix() == "/static/"


def test_env_values_never_appear_in_messages(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "app: {name: e, env: {A: [s3cr3t]}}\nhosts: {w: a}\n"))

    assert "s3cr3t" not in message


def test_env_value_with_a_line_break_is_refused(tmp_path: Path) -> None:
    """A line break would smuggle another variable into the env file on the host."""
    text = 'app: {name: e, env: {A: "s3cr3t\\nB=1"}}\nhosts: {w: a}\n'
    message = load_error(write(tmp_path, text))

    assert "app.env.A: contains a line break" in message
    assert "s3cr3t" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "hosts.yml: empty file"),
        ("# nothing\n", "hosts.yml: empty file"),
        ("- a\n- b\n", "hosts.yml: expected a mapping at the top level, got list"),
        ("app: {name: e}\nhosts:\n  w: a\n    b: c\n", "hosts.yml:4: YAML syntax error: "),
        ("app: {name: e}\nhosts:\n  w: [a\n", "hosts.yml:4: YAML syntax error: "),
        (
            "app: {name: e}\nhosts:\n  w: a\n  w: b\n",
            "hosts.yml:4: YAML syntax error: duplicate key 'w'",
        ),
    ],
)
def test_bad_yaml_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(write(tmp_path, text))


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        app: {name: e}
        hosts:
          w1: &base {address: a, user: ubuntu}
          w2: {<<: *base, address: b}
        """,
    )

    assert load(path).hosts["w2"].user == "ubuntu"


def test_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.yml")

    assert message == f"{tmp_path / 'nope.yml'}: file not found ({tmp_path / 'nope.yml'})"


# --- env and env_file ----------------------------------------------------------------------


def test_env_for_layers_env_file_then_app_then_host(tmp_path: Path) -> None:
    env_file(tmp_path, "# comment\n\nA=file\nB=file\nC=file=with=equals\nD=\n")
    path = write(
        tmp_path,
        """
        app: {name: e, env_file: .env, env: {B: app, E: app}}
        hosts:
          w1: {address: a, env: {E: host}}
          w2: b
        """,
    )
    inventory = load(path)

    env = inventory.env_for(inventory.hosts["w1"])
    env["A"] = "changed"

    assert env == {"A": "changed", "B": "app", "C": "file=with=equals", "D": "", "E": "host"}
    assert inventory.env_for(inventory.hosts["w1"])["A"] == "file"
    assert inventory.env_for(inventory.hosts["w2"])["E"] == "app"


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_env_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    env_file(tmp_path, "A=1\n", mode=0o644)

    message = load_error(write(tmp_path, "app: {name: e, env_file: .env}\nhosts: {w: a}\n"))

    assert f"hosts.yml: app.env_file: {tmp_path / '.env'}" in message
    assert "mode 0644" in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("A=1\nthis line has s3cr3t\n", ".env:2: expected NAME=value"),
        ("A=1\n\nBAD NAME=s3cr3t\n", ".env:3: expected NAME=value"),
    ],
)
def test_env_file_bad_line_names_line_not_value(tmp_path: Path, content: str, problem: str) -> None:
    env_file(tmp_path, content)

    message = load_error(write(tmp_path, "app: {name: e, env_file: .env}\nhosts: {w: a}\n"))

    assert "app.env_file: " in message
    assert problem in message
    assert "s3cr3t" not in message


SECRET_BAD = [
    ("{A: s3cr3t}", "app.secrets.A", "expected env:VAR or file:PATH (never the value itself)"),
    ("[A]", "app.secrets", "expected a mapping of NAME: env:VAR or file:PATH, got list"),
    ("{1A: env:X}", "app.secrets", "'1A' is not a valid variable name"),
    ("{A: env:BLUEGREEN_TEST_UNSET}", "app.secrets.A", "BLUEGREEN_TEST_UNSET is not set"),
    ("{A: file:nope}", "app.secrets.A", "nope: file not found"),
    ("{A: file:open.secret}", "app.secrets.A", "accessible by group/others (mode 0644)"),
    ("{A: file:empty.secret}", "app.secrets.A", "empty.secret is empty"),
    ("{A: file:two.secret}", "app.secrets.A", "contains a line break"),
    ("{GREETING: env:HOME}", "app.secrets.GREETING", "a secret and a plain env setting"),
]


@pytest.mark.parametrize(("secrets", "key", "problem"), SECRET_BAD)
def test_bad_secrets_name_the_key_never_the_value(tmp_path, monkeypatch, secrets, key, problem):
    monkeypatch.delenv("BLUEGREEN_TEST_UNSET", raising=False)
    for name, text, mode in (("open", "s3cr3t", 0o644), ("empty", "\n", 0o600),
                             ("two", "s3cr3t\ns3cr3t\n", 0o600)):  # fmt: skip
        (tmp_path / f"{name}.secret").write_text(text)
        (tmp_path / f"{name}.secret").chmod(mode)
    text = f"app: {{name: e, env: {{GREETING: hi}}, secrets: {secrets}}}\nhosts: {{w: a}}\n"
    message = load_error(write(tmp_path, text))
    assert f"hosts.yml: {key}: " in message and problem in message, message
    assert "s3cr3t" not in message


def test_a_host_env_key_that_is_a_secret_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEN_SRC", "s3cr3t")
    text = (
        "app: {name: e, secrets: {TOKEN: env:TOKEN_SRC}}\n"
        "hosts: {w: {address: a, env: {TOKEN: x}}}\n"
    )
    message = load_error(write(tmp_path, text))
    assert "hosts.w.env.TOKEN: a secret and a plain env setting at once" in message
    assert "s3cr3t" not in message


def test_secrets_reach_the_env_and_are_the_values_to_mask(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEN_SRC", "s3cr3t")
    env_file(tmp_path, "FILE_KEY=from-file\n")
    text = (
        "app: {name: e, env: {BIND: 127.0.0.1}, env_file: .env, secrets: {TOKEN: env:TOKEN_SRC}}\n"
        "hosts: {w: a}\n"
    )
    inventory = load(write(tmp_path, text))
    assert inventory.env_for(inventory.hosts["w"]) == {
        "FILE_KEY": "from-file",
        "BIND": "127.0.0.1",
        "TOKEN": "s3cr3t",
    }
    assert inventory.secret_values == {"s3cr3t", "from-file"}  # a setting is not masked
    shown = repr(inventory)  # what a traceback or a debug print would show
    assert "127.0.0.1" in shown and "s3cr3t" not in shown and "from-file" not in shown


def test_missing_env_file(tmp_path: Path) -> None:
    message = load_error(write(tmp_path, "app: {name: e, env_file: .env}\nhosts: {w: a}\n"))

    assert f"app.env_file: {tmp_path / '.env'}: file not found" in message


# --- select --------------------------------------------------------------------------------

FLEET = """
app: {name: e}
defaults: {group: all}
groups:
  prod: [web1, web2]
  eu: [web3, web1]
  all: [prod, eu]
hosts: {web1: a, web2: b, web3: c, lab: d}
"""


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["web2"], ["web2"]),
        (["prod"], ["web1", "web2"]),
        (["eu"], ["web3", "web1"]),
        (["all"], ["web1", "web2", "web3"]),
        (["prod", "web1", "eu"], ["web1", "web2", "web3"]),
        (["web3,prod"], ["web3", "web1", "web2"]),
        (["lab, prod", "web2"], ["lab", "web1", "web2"]),
        ("prod,lab", ["web1", "web2", "lab"]),
        (None, ["web1", "web2", "web3"]),
        ([], ["web1", "web2", "web3"]),
        ([""], ["web1", "web2", "web3"]),
    ],
)
def test_select_expands_groups_in_order_without_duplicates(
    tmp_path: Path, names: list[str] | str | None, expected: list[str]
) -> None:
    inventory = load(write(tmp_path, FLEET))

    assert [host.name for host in inventory.select(names)] == expected


def test_select_returns_the_hosts_themselves(tmp_path: Path) -> None:
    inventory = load(write(tmp_path, FLEET))

    assert inventory.select(["web2"]) == [inventory.hosts["web2"]]


def test_select_unknown_name_lists_what_exists(tmp_path: Path) -> None:
    inventory = load(write(tmp_path, FLEET))

    with pytest.raises(InventoryError) as error:
        inventory.select(["prod,web9"])

    assert str(error.value) == (
        "hosts.yml: unknown host or group 'web9'; "
        "groups: prod, eu, all; hosts: web1, web2, web3, lab"
    )


def test_select_without_names_or_default_group(tmp_path: Path) -> None:
    inventory = load(write(tmp_path, MINIMAL))

    with pytest.raises(InventoryError, match="no -H given and hosts.yml has no defaults.group"):
        inventory.select(None)


def test_default_group_may_name_a_host(tmp_path: Path) -> None:
    inventory = load(write(tmp_path, MINIMAL + "defaults: {group: web1}\n"))

    assert [host.name for host in inventory.select(None)] == ["web1"]


def test_notify_webhooks_are_parsed_and_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        app: {name: e}
        hosts: {w: a}
        notify:
          - https://hooks.example.invalid/a
          - {url: "http://127.0.0.1:9/x", format: slack}
        """,
    )
    assert [(w.url, w.format) for w in load(path).notify] == [
        ("https://hooks.example.invalid/a", "json"),
        ("http://127.0.0.1:9/x", "slack"),
    ]
    bad = write(tmp_path, "app: {name: e}\nhosts: {w: a}\nnotify: [{url: ftp://x}]\n")
    assert "notify[0].url: expected an http:// or https:// URL" in load_error(bad)
    bad = write(tmp_path, "app: {name: e}\nhosts: {w: a}\nnotify: [{url: http://x, format: irc}]\n")
    assert "notify[0].format: expected 'json' or 'slack' or 'discord'" in load_error(bad)


def test_warm_standby_is_a_boolean(tmp_path: Path) -> None:
    ok = write(tmp_path, "app: {name: e, warm_standby: true}\nhosts: {w: a}\n")
    assert load(ok).app.warm_standby is True
    bad = write(tmp_path, "app: {name: e, warm_standby: 'yes'}\nhosts: {w: a}\n")
    assert "app.warm_standby: expected true or false, got 'yes'" in load_error(bad)


def test_image_sources_and_the_registry_login(tmp_path: Path, monkeypatch) -> None:
    password = tmp_path / "registry.password"
    password.write_text("from-the-file\n")
    password.chmod(0o600)
    text = (
        "app: {name: e, image: 'registry.example.com:5000/team/e:1.2', keep_releases: 2}\n"
        "hosts: {w: a}\nsecrets: {registry: {username: ci, password: file:registry.password}}\n"
    )
    inventory = load(write(tmp_path, text))
    assert inventory.app.image == "registry.example.com:5000/team/e:1.2"
    assert inventory.app.build == "host" and inventory.app.keep_releases == 2
    login = inventory.secrets.registry
    assert login is not None and login.username == "ci" and login.password() == "from-the-file"
    assert "from-the-file" not in repr(inventory)
    local = load(write(tmp_path, "app: {name: e, build: local}\nhosts: {w: a}\n"))
    assert local.app.build == "local" and local.secrets.registry is None


def test_a_registry_password_is_read_when_needed_and_never_shown(tmp_path: Path, monkeypatch):
    text = "app: {name: e}\nhosts: {w: a}\nsecrets: {registry: {username: u, password: env:PW}}\n"
    login = load(write(tmp_path, text)).secrets.registry
    monkeypatch.delenv("PW", raising=False)
    with pytest.raises(
        InventoryError, match=r"^secrets.registry.password: PW is not set in your environment$"
    ):
        login.password()
    monkeypatch.setenv("PW", "hunter22")
    assert login.password() == "hunter22"
    open_file = tmp_path / "pw"
    open_file.write_text("x")
    open_file.chmod(0o644)
    text = "app: {name: e}\nhosts: {w: a}\nsecrets: {registry: {username: u, password: file:pw}}\n"
    assert "mode 0644); chmod 600 it" in load_error(write(tmp_path, text))


# --- domains and tls ---------------------------------------------------------------------


def tls_file(directory: Path, tls: str, domains: str = "[shop.example.com]") -> Path:
    return write(
        directory, f"app: {{name: shop, domains: {domains}, tls: {tls}}}\nhosts: {{w: a}}\n"
    )


def test_tls_files_are_read_and_checked_at_load(tmp_path: Path) -> None:
    import trustme

    cert = trustme.CA().issue_cert("shop.example.com")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "site.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "site.key"))
    (tmp_path / "site.key").chmod(0o600)
    path = tls_file(tmp_path, "{files: {certificate: site.crt, key: site.key}, hsts: true}")
    inventory = load(path)
    tls = inventory.app.tls
    assert (tls.mode, tls.certificate, tls.key, tls.hsts) == (
        "files",
        tmp_path / "site.crt",
        tmp_path / "site.key",
        True,
    )
    assert tls.pair is not None and tls.pair.key == cert.private_key_pem.bytes()
    assert inventory.public_port == 443
    (tmp_path / "site.key").chmod(0o640)
    assert load_error(path) == (
        f"{path}: app.tls.files: {tmp_path / 'site.key'} is accessible by group/others"
        " (mode 0640); chmod 600 it"
    )


@pytest.mark.parametrize(
    ("tls", "domains", "problem"),
    [
        ("off", "[shop.example.com]", None),
        ("{acme: {email: ops@example.com}}", "[shop.example.com]", None),
        ("{acme: {}}", "[a.example.com]", "app.tls.acme.email: required"),
        ("{acme: {email: x}}", "[a.example.com]", "app.tls.acme.email: expected an e-mail"),
        ("{files: {certificate: c}, acme: {email: a@b.io}}", "[a.io]", "exactly one of"),
        ("{files: {certificate: c}}", "[a.io]", "app.tls.files.key: required"),
        ("{acme: {email: a@b.io}}", "null", "app.tls: needs app.domains"),
        ("{acme: {email: a@b.io, server: 'http://x'}}", "[a.io]", "an https:// ACME directory"),
        ("{files: {certificate: c, key: k}}", "[a.io]", "c: certificate file not found"),
        ("yes", "[a.io]", "app.tls: expected off, files: or acme:, got True"),
        ("off", "[bad_name.io]", "app.domains[0]: 'bad_name.io' is not a domain name"),
        ("off", "[a.io, a.io]", "app.domains: a domain is listed twice"),
        ("off", "a.io", "app.domains: expected a non-empty list of domain names, got str"),
    ],
)
def test_bad_domains_and_tls_settings(tmp_path: Path, tls: str, domains: str, problem) -> None:
    path = tls_file(tmp_path, tls, domains)
    if problem is None:
        load(path)
    else:
        assert problem in load_error(path)


def test_the_served_port_follows_domains_and_tls(tmp_path: Path) -> None:
    assert load(write(tmp_path, MINIMAL)).public_port == 4000
    assert load(tls_file(tmp_path, "off")).public_port == 80
    assert load(tls_file(tmp_path, "{acme: {email: a@b.io}}")).public_port == 443


# --- app.balancer (docs/guides/load-balancers.md) --------------------------------------------


def test_a_balancer_gets_its_defaults_and_normalised_trusted_proxies(tmp_path: Path) -> None:
    text = "app: {name: e, balancer: {trusted_proxies: [10.0.0.7/8, 2001:db8::1]}}\nhosts: {w: a}\n"
    balancer = load(write(tmp_path, text)).app.balancer
    assert balancer == Balancer(trusted_proxies=("10.0.0.0/8", "2001:db8::1/128"))
    assert (balancer.drain, balancer.rejoin) == (10.0, 5.0)
    assert load(write(tmp_path, MINIMAL)).app.balancer is None  # no balancer unless asked


@pytest.mark.parametrize(
    ("balancer", "problem"),
    [
        ("{drain: 0}", "app.balancer.drain: expected seconds above 0, at most 600, got 0"),
        ("{rejoin: 601}", "app.balancer.rejoin: expected seconds above 0, at most 600, got 601"),
        ("{drain: '5'}", "app.balancer.drain: expected seconds above 0, at most 600, got '5'"),
        (
            "{trusted_proxies: [10.0.0.0/8, lb1]}",
            "app.balancer.trusted_proxies[1]: expected an address or CIDR like 10.0.0.0/8,"
            " got 'lb1'",
        ),
        ("{drian: 5}", "app.balancer.drian: unknown key (did you mean 'drain'?)"),
    ],
)
def test_a_bad_balancer_is_one_line_naming_the_key(tmp_path, balancer, problem) -> None:
    path = write(tmp_path, f"app: {{name: e, balancer: {balancer}}}\nhosts: {{w: a}}\n")
    assert load_error(path) == f"{path}: {problem}"


def test_a_webhook_url_with_a_token_may_come_from_the_environment_or_a_private_file(
    tmp_path: Path, monkeypatch
) -> None:
    """So the token is never committed with hosts.yml; the URL is masked in all output and
    kept from the programs bluegreen starts, as secrets are."""
    token = "https://hooks.slack.invalid/services/T0/B0/s3cr3tT0ken"
    monkeypatch.setenv("SHOP_SLACK_URL", token)
    (tmp_path / "hook.url").write_text("https://hooks.example.invalid/t0ken\n")
    (tmp_path / "hook.url").chmod(0o600)
    path = write(
        tmp_path,
        """
        app: {name: e}
        hosts: {w: a}
        notify:
          - {url: "env:SHOP_SLACK_URL", format: slack}
          - "file:hook.url"
        """,
    )
    inv = load(path)
    assert [w.url for w in inv.notify] == [token, "https://hooks.example.invalid/t0ken"]
    assert {token, "https://hooks.example.invalid/t0ken"} <= inv.secret_values
    assert "s3cr3tT0ken" not in repr(inv.notify)
    assert "SHOP_SLACK_URL" not in child_env.for_children()
    monkeypatch.setenv("SHOP_SLACK_URL", "ftp://x/s3cr3tT0ken")
    error = load_error(path)
    assert "notify[0].url: SHOP_SLACK_URL holds no http:// or https:// URL" in error
    assert "s3cr3tT0ken" not in error
