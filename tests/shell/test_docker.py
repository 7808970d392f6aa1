from bluegreen.config.inventory import Host, Ports
from bluegreen.shell import docker


def test_names_are_app_color_and_app_release():
    assert docker.container("shop", "blue") == "shop-blue"
    assert docker.image("shop", "0123456789ab") == "shop:0123456789ab"


def test_run_publishes_on_loopback_only_and_reads_env_from_stdin():
    host = Host(name="web1", address="203.0.113.10", app_dir="/srv/shop")
    command = docker.run("shop", "green", "abc", host, Ports(), 8080)
    assert command == (
        "umask 077 && mkdir -p /srv/shop && { cat > /srv/shop/green.env.new"
        " && mv -f /srv/shop/green.env.new /srv/shop/green.env"
        " || { rm -f /srv/shop/green.env.new; false; }; }"
        " && { docker rm -f shop-green-prev >/dev/null 2>&1 || true; }"
        " && { ! docker container inspect shop-green >/dev/null 2>&1"
        " || { docker stop shop-green >/dev/null"
        " && docker rename shop-green shop-green-prev; }; }"
        " && docker run -d --pull never --name shop-green --restart unless-stopped"
        " --label bluegreen.app=shop --label bluegreen.color=green --label bluegreen.release=abc"
        " --env-file /srv/shop/green.env -e PORT=8080 -p 127.0.0.1:4002:8080 shop:abc >/dev/null"
    )


def test_run_with_host_network_listens_on_the_color_port():
    host = Host(name="s1", address="10.0.0.1", app_dir="/srv/shop", network="host")
    command = docker.run("shop", "blue", "abc", host, Ports(blue=5001), 8080)
    assert "--network host -e HOST=127.0.0.1 -e PORT=5001 shop:abc" in command
    assert "127.0.0.1:" not in command


def test_paths_with_spaces_and_quotes_are_quoted():
    host = Host(name="s1", address="10.0.0.1", app_dir="/srv/my app's")
    command = docker.run("shop", "blue", "abc", host, Ports(), 8080)
    assert "mkdir -p '/srv/my app'\"'\"'s'" in command


def test_build_shows_only_the_last_lines_when_it_fails():
    command = docker.build("shop", "abc", "/srv/shop/releases/abc", "Dockerfile")
    assert command == (
        "out=$({ docker build --force-rm --label bluegreen.release=abc -t shop:abc"
        " -f /srv/shop/releases/abc/Dockerfile /srv/shop/releases/abc; } 2>&1)"
        ' || { printf "%s\\n" "$out" | tail -n 30 >&2; exit 1; }'
    )


def test_stop_keeps_the_container():
    assert docker.stop("shop", "blue") == "docker stop shop-blue >/dev/null"
    assert docker.logs("shop", "blue", 5) == "docker logs --tail 5 shop-blue 2>&1"


def test_undo_puts_the_set_aside_container_back_under_its_name():
    assert docker.restore("shop", "blue", running=False) == (
        "docker rm -f shop-blue >/dev/null 2>&1;"
        " if docker container inspect shop-blue-prev >/dev/null 2>&1;"
        " then docker rename shop-blue-prev shop-blue; fi"
    )
    assert docker.restore("shop", "blue", running=True).endswith(
        "then docker rename shop-blue-prev shop-blue && docker start shop-blue >/dev/null; fi"
    )
    assert docker.discard_aside("shop", "blue") == (
        "docker rm -f shop-blue-prev >/dev/null 2>&1 || true"
    )


def test_one_inspect_reads_both_colors_and_their_kept_containers():
    fields = (
        '{{.Name}}|{{.State.Status}}|{{index .Config.Labels "bluegreen.release"}}'
        '|{{.Image}}|{{index .Config.Labels "bluegreen.app"}}'
    )
    assert docker.containers_probe("shop") == (
        f"docker container inspect -f '{fields}'"
        " shop-blue shop-green shop-blue-prev shop-green-prev 2>/dev/null"
        " | while IFS='|' read -r name status release image owner; do case \"$name\" in"
        ' /shop-blue) echo "container_blue=$status $release $image";'
        ' echo "owner_blue=owner=$owner";;'
        ' /shop-green) echo "container_green=$status $release $image";'
        ' echo "owner_green=owner=$owner";;'
        " /shop-blue-prev) echo aside_blue=yes;; /shop-green-prev) echo aside_green=yes;;"
        " esac; done; true"
    )
