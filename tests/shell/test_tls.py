from bluegreen.shell import tls


def test_the_key_comes_from_stdin_into_a_root_only_file():
    command = tls.put_pair(
        "/etc/nginx/bluegreen/tls/a-1.crt", "/etc/nginx/bluegreen/tls/a-1.key", "CERT"
    )
    assert command == (
        "(set -e; mkdir -p /etc/nginx/bluegreen/tls; chmod 700 /etc/nginx/bluegreen/tls;"
        " umask 077; if [ -s /etc/nginx/bluegreen/tls/a-1.key ]; then cat >/dev/null;"
        " else cat > /etc/nginx/bluegreen/tls/a-1.key.new;"
        " chown 0:0 /etc/nginx/bluegreen/tls/a-1.key.new;"
        " chmod 600 /etc/nginx/bluegreen/tls/a-1.key.new;"
        " mv -f /etc/nginx/bluegreen/tls/a-1.key.new /etc/nginx/bluegreen/tls/a-1.key; fi;"
        " printf '%s' CERT > /etc/nginx/bluegreen/tls/a-1.crt.new;"
        " mv -f /etc/nginx/bluegreen/tls/a-1.crt.new /etc/nginx/bluegreen/tls/a-1.crt)"
    )


def test_prune_keeps_the_pair_in_use_and_other_apps_pairs():
    assert tls.prune("/etc/nginx/bluegreen/tls", "a", "0123456789ab") == (
        "find /etc/nginx/bluegreen/tls -maxdepth 1 -name 'a-????????????.*'"
        " ! -name 'a-0123456789ab.*' -delete"
    )
