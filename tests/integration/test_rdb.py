"""DUMP/RESTORE between Wharf and a real Redis 7.0 in both directions, for every type and
encoding, and `wharf import` / `wharf export` of dump.rdb files that redis-server itself
writes and loads, compared key by key."""
import os
import shutil
import subprocess
import tempfile

import pytest
import redis

from conftest import BINARY, RedisServer, WharfServer


def populate(c):
    """Every type in its small and large encodings, with expiry, tombstones and groups."""
    c.set("s_small", "hello")
    c.set("s_int", 12345)
    c.set("s_bigint", 2**40)
    c.set("s_long", "x" * 5000)
    c.set("s_repetitive", "abc" * 400)
    c.set("s_ttl", "v", px=500_000)
    c.rpush("l_small", "a", 1, "b", -5)
    c.rpush("l_big", *[f"item{i}" if i % 3 else i * 1000 for i in range(3000)])
    c.sadd("set_int", 1, 2, -100, 70000, 2**40)
    c.sadd("set_big", *[f"m{i}" for i in range(700)])
    c.sadd("set_str", "a", "b")
    c.hset("h_small", mapping={"f1": "v1", "f2": 22})
    c.hset("h_big", mapping={f"f{i}": f"v{i}" for i in range(600)})
    c.zadd("z_small", {"a": 1, "b": 2.5, "c": -3, "d": 1e300})
    c.zadd("z_big", {f"m{i}": i * 0.5 for i in range(300)})
    c.pfadd("hll", *[f"e{i}" for i in range(500)])
    c.geoadd("geo", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"])
    for i in range(250):
        c.xadd("st", {"temp": i, "hum": i * 2} if i % 5 else {"other": "x", "n": i}, id=f"{1000 + i}-{i % 3}")
    c.xdel("st", "1010-1", "1011-2")
    c.xgroup_create("st", "g1", id="1005-0")
    c.xgroup_create("st", "g2", id="0")
    c.xreadgroup("g1", "alice", {"st": ">"}, count=3)
    c.xreadgroup("g1", "bob", {"st": ">"}, count=2)
    c.xreadgroup("g2", "carol", {"st": ">"}, count=1, noack=True)


def contents(c):
    """Every key's type, value and TTL presence, comparable across servers."""
    out = {}
    for key in sorted(c.keys()):
        kind = c.type(key).decode()
        if kind == "string":
            value = c.get(key)
        elif kind == "list":
            value = c.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(c.smembers(key))
        elif kind == "hash":
            value = sorted(c.hgetall(key).items())
        elif kind == "zset":
            value = c.zrange(key, 0, -1, withscores=True)
        else:
            info = c.xinfo_stream(key, full=True)
            value = (c.xrange(key), info["length"], info["last-generated-id"], info["max-deleted-entry-id"],
                     info["entries-added"],
                     [(g["name"], g["last-delivered-id"], g["entries-read"], g["pel-count"],
                       sorted((p[0], p[1], p[3]) for p in g["pending"])) for g in info["groups"]])
        out[key] = (kind, value, c.pttl(key) > 0)
    return out


@pytest.mark.parametrize("direction", ["redis-to-wharf", "wharf-to-redis"])
def test_dump_restore_between_wharf_and_redis(shared_server, real_redis, direction):
    w, r = shared_server.client(), real_redis.client()
    source, target = (r, w) if direction == "redis-to-wharf" else (w, r)
    for c in (w, r):
        c.flushall()
    populate(source)
    for key in source.keys():
        ttl = source.pttl(key)
        target.restore(key, max(ttl, 0), source.dump(key))
    assert contents(target) == contents(source)
    assert target.pfcount("hll") == source.pfcount("hll")
    assert target.geopos("geo", "Palermo") == source.geopos("geo", "Palermo")


def test_small_values_dump_to_redis_bytes(shared_server, real_redis):
    w, r = shared_server.client(), real_redis.client()
    for c in (w, r):
        c.flushall()
        c.set("s", "hello")
        c.set("n", 12345)
        c.hset("h", mapping={"f1": "v1", "f2": 22})
        c.sadd("i", 1, 2, 3)
    for key in ("s", "n", "h", "i"):
        assert w.dump(key) == r.dump(key), key


def test_restore_errors_match_redis(shared_server, real_redis):
    for c in (shared_server.client(), real_redis.client()):
        c.flushall()
        c.set("k", "v")
        payload = c.dump("k")
        with pytest.raises(redis.ResponseError, match="BUSYKEY"):
            c.restore("k", 0, payload)
        with pytest.raises(redis.ResponseError, match="DUMP payload version or checksum are wrong"):
            c.restore("n", 0, payload[:-1] + bytes([payload[-1] ^ 1]))
        with pytest.raises(redis.ResponseError, match="Invalid TTL value"):
            c.restore("n", -5, payload)
        assert c.restore("k", 0, payload, replace=True, idletime=100) == b"OK"
        assert c.object("idletime", "k") >= 100


@pytest.fixture(scope="module")
def redis_dump():
    """A dump.rdb written by Redis 7.0 itself: DEBUG POPULATE plus every type and encoding."""
    directory = tempfile.mkdtemp(prefix="wharf-it-rdb-")
    server = RedisServer("--enable-debug-command", "yes", dir=directory)
    c = server.client()
    populate(c)
    c.execute_command("DEBUG", "POPULATE", 20000, "pop", 32)
    c.select(5)
    c.set("in-db-5", "x", px=600_000)
    c.select(0)
    expected = contents(c)
    c.select(5)
    expected_db5 = contents(c)
    c.save()
    server.stop()
    yield os.path.join(directory, "dump.rdb"), expected, expected_db5
    shutil.rmtree(directory, ignore_errors=True)


def wharf(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=300)


def test_import_into_a_directory_then_export_to_redis(redis_dump):
    path, expected, expected_db5 = redis_dump
    data = tempfile.mkdtemp(prefix="wharf-it-import-")
    try:
        result = wharf("import", path, "--dir", data)
        assert result.returncode == 0, result.stderr
        total = len(expected) + len(expected_db5)
        assert f"imported {total} keys" in result.stdout and "in 2 databases" in result.stdout, result.stdout
        server = WharfServer(data_dir=data)
        try:
            c = server.client()
            assert contents(c) == expected
            c.select(5)
            assert contents(c) == expected_db5
            exported = os.path.join(data, "..", os.path.basename(data) + "-export.rdb")
            result = wharf("export", "--rdb", exported, "--port", str(server.port))
            assert result.returncode == 0, result.stderr
        finally:
            assert server.stop() == 0
        # Redis 7.0 loads what Wharf wrote, and holds the same keys.
        target = tempfile.mkdtemp(prefix="wharf-it-redis-load-")
        shutil.copy(exported, os.path.join(target, "dump.rdb"))
        loaded = RedisServer(dir=target)
        try:
            c = loaded.client()
            assert contents(c) == expected
            c.select(5)
            assert contents(c) == expected_db5
        finally:
            loaded.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_import_into_a_running_server(redis_dump, epoll_server):
    path, expected, _ = redis_dump
    result = wharf("import", path, "--port", str(epoll_server.port))
    assert result.returncode == 0, result.stderr
    assert contents(epoll_server.client()) == expected


def test_export_of_a_stopped_directory(redis_dump):
    path, expected, expected_db5 = redis_dump
    data = tempfile.mkdtemp(prefix="wharf-it-export-")
    try:
        assert wharf("import", path, "--dir", data).returncode == 0
        out = os.path.join(data, "out.rdb")
        result = wharf("export", "--rdb", out, "--dir", data)
        assert result.returncode == 0, result.stderr
        assert f"exported {len(expected) + len(expected_db5)} keys" in result.stdout, result.stdout
        assert open(out, "rb").read(9) == b"REDIS0010"
    finally:
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate"])
def test_damaged_file_is_refused_and_nothing_is_loaded(redis_dump, damage):
    path, _, _ = redis_dump
    data = bytearray(open(path, "rb").read())
    if damage == "flip-a-byte":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    scratch = tempfile.mkdtemp(prefix="wharf-it-damaged-")
    try:
        bad = os.path.join(scratch, "bad.rdb")
        open(bad, "wb").write(bytes(data))
        target = os.path.join(scratch, "data")
        result = wharf("import", bad, "--dir", target)
        assert result.returncode != 0
        assert "nothing was loaded" in result.stderr and "at offset" in result.stderr, result.stderr
        assert not os.path.exists(target) or not any(n.startswith("snapshot") for n in os.listdir(target))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_migrate_between_wharf_and_redis(shared_server, real_redis):
    w, r = shared_server.client(), real_redis.client()
    for c in (w, r):
        c.flushall()
    w.set("a", "1")
    w.rpush("l", "x", "y")
    w.set("t", "v", px=100_000)
    assert w.execute_command("MIGRATE", "127.0.0.1", real_redis.port, "a", 0, 1000) == b"OK"
    assert r.get("a") == b"1" and w.exists("a") == 0
    assert w.execute_command("MIGRATE", "127.0.0.1", real_redis.port, "", 3, 1000, "COPY", "KEYS", "l", "t", "missing") == b"OK"
    target = real_redis.client(db=3)
    assert target.lrange("l", 0, -1) == [b"x", b"y"] and target.pttl("t") > 0 and w.exists("l", "t") == 2
    with pytest.raises(redis.ResponseError, match="Target instance replied with error: BUSYKEY"):
        w.execute_command("MIGRATE", "127.0.0.1", real_redis.port, "", 3, 1000, "KEYS", "l")
    assert w.execute_command("MIGRATE", "127.0.0.1", real_redis.port, "", 3, 1000, "REPLACE", "KEYS", "l") == b"OK"
    assert w.exists("l") == 0
    assert w.execute_command("MIGRATE", "127.0.0.1", real_redis.port, "nothing", 0, 1000) == b"NOKEY"
    with pytest.raises(redis.ResponseError, match="IOERR error or timeout connecting to the client"):
        w.execute_command("MIGRATE", "127.0.0.1", 1, "t", 0, 200)
    # And from Redis into Wharf.
    r.set("from-redis", "yes")
    assert r.execute_command("MIGRATE", "127.0.0.1", shared_server.port, "from-redis", 0, 1000) == b"OK"
    assert w.get("from-redis") == b"yes"
