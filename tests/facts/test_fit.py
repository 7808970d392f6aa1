import pytest

from bluegreen import facts
from bluegreen.facts import Container, HostFacts, fit
from bluegreen.shell import resources as probe

MIB = 1024**2


def _facts(**values: int) -> HostFacts:
    live = {"blue": Container("running", "r1")}
    return HostFacts(live_color="blue", live_release="r1", containers=live, resources=values)


CASES = [
    # facts, options.memory, a new image?, the verdict
    ({"mem_available": 300 * MIB, "memory_blue": 100 * MIB}, None, False, None),
    (
        {"mem_available": 300 * MIB, "memory_blue": 100 * MIB},
        "512m",
        False,
        "host web1: needs 512 MiB for green (options.memory), 300 MiB available;"
        " --force to deploy anyway",
    ),
    (
        {"mem_available": 80 * MIB, "memory_blue": 100 * MIB},
        None,
        False,
        "host web1: needs 100 MiB for green (what blue uses now), 80 MiB available;"
        " --force to deploy anyway",
    ),
    # a warm standby in green is stopped before the new green starts: its memory counts
    ({"mem_available": 300 * MIB, "memory_green": 300 * MIB}, "512m", False, None),
    ({"mem_available": 300 * MIB}, None, False, None),  # nothing to estimate by
    ({"memory_blue": 100 * MIB}, "1g", False, None),  # MemAvailable unknown: not judged
    (
        {"mem_available": 900 * MIB, "image_size_blue": 700 * MIB, "disk_free": 500 * MIB},
        None,
        True,
        "host web1: needs 700 MiB of disk for the green image (the size of blue's),"
        " 500 MiB free in /var/lib/docker; --force to deploy anyway",
    ),
    # the image is already there: no disk needed
    ({"image_size_blue": 700 * MIB, "disk_free": 500 * MIB}, None, False, None),
]


@pytest.mark.parametrize(("values", "memory", "new_image", "verdict"), CASES)
def test_a_second_color_must_fit_in_memory_and_its_image_on_disk(
    values, memory, new_image, verdict
):
    found = _facts(**values)
    found = HostFacts(**{**found.__dict__, "docker_root": "/var/lib/docker"})
    assert fit.shortage("web1", found, "green", memory, new_image) == verdict


def test_nothing_live_is_not_judged():
    assert (
        fit.shortage("web1", HostFacts(resources={"mem_available": 1}), "blue", None, True) is None
    )


@pytest.mark.parametrize(
    ("text", "count"),
    [("512m", 512 * MIB), ("1g", 1024 * MIB), ("1.5G", 1536 * MIB), ("64k", 65536)],
)
def test_docker_sizes_in_bytes(text, count):
    assert fit.size(text) == count


def test_sizes_for_people():
    assert fit.human(300 * MIB) == "300 MiB"
    assert fit.human(12 * 1024 * MIB) == "12288 MiB"


def test_the_probe_reads_meminfo_df_and_each_containers_cgroup():
    text = probe.probe("shop", "/srv/shop")
    assert text.splitlines()[0] == (
        "awk '/^MemAvailable:/ {printf \"mem_available=%.0f\\n\", $2 * 1024}' /proc/meminfo"
    )
    assert "docker inspect -f '{{.Name}} {{.State.Pid}} {{.Image}}' shop-blue shop-green" in text
    assert "/sys/fs/cgroup/memory$cg/memory.usage_in_bytes /sys/fs/cgroup$cg/memory.current" in text
    assert 'd=/srv/shop; while [ ! -d "$d" ]; do d=$(dirname "$d"); done' in text


def test_the_probe_output_becomes_byte_counts():
    output = "mem_available=314572800\ndisk_free=1000\ndocker_root=/var/lib/docker\nmemory_blue=\n"
    found = facts.parse(output + "image_size_blue=7340032\n")
    assert found.resources == {
        "mem_available": 314572800,
        "disk_free": 1000,
        "image_size_blue": 7340032,
    }
    assert found.docker_root == "/var/lib/docker"
