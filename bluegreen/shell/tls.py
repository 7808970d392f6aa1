"""TLS files on the host: the user's certificate and key, the ACME webroot.

The key is read from stdin (never on a command line, where ``ps`` shows it) into a file
created 0600 under ``umask 077``, owned by root, in a root-only directory.
"""

from __future__ import annotations

from shlex import quote


def put_pair(certificate: str, key: str, chain: str) -> str:
    """Write the pair (key from stdin); an existing pair of the same fingerprint is kept.

    A subshell keeps ``umask 077`` from the files written after it (nginx's workers read
    those)."""
    folder = quote(certificate.rsplit("/", 1)[0])
    c, k = quote(certificate), quote(key)
    return (
        f"(set -e; mkdir -p {folder}; chmod 700 {folder}; umask 077;"
        f" if [ -s {k} ]; then cat >/dev/null; else cat > {k}.new; chown 0:0 {k}.new;"
        f" chmod 600 {k}.new; mv -f {k}.new {k}; fi;"
        f" printf '%s' {quote(chain)} > {c}.new; mv -f {c}.new {c})"
    )


def prune(folder: str, app: str, keep: str) -> str:
    """Remove the app's other pairs (after nginx took the ``keep`` one); the pattern's 12
    characters are a fingerprint's, so app ``a`` never matches app ``a-b``'s pairs."""
    return (
        f"find {quote(folder)} -maxdepth 1 -name {quote(app + '-' + '?' * 12 + '.*')}"
        f" ! -name {quote(f'{app}-{keep}.*')} -delete"
    )
