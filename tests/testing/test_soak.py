from bluegreen.testing.soak import (
    FAULTS,
    Call,
    Fault,
    SoakResult,
    Step,
    _attention,
    _break_after_switch,
    _lock_kept,
    _status_serving,
    _verified_colors,
)


def test_the_colors_fab_verified_on_a_host_include_both_of_a_split():
    split = "sandbox2 ✅ verify: port 4000 serves green abc and blue abc (0.09 s)"
    calls = [
        Call(("split", "--blue", "50"), 0, f"{split}\nsandbox1 ✅ verify: port 4000 serves x", 1),
        Call(("abort",), 0, "sandbox2 ✅ verify: port 4000 serves green abc (0.01 s)", 1),
    ]
    assert _verified_colors(calls, "sandbox2") == {"blue", "green"}
    assert _verified_colors(calls[1:], "sandbox2") == {"green"}
    assert _verified_colors(calls, "sandbox3") == set()


def test_status_serving_is_the_live_color_and_a_splits_other_color():
    colors = {"blue": {"release": "r1"}, "green": {"release": "r2"}}
    record = {"live": "blue", "split": None, "colors": colors}
    assert _status_serving(record) == {("blue", "r1")}
    record["split"] = {"color": "green", "percent": 10}
    assert _status_serving(record) == {("blue", "r1"), ("green", "r2")}
    assert _status_serving({"live": None, "split": None, "colors": {}}) == set()


def test_the_table_counts_operations_faults_and_violations():
    steps = [
        Step(1, "deploy", None, [Call(("deploy",), 0, "", 4.0)]),
        Step(2, "rollback", Fault("partition", "sandbox1", 1.0, outage=True),
             [Call(("rollback",), 1, "", 20.0)], ["sandbox2: 3 failed requests"]),
    ]  # fmt: skip
    table = SoakResult(7, steps, "load: ...").table()
    assert "soak seed 7: 2 operations, fab 24 s" in table
    assert "  fault     partition         1" in table
    assert "  fab exit codes           {0: 1, 1: 1}" in table
    assert "  invariant violations        1\n    #2 rollback: sandbox2: 3 failed requests" in table
    assert all(f"  fault     {kind:<14}" in table for kind in FAULTS)


ATTENTION = (
    "sandbox3 ⚠️  needs attention: its revert failed, so nothing is stopped or removed;"
    " port 4000 serves green abc, both colors kept running (docs/guides/recovery.md)"
)


def test_a_host_fab_said_needs_attention_must_be_marked_and_serve():
    calls = [Call(("deploy",), 1, f"sandbox1 ✅ revert: ok\n{ATTENTION}", 9.0)]
    marked = {"reachable": True, "needs_attention": "green abc, both colors kept running"}
    serving = {("green", "abc")}
    assert _attention("sandbox3", marked, serving, False, calls) == []
    assert _attention("sandbox3", {**marked, "needs_attention": None}, serving, False, calls) == [
        "sandbox3: fab said it needs attention, status does not"
    ]
    assert _attention("sandbox3", marked, set(), False, calls) == [
        "sandbox3: needs attention and serves nothing"
    ]
    assert _attention("sandbox1", {**marked, "needs_attention": None}, serving, False, calls) == []
    lost = "sandbox3 ⚠️  still unreachable (see above); its lock stays until it expires"
    unmarked = [Call(("deploy",), 1, f"{ATTENTION}\n{lost}", 9.0)]  # its switch mark says it
    unmarked_record = {**marked, "needs_attention": None}
    assert _attention("sandbox3", unmarked_record, serving, False, unmarked) == [
        "sandbox3: fab said it needs attention, status does not"
    ]
    # a switch cut off before it reached the host (seed 31337 #62): no mark, nothing changed
    assert _attention("sandbox3", unmarked_record, serving, True, unmarked) == []


def test_the_revert_breaker_waits_for_the_new_color_then_breaks_and_logs_its_5xx():
    script = _break_after_switch(Fault("revert-fails", "sandbox2", 1.0, color="green",
                                       how="read-only"))  # fmt: skip
    wait, _, rest = script.partition("; touch /run/soak-ro")
    assert "x-bluegreen-color: green" in wait and "mount -o remount,bind,ro" in rest
    assert "127.0.0.1:4002" in rest and script.endswith("& echo $! > /run/soak-watcher.pid")


def test_a_lock_the_operation_before_left_may_stay_only_when_this_one_was_cut_short():
    """Seed 850511004 #105 (kill-sshd: fab never reached sandbox1) and seed 9020 #17 of the
    CI soak (SIGINT after a partition left sandbox2's lock): the lock a SIGKILLed fab or a
    lost host left is the next operation's to take over, unless that one never got there."""
    lost = Fault("kill-sshd", "sandbox1", 1.0)
    assert _lock_kept(lost, victim=True, inherited=True)
    assert not _lock_kept(lost, victim=True, inherited=False)
    assert not _lock_kept(lost, victim=False, inherited=True)
    assert _lock_kept(Fault("sigint", None, 1.0), victim=False, inherited=True)
    assert not _lock_kept(Fault("sigint", None, 1.0), victim=False, inherited=False)
    assert _lock_kept(Fault("partition", "sandbox2", 1.0), victim=True, inherited=False)
    assert not _lock_kept(None, victim=False, inherited=True)
