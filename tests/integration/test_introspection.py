"""Introspection and connection commands as Redis 7.0 answers them: COMMAND, CONFIG's
compatibility keys, INFO errorstats, SCAN's single call, SMOVE's events, ROLE/REPLICAOF/
MODULE, SWAPDB, CLIENT KILL/REPLY, MONITOR, MEMORY, SLOWLOG, LATENCY and DEBUG."""
import re
import socket
import time

import pytest
import redis

from conftest import WharfServer, roundtrip


def test_command_without_arguments_and_command_list(r):
    assert len(r.command()) == r.command_count()
    names = r.command_list()
    assert "config|get" in names and "get" in names
    assert "client|kill" in r.command_list(pattern="client|*")
    assert r.command_getkeysandflags("GET", "k") == [["k", ["RO", "access"]]]


def test_config_accepts_every_redis_key_with_its_checks(r):
    assert r.config_set("list-compress-depth", 3) is True
    assert r.config_get("list-compress-depth") == {"list-compress-depth": "3"}
    with pytest.raises(redis.ResponseError, match="argument must be between 0 and 2147483647 inclusive"):
        r.config_set("list-compress-depth", -1)
    assert r.config_set("lua-time-limit", 100) is True
    assert r.config_get("busy-reply-threshold") == {"busy-reply-threshold": "100"}
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("daemonize", "yes")
    with pytest.raises(redis.ResponseError, match="must be 'yes' or 'no'"):
        r.config_set("latency-tracking", "maybe")
    assert len(r.config_get("*")) >= 190


def test_errorstats_and_commandstats(r):
    r.config_resetstat()
    r.set("s", "v")
    with pytest.raises(redis.ResponseError):
        r.lpush("s", "x")
    with pytest.raises(redis.ResponseError):
        r.execute_command("NOSUCHCOMMAND")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")
    errors = r.info("errorstats")
    assert errors["errorstat_WRONGTYPE"] == {"count": 1}
    assert errors["errorstat_ERR"] == {"count": 2}
    stats = r.info("commandstats")
    assert stats["cmdstat_lpush"]["failed_calls"] == 1
    assert stats["cmdstat_get"]["rejected_calls"] == 1


def test_scan_of_a_small_keyspace_finishes_in_one_call(r):
    r.mset({"a": 1, "b": 2, "c": 3})
    assert r.scan(0) == (0, sorted(["a", "b", "c"], key=lambda k: r.scan(0)[1].index(k)))
    r.hset("h", mapping={f"f{i}": i for i in range(600)})
    cursor, fields = r.hscan("h", 0, count=1000)
    assert cursor == 0 and len(fields) == 600


def test_smove_notifies_the_destination_only_when_added(r):
    r.config_set("notify-keyspace-events", "KEs")
    pubsub = r.pubsub()
    pubsub.psubscribe("__keyevent@0__:*")
    pubsub.get_message(timeout=1)
    r.sadd("src", "m", "n")
    r.sadd("dst", "m")
    assert r.smove("src", "dst", "m") is True
    assert r.smove("src", "dst", "n") is True
    events = []
    deadline = time.time() + 2
    while time.time() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "pmessage":
            events.append((message["channel"].split(":")[-1], message["data"]))
    pubsub.close()
    assert events == [("sadd", "src"), ("sadd", "dst"), ("srem", "src"), ("srem", "src"), ("sadd", "dst")]


def test_role_replicaof_and_module(r):
    assert r.execute_command("ROLE") == ["master", 0, []]
    assert r.execute_command("REPLICAOF", "NO", "ONE") in ("OK", True)
    assert r.execute_command("SLAVEOF", "NO", "ONE") in ("OK", True)
    assert r.execute_command("MODULE", "LIST") == []
    with pytest.raises(redis.ResponseError):
        r.execute_command("MODULE", "LOAD", "/no/such/module.so")


def test_swapdb(r):
    r.set("in0", "a")
    r.select(1)
    r.set("in1", "b")
    r.select(0)
    assert r.swapdb(0, 1) is True
    assert r.get("in1") == "b" and r.get("in0") is None
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.swapdb(0, 99)
    with pytest.raises(redis.ResponseError, match="invalid first DB index"):
        r.execute_command("SWAPDB", "x", 1)


def test_client_kill_is_immediate(server):
    victim = server.client()
    victim.client_setname("victim")
    victim_id = victim.client_id()
    admin = server.client(decode_responses=True)
    assert admin.client_kill_filter(_id=victim_id) == 1
    assert all(c["name"] != "victim" for c in admin.client_list())


def test_client_reply_off_and_skip(server):
    sock = server.raw()
    payload = b"CLIENT REPLY SKIP\r\nPING\r\nPING again\r\nCLIENT REPLY OFF\r\nSET k 1\r\nGET k\r\nCLIENT REPLY ON\r\nGET k\r\n"
    assert roundtrip(sock, payload, expect_bytes=29) == b"$5\r\nagain\r\n+OK\r\n$1\r\n1\r\n"
    sock.close()


def test_monitor_shows_commands_in_redis_format(server):
    monitor = socket.create_connection(("127.0.0.1", server.port), timeout=3)
    monitor.sendall(b"MONITOR\r\n")
    assert monitor.recv(5) == b"+OK\r\n"
    client = server.client()
    client.set("key with space", "x\ny")
    client.get("key with space")
    time.sleep(0.3)
    data = monitor.recv(4096).decode()
    # Only this test's commands (the client's connection handshake comes first).
    lines = [l for l in data.split("\r\n") if '"SET"' in l or '"GET"' in l]
    assert re.fullmatch(r'\+\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "key with space" "x\\ny"', lines[0]), lines
    assert lines[1].endswith('"GET" "key with space"')
    monitor.sendall(b"GET k\r\n")
    assert b"Replica can't interact with the keyspace" in monitor.recv(4096)
    monitor.close()


def test_memory_usage(r):
    r.set("small", "v")
    r.hset("big", mapping={f"field{i}": "v" * 20 for i in range(1000)})
    small = r.memory_usage("small")
    big = r.memory_usage("big", samples=0)
    assert 16 <= small <= 128
    assert 1000 * 40 <= big <= 1000 * 200
    assert r.memory_usage("missing") is None
    stats = r.memory_stats()
    assert stats["keys.count"] == 2 and stats["total.allocated"] > 0


def test_slowlog_and_latency(r):
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    r.set("a", "b")
    entries = r.slowlog_get(10)
    assert any(e["command"] in ("SET a b", b"SET a b") for e in entries), entries
    assert r.slowlog_len() >= 1
    r.config_set("slowlog-log-slower-than", -1)
    r.slowlog_reset()
    r.get("a")
    assert r.slowlog_len() == 0
    histogram = r.execute_command("LATENCY", "HISTOGRAM", "set")
    assert histogram and "set" in histogram
    assert r.execute_command("LATENCY", "LATEST") == []
    assert r.execute_command("LATENCY", "RESET") == 0
    assert "latency_percentiles_usec_set" in r.info("latencystats")


def test_debug_is_off_by_default(r):
    with pytest.raises(redis.ResponseError, match="DEBUG command not allowed"):
        r.execute_command("DEBUG", "DIGEST")


def test_debug_subset_when_enabled():
    server = WharfServer("--enable-debug-command", "local")
    try:
        c = server.client(decode_responses=True)
        assert c.execute_command("DEBUG", "DIGEST") == "0" * 40
        c.set("a", 1)
        c.rpush("l", "x", "y")
        c.zadd("z", {"m": 1.5})
        before = c.execute_command("DEBUG", "DIGEST")
        assert before != "0" * 40
        assert c.execute_command("DEBUG", "RELOAD") == "OK"
        assert c.execute_command("DEBUG", "DIGEST") == before
        assert c.execute_command("DEBUG", "DIGEST-VALUE", "l", "missing")[1] == "0" * 40
        assert "encoding:listpack" in c.execute_command("DEBUG", "OBJECT", "l")
        assert c.execute_command("DEBUG", "SLEEP", 0) == "OK"
        assert c.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0) == "OK"
    finally:
        assert server.stop() == 0


def test_client_pause_postpones_writes_then_all(server):
    admin = server.client()
    sock = server.raw(timeout=5)
    assert admin.execute_command("CLIENT", "PAUSE", 600, "WRITE") == b"OK"
    started = time.time()
    assert roundtrip(sock, b"GET a\r\n", expect_bytes=5) == b"$-1\r\n"
    assert time.time() - started < 0.4, "reads go on during a WRITE pause"
    assert roundtrip(sock, b"SET a 1\r\n", expect_bytes=5, timeout=3) == b"+OK\r\n"
    assert time.time() - started >= 0.5, "the write waited for the pause to end"
    assert admin.execute_command("CLIENT", "PAUSE", 5000, "WRITE") == b"OK"
    sock.sendall(b"INCR n\r\n")
    time.sleep(0.2)
    assert admin.execute_command("CLIENT", "UNPAUSE") == b"OK"
    sock.settimeout(2)
    assert sock.recv(100) == b":1\r\n"
    assert admin.execute_command("CLIENT", "PAUSE", 300) == b"OK"
    started = time.time()
    assert roundtrip(sock, b"PING\r\n", expect_bytes=7, timeout=3) == b"+PONG\r\n"
    assert time.time() - started >= 0.2, "ALL pauses every command"
    with pytest.raises(redis.ResponseError, match="CLIENT PAUSE mode must be WRITE or ALL"):
        admin.execute_command("CLIENT", "PAUSE", 10, "SOME")
    sock.close()
