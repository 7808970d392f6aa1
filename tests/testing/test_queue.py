from bluegreen.testing.queue import Event, Ledger


def test_redis_time_reads_micros_that_are_not_zero_padded():
    # Redis TIME is [seconds, micros]; the recorders join them with a dot, unpadded
    down = Event.parse("down 1.0.0 sandbox6 1796598469.17684")
    up = Event.parse("up 2.0.0 sandbox6 1796598469.151915")
    assert down.time == 1796598469.017684
    assert down.time < up.time


def test_lives_that_follow_each_other_do_not_overlap():
    lines = [
        "up 1.0.0 h 100.5",
        "down 1.0.0 h 110.17684",  # 110.017684
        "up 2.0.0 h 110.151915",
    ]
    assert Ledger([Event.parse(line) for line in lines]).overlaps() == []
