from bluegreen.shell import image

DIGEST = "sha256:" + "ab" * 32
INSPECT = "printf 'image_id=%s\\n' \"$(docker image inspect -f '{{.Id}}' shop:abc 2>/dev/null)\""


def test_save_is_the_operators_argv():
    assert image.save("shop:abc") == ["docker", "save", "shop:abc"]


def test_image_id_prints_an_empty_value_when_the_image_is_absent():
    assert image.image_id("shop", "abc") == INSPECT


def test_load_unpacks_the_gzip_stream_from_stdin_and_prints_the_id():
    assert image.load("shop", "abc") == f"gunzip | docker load -q >/dev/null && {INSPECT}"


def test_pull_logs_in_from_stdin_into_a_private_config_and_names_the_release():
    reference = f"reg.example.com:5000/team/shop@{DIGEST}"
    assert image.pull("shop", "abc", reference, "reg.example.com:5000", "ci bot") == (
        'cfg=$(mktemp -d) && trap \'rm -rf "$cfg"\' EXIT && export DOCKER_CONFIG="$cfg"'
        " && docker login -u 'ci bot' --password-stdin reg.example.com:5000 >/dev/null"
        f" && docker pull -q {reference} >/dev/null"
        f" && docker tag {reference} shop:abc"
        f" && docker rmi {reference} >/dev/null"
        f" && {INSPECT}"
    )


def test_pull_without_a_login_pulls_at_once():
    reference = f"docker.io/library/shop@{DIGEST}"
    command = image.pull("shop", "abc", reference, "docker.io", None)
    assert command.startswith(f"docker pull -q {reference} >/dev/null && docker tag ")
    assert "login" not in command and "DOCKER_CONFIG" not in command


def test_prune_keeps_the_named_releases_and_the_newest_others():
    assert image.prune("shop", ["abc", "def"], 5) == (
        "docker images --format '{{.Tag}}' shop | grep -vxF -e abc -e def -e '<none>'"
        " | tail -n +6 | while read -r tag; do"
        ' docker rmi shop:"$tag" >/dev/null 2>&1 && echo "pruned=$tag"; done; true'
    )


def test_prune_with_no_extra_releases_kept_considers_every_other_image():
    assert "| tail -n +1 |" in image.prune("shop", ["abc"], 0)
