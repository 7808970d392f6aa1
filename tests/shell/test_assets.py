"""The asset store's commands (``app.assets``), as exact strings."""

from bluegreen.shell import assets


def test_collect_copies_a_release_out_of_its_image_once_then_serves_the_union():
    copy = assets.from_image("shop", "abc123", "/app/static")
    assert assets.collect("shop", "/srv/shop", "abc123", copy, "/static/") == (
        "set -e\n"
        "mkdir -p /srv/shop/assets/releases\n"
        "if [ ! -d /srv/shop/assets/releases/abc123 ]; then\n"
        'into=/srv/shop/assets/releases/abc123.tmp; rm -rf "$into"; mkdir "$into"\n'
        'id=$(docker create shop:abc123) && { docker cp "$id":/app/static/. "$into"/; '
        'rc=$?; docker rm "$id" >/dev/null; [ $rc = 0 ]; }\n'
        'chmod -R a+rX "$into"\n'
        'mv "$into" /srv/shop/assets/releases/abc123\n'
        "fi\n"
        "mkdir -p /etc/nginx/bluegreen\n"
        'u=$(mktemp -d /srv/shop/assets/union.XXXXXX); chmod 755 "$u"; mkdir -p '
        '"$u"/static/\n'
        "for r in $(ls -1tr /srv/shop/assets/releases | grep -v '\\.tmp$'); do cp -alf "
        '/srv/shop/assets/releases/"$r"/. "$u"/static/; done\n'
        'chmod -R a+rX "$u"; old=$(readlink /etc/nginx/bluegreen/shop.assets '
        "2>/dev/null || true)\n"
        'ln -sfn "$u" /etc/nginx/bluegreen/shop.assets.new && mv -Tf '
        "/etc/nginx/bluegreen/shop.assets.new /etc/nginx/bluegreen/shop.assets\n"
        'for d in /srv/shop/assets/union.*; do [ "$d" = "$u" ] || [ "$d" = "$old" ] || '
        'rm -rf "$d"; done'
    )


def test_a_process_release_is_copied_from_its_directory():
    copy = assets.from_directory("/srv/shop/releases/abc123", "/public/assets")
    assert copy == 'cp -a /srv/shop/releases/abc123/public/assets/. "$into"/'


def test_prune_keeps_the_live_the_previous_and_the_newest_others_then_serves_the_rest():
    assert assets.prune("shop", "/srv/shop", ["abc", "def"], 2, "/static/") == (
        "if [ -d /srv/shop/assets/releases ]; then\n"
        "ls -1t /srv/shop/assets/releases | grep -v '\\.tmp$' | grep -vxF -e abc -e def "
        "-e '' | tail -n +3 | while read -r r; do rm -rf "
        '/srv/shop/assets/releases/"$r" && echo pruned_assets="$r"; done\n'
        "mkdir -p /etc/nginx/bluegreen\n"
        'u=$(mktemp -d /srv/shop/assets/union.XXXXXX); chmod 755 "$u"; mkdir -p '
        '"$u"/static/\n'
        "for r in $(ls -1tr /srv/shop/assets/releases | grep -v '\\.tmp$'); do cp -alf "
        '/srv/shop/assets/releases/"$r"/. "$u"/static/; done\n'
        'chmod -R a+rX "$u"; old=$(readlink /etc/nginx/bluegreen/shop.assets '
        "2>/dev/null || true)\n"
        'ln -sfn "$u" /etc/nginx/bluegreen/shop.assets.new && mv -Tf '
        "/etc/nginx/bluegreen/shop.assets.new /etc/nginx/bluegreen/shop.assets\n"
        'for d in /srv/shop/assets/union.*; do [ "$d" = "$u" ] || [ "$d" = "$old" ] || '
        'rm -rf "$d"; done\n'
        "fi"
    )
