from bluegreen.shell import release


def test_upload_unpacks_into_the_release_dir():
    assert release.upload_path("shop", "abc", "web1", "0f1e2d3c4b5a") == (
        ".bluegreen/uploads/shop-abc-web1-0f1e2d3c4b5a.tar.gz"
    )
    archive = "/home/deploy/.bluegreen/uploads/shop-abc.tar.gz"
    target = release.directory("/srv/shop", "abc")
    assert release.unpack(archive, target) == (
        "set -e; rm -rf /srv/shop/releases/abc.tmp; mkdir -p /srv/shop/releases/abc.tmp"
        f" && tar -xzf {archive} -C /srv/shop/releases/abc.tmp"
        f" && rm -f {archive} && rm -rf /srv/shop/releases/abc"
        " && mv /srv/shop/releases/abc.tmp /srv/shop/releases/abc"
    )
