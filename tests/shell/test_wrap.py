from bluegreen.shell import wrap


def test_commands_run_under_sudo_unless_root_and_are_bounded():
    assert wrap.as_root("cd /srv && ls", "root", 30) == "timeout 30 sh -c 'cd /srv && ls'"
    assert wrap.as_root("cd /srv && ls", "ubuntu", 30) == "sudo -n timeout 30 sh -c 'cd /srv && ls'"
    assert wrap.as_root("docker logs -f x", "ubuntu", None) == "sudo -n sh -c 'docker logs -f x'"


def test_quiet_keeps_output_and_shows_its_tail_only_on_failure():
    assert wrap.quiet("make", 5) == (
        'out=$({ make; } 2>&1) || { printf "%s\\n" "$out" | tail -n 5 >&2; exit 1; }'
    )


def test_free_space_removes_the_partial_upload_and_quotes_it():
    assert wrap.free_space("/tmp/a b.tgz") == (
        "rm -f '/tmp/a b.tgz'; df -Pk /tmp | awk 'NR==2 {print $4}'"
    )
