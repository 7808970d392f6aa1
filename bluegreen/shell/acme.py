"""certbot on the host: obtain (or keep) the app's certificate with the http-01 webroot
challenge that our own nginx site answers, so no plugin ever rewrites nginx's files.

The lineage is named after the app (``/etc/letsencrypt/live/<app>/``); certbot's timer (or
its cron job where systemd does not run) renews it, and the deploy hook, stored in the
lineage's renewal file, makes nginx load the new certificate with one tested reload.
"""

from __future__ import annotations

from shlex import quote

from bluegreen.config import certificates

DEPLOY_HOOK = "nginx -t -q && nginx -s reload"
CERTBOT_TIMEOUT = 300


def ca_path(app: str) -> str:
    """A private ACME server's CA bundle on the host (certbot's REQUESTS_CA_BUNDLE)."""
    return f"{certificates.LETSENCRYPT_DIR}/bluegreen-{app}-ca.pem"


def names_probe(app: str) -> str:
    """Prints ``acme_names=DNS:a, DNS:b`` for the app's lineage (empty when it has none)."""
    cert = quote(f"{certificates.LETSENCRYPT_DIR}/live/{app}/cert.pem")
    return (
        f"printf 'acme_names=%s\\n' \"$(openssl x509 -in {cert} -noout -ext subjectAltName"
        " 2>/dev/null | tail -n +2 | tr -d ' ')\""
    )


def parse_names(value: str) -> tuple[str, ...]:
    """``DNS:a,DNS:b`` -> ("a", "b")."""
    return tuple(sorted(part[4:] for part in value.split(",") if part.startswith("DNS:")))


def certonly(
    app: str, domains: tuple[str, ...], email: str, server: str, ca: str | None = None
) -> str:
    """Obtain the certificate for ``domains`` (kept while valid, expanded when names change)."""
    names = " ".join(f"-d {quote(domain)}" for domain in domains)
    steps = [f"mkdir -p {quote(certificates.WEBROOT)}"]
    env = ""
    if ca is not None:
        steps.append(f"printf '%s' {quote(ca)} > {quote(ca_path(app))}")
        env = f"REQUESTS_CA_BUNDLE={quote(ca_path(app))} "
    steps.append(
        f"{env}certbot certonly --non-interactive --agree-tos --no-eff-email"
        f" --email {quote(email)} --server {quote(server)}"
        f" --webroot -w {quote(certificates.WEBROOT)} --cert-name {quote(app)} {names}"
        f" --keep-until-expiring --expand --deploy-hook {quote(DEPLOY_HOOK)}"
    )
    return " && ".join(steps)


def renew(app: str, force: bool = False) -> str:
    """Renew one lineage now, as certbot's timer would (without its random delay); ``force``:
    even when it is not due (a test of renewal)."""
    ca = quote(ca_path(app))
    return (
        f"if [ -f {ca} ]; then export REQUESTS_CA_BUNDLE={ca}; fi;"
        f" certbot renew --non-interactive --no-random-sleep-on-renew --cert-name {quote(app)}"
        + (" --force-renewal" if force else "")
    )


def renewal_timer(timer: str) -> str:
    """Enable and start certbot's renewal timer where systemd runs: Debian's package does it
    itself, Fedora's and AL2023's leave it off (and the certificate expires in 90 days)."""
    t = quote(timer)
    return (
        f"systemctl is-enabled -q {t} && systemctl is-active -q {t}"
        f' || {{ systemctl enable --now -q {t} && echo "changed: enabled {timer}"; }}'
    )


def renewal_cron() -> str:
    """Without systemd, certbot's cron job (Debian's /etc/cron.d/certbot) renews, if cron runs;
    otherwise nothing would, and the operator must be told."""
    return (
        "if [ -f /etc/cron.d/certbot ] && pgrep -x 'cron|crond' >/dev/null;"
        " then echo 'no systemd: certbot renews from /etc/cron.d/certbot';"
        " else echo 'warning: no systemd timer and no cron job runs certbot:"
        ' run "certbot renew" twice a day from your own scheduler\'; fi'
    )
