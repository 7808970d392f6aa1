"""The asset store's commands (``app.assets``), as exact strings."""

import subprocess
import time
from pathlib import Path

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


def _run(script: str, tmp_path: Path) -> str:
    """Run a store command for real, with the nginx folder moved below ``tmp_path``."""
    script = script.replace("/etc/nginx/bluegreen", str(tmp_path / "nginx"))
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    return done.stdout


def _release(tmp_path: Path, release: str, *names: str) -> str:
    """A process release directory with ``names`` under public/assets; its collect command."""
    folder = tmp_path / "app" / "releases" / release / "public" / "assets"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).write_text(release)
    copy = assets.from_directory(str(tmp_path / "app" / "releases" / release), "/public/assets")
    return assets.collect("shop", str(tmp_path / "app"), release, copy, "/assets/")


def _served(tmp_path: Path) -> dict[str, str]:
    root = tmp_path / "nginx" / "shop.assets" / "assets"
    return {path.name: path.read_text() for path in sorted(root.iterdir())}


def test_the_store_serves_the_union_of_the_kept_releases_and_prunes_the_rest(tmp_path):
    for release, name in (("r1", "a.1111aaaa.js"), ("r2", "a.2222bbbb.js")):
        _run(_release(tmp_path, release, name, "robots.txt"), tmp_path)
        time.sleep(0.05)  # (the store orders releases by time)
    assert _served(tmp_path) == {"a.1111aaaa.js": "r1", "a.2222bbbb.js": "r2", "robots.txt": "r2"}
    _run(_release(tmp_path, "r3", "a.3333cccc.js"), tmp_path)
    pruned = _run(
        assets.prune("shop", str(tmp_path / "app"), ["r3", "r2"], 0, "/assets/"), tmp_path
    )
    assert pruned == "pruned_assets=r1\n"
    assert _served(tmp_path) == {"a.2222bbbb.js": "r2", "a.3333cccc.js": "r3", "robots.txt": "r2"}
    assert len(list((tmp_path / "app" / "assets").glob("union.*"))) == 2  # served + the one before
