"""HTTPS on the app's own domains: domain names, the user's certificate files checked before
any host is touched, and what a host really serves (the certificate of a TLS handshake).

Pure: local files and bytes only, no SSH. The certificate and key are named on the host by
the certificate's fingerprint, so a new pair never overwrites the pair nginx serves now, and
putting back the previous site file also puts back the previous pair.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded where used: an app without TLS does not pay for x509
    from cryptography import x509

HTTP_PORT = 80
HTTPS_PORT = 443
TLS_DIR = "/etc/nginx/bluegreen/tls"
WEBROOT = "/var/lib/bluegreen/acme"  # http-01 challenge files: <webroot>/.well-known/...
LETSENCRYPT_DIR = "/etc/letsencrypt"  # certbot's own (private on every host)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class TlsInvalid(ValueError):
    """A domain or certificate file that cannot be served; the message says why, no secret."""


def check_domain(name: object, wildcard: bool = False) -> str:
    """A lower-case DNS name of at least two labels (``*.`` first only when ``wildcard``)."""
    if not isinstance(name, str) or len(name) > 253:
        raise TlsInvalid(f"{name!r} is not a domain name")
    labels = name.split(".")
    if wildcard and labels[0] == "*":
        labels = labels[1:]
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise TlsInvalid(
            f"{name!r} is not a domain name (lower-case labels of a-z 0-9 -, dot-separated)"
        )
    return name


def covers(pattern: str, name: str) -> bool:
    """A certificate name covers ``name``: equal, or ``*.rest`` for one label more."""
    if pattern == name:
        return True
    return pattern.startswith("*.") and name.partition(".")[2] == pattern[2:]


@dataclass(frozen=True)
class Pair:
    """The user's certificate chain (PEM) and key, read and checked; ``key`` is a secret."""

    chain: bytes
    key: bytes
    fingerprint: str  # sha256 of the leaf, 12 hex digits: names the files on the host

    def __repr__(self) -> str:  # never show the key, e.g. in a traceback or a test failure
        return f"Pair(fingerprint={self.fingerprint!r})"

    def paths(self, app: str) -> tuple[str, str]:
        """Where the host keeps this pair: ``(certificate, key)``."""
        stem = f"{TLS_DIR}/{app}-{self.fingerprint}"
        return f"{stem}.crt", f"{stem}.key"


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()[:12]


def read_pair(certificate: Path, key: Path, domains: tuple[str, ...]) -> Pair:
    """Read and check the files: key private (no group/other access), key matching the
    certificate, the certificate valid now and covering every domain."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    chain = _read(certificate, "certificate")
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise TlsInvalid(f"{certificate}: not a PEM certificate") from None
    leaf = certs[0]
    mode = key.stat().st_mode & 0o777 if key.exists() else 0
    if mode & 0o077:
        raise TlsInvalid(f"{key} is accessible by group/others (mode {mode:04o}); chmod 600 it")
    secret = _read(key, "key")
    try:
        private = serialization.load_pem_private_key(secret, password=None)
    except (ValueError, TypeError):
        raise TlsInvalid(f"{key}: not an unencrypted PEM private key") from None
    if _public(private.public_key()) != _public(leaf.public_key()):
        raise TlsInvalid(f"{certificate} does not match the key {key}")
    now = datetime.datetime.now(datetime.timezone.utc)
    if leaf.not_valid_after_utc <= now:
        raise TlsInvalid(f"{certificate} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        raise TlsInvalid(f"{certificate} is not valid before {leaf.not_valid_before_utc:%F}")
    names = dns_names(leaf)
    missing = [d for d in domains if not any(covers(n, d) for n in names)]
    if missing:
        raise TlsInvalid(
            f"{certificate} does not cover {', '.join(missing)} (it names {', '.join(names)})"
        )
    return Pair(chain, secret, fingerprint(leaf.public_bytes(serialization.Encoding.DER)))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsInvalid(f"{path}: {what} file not found") from None
    except OSError as e:
        raise TlsInvalid(f"{path}: cannot read: {e.strerror}") from None


def _public(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def dns_names(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return san.value.get_values_for_type(x509.DNSName)


@dataclass(frozen=True)
class Client:
    """How to check a host's HTTPS: the name to ask for (SNI, Host) and whom to trust.

    ``cadata``: PEM trusted besides the system's CAs (files mode: the user's own chain,
    trusted as it is, so an origin certificate verifies too); ``fingerprint``: the leaf
    the host must serve (None: any valid one).
    """

    server_name: str
    cadata: str | None = None
    fingerprint: str | None = None
    verify: bool = True  # False: only read what is served (status, after a failed check)

    @functools.cached_property
    def context(self) -> ssl.SSLContext:
        """Made once (loading the system's CAs costs more than a handshake): a verification
        polls a host many times."""
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if self.cadata:
            context.load_verify_locations(cadata=self.cadata)
            context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return context


@dataclass(frozen=True)
class Served:
    """The certificate a host served in a handshake, for ``status``."""

    issuer: str
    names: tuple[str, ...]
    expires: datetime.datetime
    fingerprint: str

    def days_left(self, now: datetime.datetime | None = None) -> int:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return (self.expires - now).days


def served(der: bytes) -> Served:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    named = [
        attribute.value
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        for attribute in cert.issuer.get_attributes_for_oid(oid)
    ]
    return Served(
        issuer=str(named[0]) if named else cert.issuer.rfc4514_string(),
        names=tuple(dns_names(cert)),
        expires=cert.not_valid_after_utc,
        fingerprint=fingerprint(der),
    )


def host_paths(app: str, mode: str, pair: Pair | None) -> tuple[str, str] | None:
    """Where nginx reads the certificate and key: the uploaded pair, or certbot's lineage
    (named after the app, so each app on a host has its own)."""
    if mode == "files" and pair is not None:
        return pair.paths(app)
    if mode == "acme":
        live = f"{LETSENCRYPT_DIR}/live/{app}"
        return f"{live}/fullchain.pem", f"{live}/privkey.pem"
    return None
