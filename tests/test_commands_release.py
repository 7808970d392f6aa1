from bluegreen.commands import release


def test_upload_unpacks_into_the_release_dir():
    archive = release.archive_path("deploy", "abc")
    target = release.directory("/srv/shop", "abc")
    assert release.unpack(archive, target) == (
        "set -e; rm -rf /srv/shop/releases/abc.tmp; mkdir -p /srv/shop/releases/abc.tmp"
        " && tar -xzf /tmp/bluegreen-deploy-abc.tar.gz -C /srv/shop/releases/abc.tmp"
        " && rm -f /tmp/bluegreen-deploy-abc.tar.gz && rm -rf /srv/shop/releases/abc"
        " && mv /srv/shop/releases/abc.tmp /srv/shop/releases/abc"
    )
