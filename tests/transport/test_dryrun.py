import io

from bluegreen import transport
from bluegreen.config.inventory import Host
from bluegreen.transport.dryrun import DryRemote
from bluegreen.transport.ssh import Remote


def test_a_dry_run_records_every_change_instead_of_making_it(tmp_path):
    dry = transport.connect(Host(name="a", address="192.0.2.1", known_hosts=tmp_path / "k"), True)
    assert isinstance(dry, DryRemote)
    assert dry.run("nginx -s reload") == ""
    assert dry.run("tee /etc/x", stdin="one\ntwo\n") == ""
    assert dry.put(b"abc", "bluegreen/app.tar") == "~/bluegreen/app.tar"
    assert dry.send("docker load", io.BytesIO(b"image"), lambda sent: None) == ""
    assert dry.plan == [
        "nginx -s reload",
        "tee /etc/x",
        "# with 2 line(s) on stdin (not shown)",
        "# upload 3 bytes over SFTP to ~/bluegreen/app.tar",
        "# stream the image on stdin into: docker load",
    ]
    assert dry.round_trips == 0  # nothing reached the (unopened) connection


def test_a_real_run_gets_the_real_session(tmp_path):
    real = transport.connect(Host(name="a", address="192.0.2.1", known_hosts=tmp_path / "k"))
    assert type(real) is Remote
