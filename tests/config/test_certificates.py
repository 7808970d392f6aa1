import datetime
import ssl

import pytest
import trustme

from bluegreen.config import certificates
from bluegreen.config.certificates import TlsInvalid

DOMAINS = ("shop.example.com", "www.shop.example.com")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write(folder, cert, name="site", key_mode=0o600):
    chain, key = folder / f"{name}.crt", folder / f"{name}.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key.write_bytes(cert.private_key_pem.bytes())
    key.chmod(key_mode)
    return chain, key


def test_a_good_pair_is_read_and_named_by_its_fingerprint(ca, tmp_path):
    chain, key = write(tmp_path, ca.issue_cert(*DOMAINS))
    pair = certificates.read_pair(chain, key, DOMAINS)
    assert len(pair.fingerprint) == 12
    assert pair.paths("shop") == (
        f"/etc/nginx/bluegreen/tls/shop-{pair.fingerprint}.crt",
        f"/etc/nginx/bluegreen/tls/shop-{pair.fingerprint}.key",
    )
    assert "PRIVATE" not in repr(pair)  # a traceback never shows the key


def test_a_wildcard_certificate_covers_one_label(ca, tmp_path):
    chain, key = write(tmp_path, ca.issue_cert("*.example.com"))
    certificates.read_pair(chain, key, ("a.example.com",))
    with pytest.raises(TlsInvalid, match=r"does not cover a\.b\.example\.com"):
        certificates.read_pair(chain, key, ("a.b.example.com",))


def test_a_certificate_of_another_key_is_refused(ca, tmp_path):
    chain, _ = write(tmp_path, ca.issue_cert(*DOMAINS), "one")
    _, other_key = write(tmp_path, ca.issue_cert(*DOMAINS), "two")
    with pytest.raises(TlsInvalid, match=r"one\.crt does not match the key .*two\.key$"):
        certificates.read_pair(chain, other_key, DOMAINS)


def test_an_expired_certificate_is_refused(ca, tmp_path):
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = ca.issue_cert(*DOMAINS, not_before=past, not_after=past + datetime.timedelta(days=90))
    chain, key = write(tmp_path, cert)
    with pytest.raises(TlsInvalid, match=r"site\.crt expired on 2020-03-31$"):
        certificates.read_pair(chain, key, DOMAINS)


def test_a_certificate_not_covering_every_domain_is_refused(ca, tmp_path):
    chain, key = write(tmp_path, ca.issue_cert("shop.example.com"))
    with pytest.raises(
        TlsInvalid, match=r"does not cover www\.shop\.example\.com \(it names shop\.example\.com\)"
    ):
        certificates.read_pair(chain, key, DOMAINS)


def test_a_key_readable_by_others_or_missing_is_refused(ca, tmp_path):
    chain, key = write(tmp_path, ca.issue_cert(*DOMAINS), key_mode=0o644)
    with pytest.raises(TlsInvalid, match=r"site\.key is accessible by group/others \(mode 0644\)"):
        certificates.read_pair(chain, key, DOMAINS)
    with pytest.raises(TlsInvalid, match=r"nope\.key: key file not found"):
        certificates.read_pair(chain, tmp_path / "nope.key", DOMAINS)


def test_files_that_are_not_pem_are_refused_without_showing_them(ca, tmp_path):
    chain, key = write(tmp_path, ca.issue_cert(*DOMAINS))
    bad = tmp_path / "bad.crt"
    bad.write_text("hello")
    with pytest.raises(TlsInvalid, match=r"bad\.crt: not a PEM certificate"):
        certificates.read_pair(bad, key, DOMAINS)
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("very-secret-text")
    bad_key.chmod(0o600)
    with pytest.raises(TlsInvalid, match=r"not an unencrypted PEM private key") as error:
        certificates.read_pair(chain, bad_key, DOMAINS)
    assert "very-secret-text" not in str(error.value)


@pytest.mark.parametrize(
    "name", ["localhost", "-a.example.com", "a_b.example.com", "Shop.example.com", "a..com", 3]
)
def test_names_that_are_not_domains(name):
    with pytest.raises(TlsInvalid, match="is not a domain name"):
        certificates.check_domain(name)


def test_served_certificate_is_described_for_status(ca):
    cert = ca.issue_cert(*DOMAINS)
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    served = certificates.served(der)
    assert served.names == DOMAINS
    assert served.issuer.startswith("trustme v")
    assert served.days_left(served.expires - datetime.timedelta(days=10, hours=1)) == 10
