from bluegreen.shell import acme


def test_certonly_uses_our_webroot_names_the_lineage_after_the_app_and_stores_the_hook():
    assert acme.certonly("shop", ("a.io", "www.a.io"), "ops@a.io", "https://acme/dir") == (
        "mkdir -p /var/lib/bluegreen/acme && certbot certonly --non-interactive --agree-tos"
        " --no-eff-email --email ops@a.io --server https://acme/dir --webroot"
        " -w /var/lib/bluegreen/acme --cert-name shop -d a.io -d www.a.io"
        " --keep-until-expiring --expand --deploy-hook 'nginx -t -q && nginx -s reload'"
    )


def test_a_private_acme_ca_is_written_for_certbot_and_named_in_its_environment():
    command = acme.certonly("shop", ("a.io",), "o@a.io", "https://x/dir", ca="PEM")
    assert command.startswith(
        "mkdir -p /var/lib/bluegreen/acme && printf '%s' PEM > /etc/letsencrypt/"
        "bluegreen-shop-ca.pem && REQUESTS_CA_BUNDLE=/etc/letsencrypt/bluegreen-shop-ca.pem"
        " certbot certonly "
    )


def test_renew_now_without_the_timers_random_delay():
    assert acme.renew("shop", force=True) == (
        "if [ -f /etc/letsencrypt/bluegreen-shop-ca.pem ]; then export"
        " REQUESTS_CA_BUNDLE=/etc/letsencrypt/bluegreen-shop-ca.pem; fi;"
        " certbot renew --non-interactive --no-random-sleep-on-renew --cert-name shop"
        " --force-renewal"
    )


def test_the_lineage_names_from_openssl():
    assert acme.parse_names("DNS:b.io,DNS:a.io") == ("a.io", "b.io")
    assert acme.parse_names("") == ()
    assert "openssl x509 -in /etc/letsencrypt/live/shop/cert.pem" in acme.names_probe("shop")


def test_the_renewal_timer_is_enabled_only_when_it_is_not_already():
    assert acme.renewal_timer("certbot-renew.timer") == (
        "systemctl is-enabled -q certbot-renew.timer && systemctl is-active -q certbot-renew.timer"
        " || { systemctl enable --now -q certbot-renew.timer"
        ' && echo "changed: enabled certbot-renew.timer"; }'
    )


def test_without_systemd_a_missing_cron_is_a_warning():
    command = acme.renewal_cron()
    assert command.startswith("if [ -f /etc/cron.d/certbot ] && pgrep -x 'cron|crond'")
    assert "echo 'warning: no systemd timer and no cron job runs certbot:" in command
