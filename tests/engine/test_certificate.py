from bluegreen.engine.certificate import reason
from bluegreen.errors import RemoteError


def test_certbots_reason_is_its_detail_line():
    output = (
        "Saving debug log to /var/log/letsencrypt/letsencrypt.log\n"
        "Certbot failed to authenticate some domains (authenticator: webroot).\n"
        "  Domain: a.io\n  Type:   connection\n"
        "  Detail: 10.0.0.1: Fetching http://a.io/x: Timeout\n"
    )
    error = RemoteError("web1", "certbot failed (exit 1)", output=output, exited=1)
    assert reason(error) == "Detail: 10.0.0.1: Fetching http://a.io/x: Timeout"
    quiet = RemoteError("web1", "certbot failed (exit 1)", output="", exited=1)
    assert reason(quiet) == "exit 1"
