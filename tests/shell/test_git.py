import subprocess

from bluegreen.shell import git


def test_fetch_and_resolve_keeps_a_bare_mirror_and_reports_the_image():
    assert git.fetch_and_resolve("shop", "/srv/shop", "git@example.com:shop.git", "v1").split(
        "\n"
    ) == [
        "set -e; mkdir -p /srv/shop",
        "if [ -d /srv/shop/repo.git ]; then git -C /srv/shop/repo.git fetch -q --force --prune"
        " git@example.com:shop.git '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*';"
        " else git clone --quiet --bare -- git@example.com:shop.git /srv/shop/repo.git; fi",
        "release=$(git -C /srv/shop/repo.git rev-parse --verify --short=12 --end-of-options"
        " 'v1^{commit}' 2>/dev/null) || { echo 'ref '\"'\"'v1'\"'\"' does not exist in"
        " git@example.com:shop.git' >&2; exit 1; }",
        'echo "release=$release"',
        'docker image inspect "shop:$release" >/dev/null 2>&1 && echo image=present || true',
    ]


def _repo(tmp_path):
    src = tmp_path / "src"
    (src / "app").mkdir(parents=True)
    (src / "app" / "Dockerfile").write_text("FROM scratch\n")
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", "-C", str(src), *args], check=True)
    subprocess.run(
        ["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "1"],
        check=True,
    )
    subprocess.run(["git", "-C", str(src), "tag", "v1"], check=True)
    return src


def test_fetch_resolve_and_export_work_in_a_real_shell(tmp_path):
    src, app_dir = _repo(tmp_path), tmp_path / "srv"
    env = {"PATH": "/usr/bin:/bin"}  # no docker here: the image check just says nothing
    script = git.fetch_and_resolve("shop", str(app_dir), str(src), "v1")
    for _ in range(2):  # a clone, then a fetch into the mirror
        out = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    release = out.stdout.strip().removeprefix("release=")
    assert len(release) == 12
    target = tmp_path / "release"
    done = subprocess.run(["sh", "-c", git.export(str(app_dir), release, "app", str(target))])
    assert done.returncode == 0
    assert [p.name for p in target.iterdir()] == ["Dockerfile"]
    missing = git.fetch_and_resolve("shop", str(app_dir), str(src), "nope; rm -rf /")
    out = subprocess.run(["sh", "-c", missing], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip() == f"ref 'nope; rm -rf /' does not exist in {src}"
