"""Streams and consumer groups against the built binary on both transports, with redis-py
(RESP2 and RESP3) and redis-cli: every command and option, blocking reads with several
clients, failover with XAUTOCLAIM, trimming under pending entries, and restarts.

Run with WHARF_TEST_AGAINST_REDIS=1 to check the expectations against Redis 7.0 itself
(the assertions marked Wharf-only are skipped there)."""
import os
import threading
import time

import pytest
import redis

from test_blocking_and_transactions import blocked_call, wait_blocked
from test_durability import start

AGAINST_REDIS = bool(os.environ.get("WHARF_TEST_AGAINST_REDIS"))


def test_xadd_ids_errors_and_options(r):
    assert r.xadd("s", {"a": "1"}, id="5") == "5-0"
    assert r.xadd("s", {"a": "2"}, id="5-*") == "5-1"
    assert r.xadd("s", {"a": "3"}, id="7-*") == "7-0"
    auto = r.xadd("s", {"a": "4"})
    ms, seq = map(int, auto.split("-"))
    assert ms > 1_600_000_000_000 and seq == 0
    errors = {
        ("XADD", "s", "0-0", "a", "1"): "The ID specified in XADD must be greater than 0-0",
        ("XADD", "s", "6-0", "a", "1"): "equal or smaller than the target stream top item",
        ("XADD", "s", "6-*", "a", "1"): "equal or smaller than the target stream top item",
        ("XADD", "s", "x-1", "a", "1"): "Invalid stream ID specified as stream command argument",
        ("XADD", "s", "*", "a"): "wrong number of arguments for 'xadd' command",
        ("XADD", "s", "MAXLEN", "-1", "*", "a", "1"): "The MAXLEN argument must be >= 0.",
        ("XADD", "s", "LIMIT", "5", "*", "a", "1"): "LIMIT cannot be used without specifying a trimming strategy",
        ("XADD", "s", "MAXLEN", "5", "LIMIT", "5", "*", "a", "1"): "LIMIT cannot be used without the special ~ option",
        ("XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "a", "1"): "MAXLEN and MINID options at the same time are not compatible",
        ("XADD", "s", "MAXLEN", "abc", "*", "a", "1"): "value is not an integer or out of range",
    }
    for command, message in errors.items():
        with pytest.raises(redis.ResponseError, match=message):
            r.execute_command(*command)
    assert r.xadd("missing", {"a": "1"}, nomkstream=True) is None
    assert r.exists("missing") == 0
    r.set("str", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.xadd("str", {"a": "1"})
    assert r.xlen("s") == 4
    assert r.type("s") == "stream"
    assert r.object("encoding", "s") == "stream"


def test_xadd_trimming_and_xtrim(r):
    for index in range(1, 301):
        r.xadd("t", {"i": str(index)}, id=f"{index}-0")
    # Approximate trimming removes whole chunks of 100 entries only.
    assert r.execute_command("XTRIM", "t", "MAXLEN", "~", "150") == 100
    assert r.xlen("t") == 200
    assert r.execute_command("XTRIM", "t", "MAXLEN", "~", "150", "LIMIT", "10") == 0
    assert r.xtrim("t", maxlen=150, approximate=False) == 50
    assert r.xrange("t", count=1)[0][0] == "151-0"
    assert r.xtrim("t", minid="200", approximate=False) == 49
    assert r.xadd("t", {"i": "x"}, id="400-0", maxlen=10, approximate=False) == "400-0"
    assert r.xlen("t") == 10
    assert [entry[0] for entry in r.xrange("t")][:2] == ["292-0", "293-0"]
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("XTRIM", "t", "FOO", "1")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("XTRIM", "t", "MAXLEN", "1", "junk")
    assert r.xtrim("nokey", maxlen=0) == 0


def test_xrange_xrevrange_exclusive_and_count(r):
    for index in range(1, 6):
        r.xadd("s", {"f": str(index), "g": "x"}, id=f"{index}-1")
    r.xadd("s", {"other": "fields"}, id="6-0")
    assert r.xrange("s", "-", "+") == [(f"{i}-1", {"f": str(i), "g": "x"}) for i in range(1, 6)] + [("6-0", {"other": "fields"})]
    assert [e[0] for e in r.xrange("s", "(2-1", "(5-1")] == ["3-1", "4-1"]
    assert [e[0] for e in r.xrange("s", "3", "4")] == ["3-1", "4-1"]
    assert [e[0] for e in r.xrevrange("s", "+", "-", count=2)] == ["6-0", "5-1"]
    assert [e[0] for e in r.xrevrange("s", "(5-1", "(1-1")] == ["4-1", "3-1", "2-1"]
    assert r.execute_command("XRANGE", "s", "-", "+", "COUNT", "0") is None  # a null array, as Redis replies
    assert r.xrange("nokey") == []
    with pytest.raises(redis.ResponseError, match="invalid start ID for the interval"):
        r.xrange("s", "(18446744073709551615-18446744073709551615", "+")
    with pytest.raises(redis.ResponseError, match="Invalid stream ID"):
        r.xrange("s", "(-", "+")
    assert r.xdel("s", "2-1", "3-1", "99-0") == 2
    assert [e[0] for e in r.xrange("s")] == ["1-1", "4-1", "5-1", "6-0"]


def test_xsetid_and_xinfo_stream(r):
    r.xadd("s", {"a": "1"}, id="1-0")
    r.xadd("s", {"a": "2"}, id="2-0")
    r.xdel("s", "1-0")
    info = r.xinfo_stream("s")
    assert info["length"] == 1
    assert info["last-generated-id"] == "2-0"
    assert info["max-deleted-entry-id"] == "1-0"
    assert info["entries-added"] == 2
    assert info["recorded-first-entry-id"] == "2-0"
    assert info["first-entry"] == ("2-0", {"a": "2"}) and info["last-entry"] == ("2-0", {"a": "2"})
    with pytest.raises(redis.ResponseError, match="smaller than the target stream top item"):
        r.execute_command("XSETID", "s", "1-0")
    with pytest.raises(redis.ResponseError, match="smaller than the target stream length"):
        r.execute_command("XSETID", "s", "5-0", "ENTRIESADDED", "0")
    assert r.execute_command("XSETID", "s", "5-0", "ENTRIESADDED", "10", "MAXDELETEDID", "3-0")
    info = r.xinfo_stream("s")
    assert (info["last-generated-id"], info["entries-added"], info["max-deleted-entry-id"]) == ("5-0", 10, "3-0")
    with pytest.raises(redis.ResponseError, match="equal or smaller"):
        r.xadd("s", {"a": "3"}, id="4-0")
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.execute_command("XSETID", "nokey", "1-0")
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.xinfo_stream("nokey")


def test_xread_forms(r, r3):
    r.xadd("a", {"x": "1"}, id="1-0")
    r.xadd("a", {"x": "2"}, id="2-0")
    r.xadd("b", {"y": "1"}, id="1-0")
    assert r.xread({"a": "0", "b": "0"}, count=1) == [["a", [("1-0", {"x": "1"})]], ["b", [("1-0", {"y": "1"})]]]
    assert r.xread({"a": "$"}) == []
    assert r.xread({"a": "2-0", "nokey": "0"}) == []
    # RESP3: a map keyed by stream.
    assert r3.xread({"a": "1-0"}) == {"a": [[("2-0", {"x": "2"})]]}
    with pytest.raises(redis.ResponseError, match="Unbalanced XREAD list of streams: for each stream key an ID or '\\$' must be specified."):
        r.execute_command("XREAD", "STREAMS", "a", "b", "0")
    with pytest.raises(redis.ResponseError, match="The > ID can be specified only when calling XREADGROUP"):
        r.execute_command("XREAD", "STREAMS", "a", ">")
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        r.execute_command("XREAD", "BLOCK", "-1", "STREAMS", "a", "0")
    # Inside MULTI a blocking read does not block.
    pipe = r.pipeline(transaction=True)
    pipe.execute_command("XREAD", "BLOCK", "0", "STREAMS", "a", "$")
    assert pipe.execute() == [[]]  # a null reply, which redis-py shows as []


def test_blocking_xread_wakes_every_reader_and_times_out(server, r):
    results = [None] * 3
    threads = []
    for index in range(3):
        thread = threading.Thread(target=blocked_call, args=(server, "XREAD", "BLOCK", "0", "STREAMS", "events", "$"),
                                  kwargs={"results": results, "index": index})
        thread.start()
        threads.append(thread)
        wait_blocked(r, index + 1)
    writer = server.client(decode_responses=True)
    writer.xadd("events", {"kind": "created"}, id="10-0")
    for thread in threads:
        thread.join(10)
    for result in results:
        assert result == [["events", [("10-0", {"kind": "created"})]]]
    assert r.info("clients")["blocked_clients"] == 0
    started = time.time()
    assert r.xread({"events": "$"}, block=150) == []
    assert 0.14 <= time.time() - started < 0.6


def test_groups_delivery_ack_pending_and_errors(r):
    for index in range(1, 6):
        r.xadd("s", {"n": str(index)}, id=f"{index}-0")
    assert r.xgroup_create("s", "g", id="0")
    with pytest.raises(redis.ResponseError, match="BUSYGROUP"):
        r.xgroup_create("s", "g", id="0")
    with pytest.raises(redis.ResponseError, match="requires the key to exist"):
        r.xgroup_create("nokey", "g", id="$")
    assert r.xgroup_create("fresh", "g", id="$", mkstream=True)
    assert r.xlen("fresh") == 0
    assert r.xreadgroup("g", "alice", {"s": ">"}, count=2) == [["s", [("1-0", {"n": "1"}), ("2-0", {"n": "2"})]]]
    assert r.xreadgroup("g", "bob", {"s": ">"}, count=1) == [["s", [("3-0", {"n": "3"})]]]
    summary = r.xpending("s", "g")
    assert summary["pending"] == 3 and summary["min"] == "1-0" and summary["max"] == "3-0"
    assert sorted((c["name"], c["pending"]) for c in summary["consumers"]) == [("alice", 2), ("bob", 1)]
    rows = r.xpending_range("s", "g", "-", "+", 10)
    assert [(row["message_id"], row["consumer"], row["times_delivered"]) for row in rows] == [
        ("1-0", "alice", 1), ("2-0", "alice", 1), ("3-0", "bob", 1)]
    assert [row["message_id"] for row in r.xpending_range("s", "g", "-", "+", 10, consumername="bob")] == ["3-0"]
    assert r.xpending_range("s", "g", "-", "+", 10, idle=100000) == []
    # History: the consumer's own pending entries; reading them counts a delivery.
    assert r.xreadgroup("g", "alice", {"s": "0"}) == [["s", [("1-0", {"n": "1"}), ("2-0", {"n": "2"})]]]
    assert [row["times_delivered"] for row in r.xpending_range("s", "g", "-", "+", 10, consumername="alice")] == [2, 2]
    assert r.xack("s", "g", "1-0", "99-0") == 1
    assert r.xack("s", "nogroup", "2-0") == 0
    with pytest.raises(redis.ResponseError, match="Invalid stream ID"):
        r.xack("s", "g", "bad")
    with pytest.raises(redis.ResponseError, match="NOGROUP No such key 's' or consumer group 'nope' in XREADGROUP with GROUP option"):
        r.xreadgroup("nope", "c", {"s": ">"})
    with pytest.raises(redis.ResponseError, match=r"The \$ ID is meaningless"):
        r.xreadgroup("g", "c", {"s": "$"})
    with pytest.raises(redis.ResponseError, match="NOGROUP No such key 's' or consumer group 'nope'"):
        r.xpending("s", "nope")
    # NOACK: delivered, never pending.
    assert r.xreadgroup("g", "carol", {"s": ">"}, count=1, noack=True) == [["s", [("4-0", {"n": "4"})]]]
    assert r.xpending("s", "g")["pending"] == 2
    groups = r.xinfo_groups("s")
    assert groups == [{"name": "g", "consumers": 3, "pending": 2, "last-delivered-id": "4-0", "entries-read": 4, "lag": 1}]
    consumers = {c["name"]: c for c in r.xinfo_consumers("s", "g")}
    assert consumers["alice"]["pending"] == 1 and consumers["bob"]["pending"] == 1 and consumers["carol"]["pending"] == 0
    if not AGAINST_REDIS:  # `inactive` arrived in Redis 7.2; Wharf reports it
        assert consumers["carol"]["inactive"] == -1 and consumers["alice"]["inactive"] >= 0
    assert r.xgroup_createconsumer("s", "g", "dave") == 1
    assert r.xgroup_createconsumer("s", "g", "dave") == 0
    assert r.xgroup_delconsumer("s", "g", "bob") == 1
    assert r.xpending("s", "g")["pending"] == 1
    assert r.xgroup_setid("s", "g", "0", entries_read=0)
    assert r.xinfo_groups("s")[0]["lag"] == 5
    assert r.xgroup_destroy("s", "g") == 1
    assert r.xgroup_destroy("s", "g") == 0
    with pytest.raises(redis.ResponseError, match="NOGROUP No such consumer group 'g' for key name 's'"):
        r.xgroup_setid("s", "g", "0")


def test_xclaim_and_xautoclaim_failover(server, r):
    for index in range(1, 7):
        r.xadd("jobs", {"job": str(index)}, id=f"{index}-0")
    r.xgroup_create("jobs", "workers", id="0")
    r.xreadgroup("workers", "dead", {"jobs": ">"})
    time.sleep(0.05)
    # A worker that died: another takes over its entries once they are idle long enough.
    assert r.xclaim("jobs", "workers", "alive", 10_000, ["1-0"]) == []
    assert r.xclaim("jobs", "workers", "alive", 10, ["1-0"]) == [("1-0", {"job": "1"})]
    assert r.xclaim("jobs", "workers", "alive", 0, ["2-0"], justid=True) == ["2-0"]
    rows = {row["message_id"]: row for row in r.xpending_range("jobs", "workers", "-", "+", 10)}
    assert rows["1-0"]["consumer"] == "alive" and rows["1-0"]["times_delivered"] == 2
    assert rows["2-0"]["times_delivered"] == 1  # JUSTID does not count a delivery
    assert r.xclaim("jobs", "workers", "alive", 0, ["3-0"], retrycount=7, idle=5000, justid=True) == ["3-0"]
    row = r.xpending_range("jobs", "workers", "3-0", "3-0", 1)[0]
    assert row["times_delivered"] == 7 and row["time_since_delivered"] >= 5000
    with pytest.raises(redis.ResponseError, match="Unrecognized XCLAIM option 'BOGUS'"):
        r.execute_command("XCLAIM", "jobs", "workers", "alive", "0", "4-0", "BOGUS")
    with pytest.raises(redis.ResponseError, match="Invalid min-idle-time argument for XCLAIM"):
        r.execute_command("XCLAIM", "jobs", "workers", "alive", "x", "4-0")
    # A deleted entry leaves the pending list: XAUTOCLAIM reports it, XCLAIM skips it.
    r.xdel("jobs", "4-0", "5-0")
    cursor, claimed, deleted = r.execute_command("XAUTOCLAIM", "jobs", "workers", "rescuer", "0", "0", "COUNT", "2")
    assert cursor == "3-0"
    assert [entry[0] for entry in claimed] == ["1-0", "2-0"]
    assert deleted == []
    # JUSTID through redis-cli (redis-py parses it as full entries): cursor, claimed IDs, deleted IDs.
    assert server.cli("XAUTOCLAIM", "jobs", "workers", "rescuer", "0", cursor, "JUSTID").stdout.split() == ["0-0", "3-0", "6-0", "4-0", "5-0"]
    cursor, claimed, deleted = r.execute_command("XAUTOCLAIM", "jobs", "workers", "rescuer", "0", "0", "COUNT", "10")
    assert [entry[0] for entry in claimed] == ["1-0", "2-0", "3-0", "6-0"] and deleted == []
    r.xreadgroup("workers", "late", {"jobs": "0"})  # nothing of its own
    r.xdel("jobs", "6-0")
    assert r.xclaim("jobs", "workers", "other", 0, ["6-0"]) == []
    assert r.xpending("jobs", "workers")["pending"] == 3
    with pytest.raises(redis.ResponseError, match="COUNT must be > 0"):
        r.execute_command("XAUTOCLAIM", "jobs", "workers", "x", "0", "0", "COUNT", "0")


def test_trimming_keeps_pending_entries_pending(server, r):
    for index in range(1, 5):
        r.xadd("s", {"n": str(index)}, id=f"{index}-0")
    r.xgroup_create("s", "g", id="0")
    r.xreadgroup("g", "c", {"s": ">"})
    assert r.xtrim("s", maxlen=1, approximate=False) == 3
    assert r.xpending("s", "g")["pending"] == 4
    # History shows trimmed entries as [id, nil].
    history = r.execute_command("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0")
    assert history[0][1] == [("1-0", {}), ("2-0", {}), ("3-0", {}), ("4-0", {"n": "4"})]  # redis-py's view of [id, nil]
    raw = server.cli("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0").stdout.split("\n")
    assert raw[:4] == ["s", "1-0", "", "2-0"]
    cursor, claimed, deleted = r.execute_command("XAUTOCLAIM", "s", "g", "d", "0", "0")
    assert deleted == ["1-0", "2-0", "3-0"] and [entry[0] for entry in claimed] == ["4-0"]
    assert r.xpending("s", "g")["pending"] == 1


def test_blocked_group_readers_share_new_entries_in_arrival_order(server, r):
    r.xgroup_create("q", "g", id="$", mkstream=True)
    results = [None] * 2
    threads = []
    for index in range(2):
        thread = threading.Thread(target=blocked_call, args=(server, "XREADGROUP", "GROUP", "g", f"c{index}", "COUNT", "1", "BLOCK", "5000", "STREAMS", "q", ">"),
                                  kwargs={"results": results, "index": index})
        thread.start()
        threads.append(thread)
        wait_blocked(r, index + 1)
    r.xadd("q", {"job": "a"}, id="1-0")
    wait_blocked(r, 1)
    r.xadd("q", {"job": "b"}, id="2-0")
    for thread in threads:
        thread.join(10)
    assert results[0] == [["q", [("1-0", {"job": "a"})]]]
    assert results[1] == [["q", [("2-0", {"job": "b"})]]]
    rows = r.xpending_range("q", "g", "-", "+", 10)
    assert [(row["message_id"], row["consumer"]) for row in rows] == [("1-0", "c0"), ("2-0", "c1")]


def test_blocked_group_readers_learn_of_deleted_streams_and_groups(server, r):
    for key, removal, message in (("gone", ("DEL", "gone"), "UNBLOCKED the stream key no longer exists"),
                                  ("kept", ("XGROUP", "DESTROY", "kept", "g"), "NOGROUP the consumer group this client was blocked on no longer exists")):
        r.xgroup_create(key, "g", id="$", mkstream=True)
        results = [None]
        thread = threading.Thread(target=blocked_call, args=(server, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", key, ">"),
                                  kwargs={"results": results, "index": 0})
        thread.start()
        wait_blocked(r, 1)
        r.execute_command(*removal)
        thread.join(10)
        assert isinstance(results[0], redis.ResponseError) and message in str(results[0])
        assert r.info("clients")["blocked_clients"] == 0


def test_redis_cli_and_resp3(server, r3):
    assert server.cli("XADD", "s", "1-0", "field", "value").stdout.strip() == "1-0"
    assert server.cli("XRANGE", "s", "-", "+").stdout.split() == ["1-0", "field", "value"]
    assert server.cli("XGROUP", "CREATE", "s", "g", "0").stdout.strip() == "OK"
    assert "field" in server.cli("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">").stdout
    info = r3.xinfo_stream("s")
    assert info["length"] == 1 and info["groups"] == 1
    assert r3.xinfo_groups("s")[0]["pending"] == 1


@pytest.mark.skipif(AGAINST_REDIS, reason="restarts the Wharf binary")
def test_streams_survive_restart_by_log_and_snapshot(tmp_path):
    for snapshot in (False, True):
        data_dir = str(tmp_path / f"data-{snapshot}")
        server = start(data_dir, "--appendfsync", "always")
        r = server.client(decode_responses=True)
        for index in range(250):
            r.xadd("s", {"n": str(index), "kind": "even" if index % 2 == 0 else "odd"})
        r.xadd("s", {"x": "y"}, maxlen=200, approximate=True)
        r.xgroup_create("s", "g", id="0")
        r.xreadgroup("g", "alice", {"s": ">"}, count=3)
        r.xreadgroup("g", "bob", {"s": ">"}, count=2, noack=True)
        r.xack("s", "g", r.xpending_range("s", "g", "-", "+", 1)[0]["message_id"])
        r.xdel("s", r.xrange("s", count=1)[0][0])
        if snapshot:
            assert r.save() is True
        state = lambda c: (c.xrange("s"), c.xinfo_stream("s", full=True), c.xinfo_groups("s"),
                           [(row["message_id"], row["consumer"], row["times_delivered"]) for row in c.xpending_range("s", "g", "-", "+", 100)])
        before = state(r)
        r.close()
        server.kill()  # kill -9: the log (and the snapshot, when taken) must bring it all back
        server = start(data_dir)
        r = server.client(decode_responses=True)
        assert state(r) == before
        # New IDs continue after the recovered last ID.
        new_id = r.xadd("s", {"after": "restart"})
        assert tuple(map(int, new_id.split("-"))) > tuple(map(int, before[1]["last-generated-id"].split("-")))
        r.close()
        assert server.stop() == 0
