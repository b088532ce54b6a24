"""Every string, key, connection and server command of the foundation, through redis-py
in RESP2 and RESP3, against both transports."""
import time

import pytest
import redis


def test_get_set_and_options(r):
    assert r.get("k") is None
    assert r.set("k", "v1") is True
    assert r.get("k") == "v1"
    assert r.set("k", "v2", nx=True) is None
    assert r.set("other", "x", xx=True) is None
    assert r.set("k", "v3", xx=True, get=True) == "v1"
    assert r.set("k", "v", ex=100) is True
    assert r.ttl("k") == 100
    assert r.set("k", "w", keepttl=True) is True
    assert r.ttl("k") == 100
    assert r.set("k", "w", px=5000) is True
    assert 4900 < r.pttl("k") <= 5000
    assert r.set("k", "z", exat=int(time.time()) + 50) is True
    assert 48 <= r.ttl("k") <= 50
    assert r.set("k", "z", pxat=int(time.time() * 1000) + 50_000) is True
    assert r.setnx("n1", "a") is True and r.setnx("n1", "b") is False
    assert r.execute_command("SETEX", "se", 10, "x") is True and r.ttl("se") == 10
    assert r.psetex("pse", 1500, "y") is True and r.pttl("pse") <= 1500
    assert r.getset("se", "z") == "x" and r.ttl("se") == -1
    assert r.getex("se", ex=20) == "z" and r.ttl("se") == 20
    assert r.getex("se", persist=True) == "z" and r.ttl("se") == -1
    assert r.getdel("se") == "z" and r.exists("se") == 0


def test_set_errors(r):
    for args, message in [
        (("SET", "k", "v", "NX", "XX"), "syntax error"),
        (("SET", "k", "v", "EX", "10", "PX", "10"), "syntax error"),
        (("SET", "k", "v", "EX", "x"), "value is not an integer or out of range"),
        (("SET", "k", "v", "EX", "0"), "invalid expire time in 'set' command"),
        (("SET", "k", "v", "EX", "-10"), "invalid expire time in 'set' command"),
        (("SET", "k", "v", "EX", "9223372036854775807"), "invalid expire time in 'set' command"),
        (("SETEX", "k", "-1", "v"), "invalid expire time in 'setex' command"),
    ]:
        with pytest.raises(redis.ResponseError, match=message):
            r.execute_command(*args)


def test_multi_key_strings(r):
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget("a", "b", "c") == ["1", "2", None]
    assert r.msetnx({"c": "3", "a": "9"}) is False
    assert r.msetnx({"c": "3", "d": "4"}) is True
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'mset' command"):
        r.execute_command("MSET", "a", "1", "b")


def test_counters(r):
    assert r.incr("n") == 1
    assert r.incrby("n", 10) == 11
    assert r.decr("n") == 10
    assert r.decrby("n", 5) == 5
    assert r.incrbyfloat("f", 10.5) == 10.5
    assert r.incrbyfloat("f", 0.1) == pytest.approx(10.6)
    assert r.get("f") == "10.6"
    r.set("max", 2**63 - 1)
    with pytest.raises(redis.ResponseError, match="increment or decrement would overflow"):
        r.incr("max")
    r.set("min", -(2**63))
    with pytest.raises(redis.ResponseError, match="increment or decrement would overflow"):
        r.decr("min")
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.incr("s")
    with pytest.raises(redis.ResponseError, match="value is not a valid float"):
        r.incrbyfloat("s", 1)
    with pytest.raises(redis.ResponseError, match="increment would produce NaN or Infinity"):
        r.incrbyfloat("f", "inf")


def test_append_ranges_lcs(r):
    assert r.append("s", "Hello") == 5
    assert r.append("s", " World") == 11
    assert r.strlen("s") == 11
    assert r.getrange("s", 0, 4) == "Hello"
    assert r.getrange("s", -5, -1) == "World"
    assert r.execute_command("SUBSTR", "s", 0, 0) == "H"
    assert r.setrange("s", 6, "Redis") == 11
    assert r.get("s") == "Hello Redis"
    assert r.setrange("pad", 2, "x") == 3
    assert r.get("pad") == "\x00\x00x"
    with pytest.raises(redis.ResponseError, match="offset is out of range"):
        r.setrange("s", -1, "x")
    r.mset({"key1": "ohmytext", "key2": "mynewtext"})
    assert r.lcs("key1", "key2") == "mytext"
    assert r.lcs("key1", "key2", len=True) == 6
    result = r.lcs("key1", "key2", idx=True, minmatchlen=4, withmatchlen=True)
    assert result == ["matches", [[[4, 7], [5, 8], 4]], "len", 6]


def test_binary_safe_keys_and_values(server):
    client = server.client()
    key = b"\x00\r\n\xff key"
    value = bytes(range(256)) * 4
    assert client.set(key, value) is True
    assert client.get(key) == value
    assert client.strlen(key) == len(value)
    assert key in client.keys("*")
    client.close()


def test_key_commands(r):
    r.mset({"a": "1", "b": "2"})
    assert r.exists("a", "a", "b", "zz") == 3
    assert r.type("a") == "string"
    assert r.type("zz") == "none"
    assert r.touch("a", "zz") == 1
    assert r.expire("a", 100) is True
    assert r.ttl("a") == 100
    assert r.expire("a", 10, gt=True) is False
    assert r.expire("a", 10, lt=True) is True
    assert r.pexpire("a", 20000, gt=True) is True
    assert r.expireat("a", int(time.time()) + 300) is True
    assert r.pexpireat("a", int(time.time() * 1000) + 300_000) is True
    assert abs(r.expiretime("a") - (int(time.time()) + 300)) <= 2
    assert abs(r.execute_command("PEXPIRETIME", "a") - (int(time.time() * 1000) + 300_000)) < 2000
    assert r.persist("a") is True and r.ttl("a") == -1
    assert r.expire("a", -1) is True and r.exists("a") == 0
    with pytest.raises(redis.ResponseError, match="NX and XX, GT or LT options at the same time are not compatible"):
        r.execute_command("EXPIRE", "b", "10", "NX", "GT")
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'expire' command"):
        r.execute_command("EXPIRE", "b", "9223372036854775807")
    assert r.rename("b", "c") is True
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.rename("b", "d")
    r.set("d", "x")
    assert r.renamenx("c", "d") is False
    assert r.copy("c", "e") is True
    assert r.copy("c", "e") is False
    assert r.copy("c", "e", replace=True) is True
    assert r.copy("c", "c", destination_db=2) is True
    assert r.move("e", 3) is True
    assert r.dbsize() == 2
    assert r.randomkey() in {"c", "d"}
    assert r.delete("c", "d", "nope") == 2
    assert r.randomkey() is None
    assert r.unlink("zz") == 0


def test_keys_and_scan(r):
    for i in range(500):
        r.set(f"user:{i}", i)
    r.set("other", 1)
    assert sorted(r.keys("user:1?")) == [f"user:{i}" for i in range(10, 20)]
    assert len(r.keys("*")) == 501
    assert set(r.scan_iter(match="user:*", count=37)) == {f"user:{i}" for i in range(500)}
    assert list(r.scan_iter(_type="string", match="other")) == ["other"]
    assert list(r.scan_iter(_type="list")) == []
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.execute_command("SCAN", "notanumber")


def test_expiry_is_reclaimed_without_access(server):
    client = server.client()
    pipe = client.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"v:{i}", "x", px=200)
    pipe.execute()
    assert client.dbsize() == 2000
    deadline = time.time() + 10
    while client.dbsize() > 0 and time.time() < deadline:
        time.sleep(0.1)
    assert client.dbsize() == 0
    assert client.info("stats")["expired_keys"] == 2000
    client.close()


def test_object_and_select(r):
    r.set("i", 123)
    r.set("e", "hello")
    r.set("raw", "x" * 100)
    assert r.object("encoding", "i") == "int"
    assert r.object("encoding", "e") == "embstr"
    assert r.object("encoding", "raw") == "raw"
    assert r.object("refcount", "e") == 1
    assert r.object("idletime", "e") == 0
    assert r.object("encoding", "missing") is None
    with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is not selected"):
        r.object("freq", "e")
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 16)
    assert r.execute_command("SELECT", 15) is True
    assert r.get("i") is None


def test_flush(r):
    r.set("a", 1)
    r.execute_command("SELECT", 1)
    r.set("b", 1)
    assert r.flushdb(asynchronous=True) is True
    assert r.dbsize() == 0
    r.execute_command("SELECT", 0)
    assert r.dbsize() == 1
    assert r.flushall() is True
    assert r.dbsize() == 0


def test_resp3_types(r3):
    assert r3.ping() is True
    assert r3.set("k", "v") is True
    assert r3.get("missing") is None
    info = r3.execute_command("HELLO", "3")
    assert info["proto"] == 3 and info["version"] == "7.0.15"
    lcs = r3.lcs("k", "k", idx=True)
    assert lcs["len"] == 1
    config = r3.config_get("maxclients")
    assert config == {"maxclients": "10000"}
    assert "redis_version" in r3.info("server")


def test_server_commands(r):
    assert r.time()[0] > 1_700_000_000
    info = r.info()
    assert info["redis_version"] == "7.0.15"
    assert "wharf_version" in info
    assert info["connected_clients"] >= 1
    assert info["role"] == "master"
    r.get("x")
    stats = r.info("commandstats")
    assert stats["cmdstat_get"]["calls"] >= 1
    assert r.command_count() > 50
    info = r.execute_command("COMMAND", "INFO", "get", "set")
    assert info["get"]["arity"] == 2 and info["set"]["arity"] == -3
    assert r.command_getkeys("MSET", "a", "1", "b", "2") == ["a", "b"]
    assert "set" in r.command_list()
    assert "lcs" in r.command_list(pattern="l*")
    assert r.config_set("hz", 20) is True
    assert r.config_get("hz") == {"hz": "20"}
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("databases", 4)
    with pytest.raises(redis.ResponseError, match="Unknown option or number of arguments for CONFIG SET - 'nope'"):
        r.config_set("nope", 1)
    assert r.config_resetstat() is True


def test_client_commands(server):
    a = server.client(decode_responses=True)
    b = server.client(decode_responses=True)
    assert a.client_setname("alpha") is True
    assert a.client_getname() == "alpha"
    with pytest.raises(redis.ResponseError, match="Client names cannot contain spaces"):
        a.client_setname("bad name")
    b.ping()
    listed = a.client_list()
    names = {c["name"] for c in listed}
    assert "alpha" in names and len(listed) == 2
    me = a.client_info()
    assert me["name"] == "alpha" and me["cmd"] == "client|info"
    assert a.client_id() == int(me["id"])
    victim = b.client_id()
    assert a.client_kill_filter(_id=victim) == 1
    deadline = time.time() + 5
    while victim in {int(c["id"]) for c in a.client_list()} and time.time() < deadline:
        time.sleep(0.05)
    assert victim not in {int(c["id"]) for c in a.client_list()}
    assert a.execute_command("CLIENT", "NO-EVICT", "on") == "OK"
    a.close()
    b.close()


def test_auth_with_requirepass():
    from conftest import WharfServer
    s = WharfServer("--requirepass", "s3cret")
    try:
        anonymous = s.client(decode_responses=True)
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("k")
        with pytest.raises(redis.AuthenticationError):
            s.client(password="wrong").ping()
        authed = s.client(password="s3cret", decode_responses=True)
        assert authed.set("k", "v") is True
        resp3 = s.client(password="s3cret", protocol=3, decode_responses=True)
        assert resp3.get("k") == "v"
        authed.close()
        resp3.close()
    finally:
        assert s.stop() == 0


def test_connection_commands(server):
    from conftest import roundtrip
    client = server.client(decode_responses=True)
    assert client.echo("hello") == "hello"
    assert client.ping() is True
    assert server.cli("PING", "msg").stdout.strip() == "msg"
    client.close()
    sock = server.raw()
    assert roundtrip(sock, b"HELLO 3\r\n").startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    assert roundtrip(sock, b"SELECT 2\r\nRESET\r\nGET k\r\n", expect_bytes=20) == b"+OK\r\n+RESET\r\n$-1\r\n"
    assert roundtrip(sock, b"QUIT\r\nPING\r\n") == b"+OK\r\n"
    assert sock.recv(10) == b""
    sock.close()
