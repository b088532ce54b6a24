"""Lists, hashes, sets and sorted sets through redis-py (RESP2 and RESP3) and redis-cli,
against the built binary on both transports: every command of the collections issue."""
import math

import pytest
import redis


def test_push_and_pop_match_redis_on_small_and_growing_lists(shared_server, real_redis):
    """Random LPUSH/RPUSH/LPOP/RPOP (with and without counts) on a few keys, each reply and
    list compared with Redis's: small lists take the packed fast paths, larger ones convert."""
    import random

    rng = random.Random(7)
    wharf, reference = shared_server.client(), real_redis.client()
    keys = ["pp:%d" % index for index in range(4)]
    for client in (wharf, reference):
        client.delete(*keys)
    for step in range(4000):
        op = rng.choice(["lpush", "rpush", "lpop", "rpop", "lpop-count", "rpop-count"])
        key = rng.choice(keys)
        if op in ("lpush", "rpush"):
            values = [("v%d" % rng.randint(0, 1000)) * rng.randint(1, 12) for _ in range(rng.randint(1, 4))]
            answers = [getattr(client, op)(key, *values) for client in (wharf, reference)]
        elif op in ("lpop", "rpop"):
            answers = [getattr(client, op)(key) for client in (wharf, reference)]
        else:
            count = rng.randint(1, 5)
            answers = [getattr(client, op.split("-")[0])(key, count) for client in (wharf, reference)]
        assert answers[0] == answers[1], (step, op, key, answers)
        if step % 100 == 0:
            for name in keys:
                assert wharf.lrange(name, 0, -1) == reference.lrange(name, 0, -1), (step, name)


def test_lists(r):
    assert r.lpush("l", "b", "a") == 2
    assert r.rpush("l", "c", "d") == 4
    assert r.lpushx("missing", "x") == 0
    assert r.rpushx("l", "e") == 5
    assert r.llen("l") == 5
    assert r.lrange("l", 0, -1) == ["a", "b", "c", "d", "e"]
    assert r.lindex("l", -1) == "e"
    assert r.lset("l", 1, "B") is True
    with pytest.raises(redis.ResponseError, match="index out of range"):
        r.lset("l", 99, "x")
    assert r.linsert("l", "BEFORE", "c", "c0") == 6
    assert r.linsert("l", "AFTER", "nope", "x") == -1
    r.rpush("l", "a", "a")
    assert r.lrem("l", -1, "a") == 1
    assert r.lpos("l", "a") == 0
    assert r.lpos("l", "a", rank=-1) == 6
    assert r.lpos("l", "a", count=0) == [0, 6]
    assert r.lpos("l", "a", maxlen=2, count=0) == [0]
    assert r.ltrim("l", 1, -2) is True
    assert r.lrange("l", 0, -1) == ["B", "c0", "c", "d", "e"]
    assert r.lpop("l") == "B"
    assert r.rpop("l", 2) == ["e", "d"]
    assert r.lmove("l", "dst", "LEFT", "RIGHT") == "c0"
    assert r.rpoplpush("l", "dst") == "c"
    assert r.lrange("dst", 0, -1) == ["c", "c0"]
    assert r.exists("l") == 0
    assert r.lmpop(2, "l", "dst", direction="RIGHT", count=5) == ["dst", ["c0", "c"]]
    assert r.lmpop(1, "dst", direction="LEFT") is None
    r.set("str", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.lpush("str", "x")


def test_large_list_encoding_and_ranges(r):
    r.rpush("big", *[f"item-{i}" for i in range(2000)])
    assert r.object("encoding", "big") == "quicklist"
    assert r.lrange("big", 1000, 1002) == ["item-1000", "item-1001", "item-1002"]
    assert r.lrange("big", -2, -1) == ["item-1998", "item-1999"]
    assert r.lindex("big", 1500) == "item-1500"
    r.rpush("small", "a")
    # Redis 7.2's name for a small list; 7.0 reports quicklist for every list.
    assert r.object("encoding", "small") == "listpack"


def test_hashes(r):
    assert r.hset("h", mapping={"f1": "v1", "f2": "v2"}) == 2
    assert r.hset("h", "f1", "v1b") == 0
    assert r.hsetnx("h", "f1", "x") == 0
    assert r.hsetnx("h", "f3", "3") == 1
    assert r.hget("h", "f1") == "v1b"
    assert r.hmget("h", ["f1", "nope", "f3"]) == ["v1b", None, "3"]
    assert r.execute_command("HMSET", "h", "f4", "4") in (True, "OK")
    assert r.hlen("h") == 4
    assert r.hexists("h", "f2") == 1
    assert sorted(r.hkeys("h")) == ["f1", "f2", "f3", "f4"]
    assert sorted(r.hvals("h")) == ["3", "4", "v1b", "v2"]
    assert r.hgetall("h") == {"f1": "v1b", "f2": "v2", "f3": "3", "f4": "4"}
    assert r.hincrby("h", "f3", 10) == 13
    assert r.hincrbyfloat("h", "f4", 0.5) == 4.5
    with pytest.raises(redis.ResponseError, match="hash value is not an integer"):
        r.hincrby("h", "f1", 1)
    assert r.hstrlen("h", "f1") == 3
    assert r.hdel("h", "f1", "nope") == 1
    assert r.hrandfield("h") in ("f2", "f3", "f4")
    assert sorted(r.hrandfield("h", 10)) == ["f2", "f3", "f4"]
    assert len(r.hrandfield("h", -5, withvalues=True)) == 10
    cursor, found = r.hscan("h", 0)
    assert cursor == 0 and found == {"f2": "v2", "f3": "13", "f4": "4.5"}
    assert r.object("encoding", "h") == "listpack"
    r.hset("big", mapping={f"field{i}": i for i in range(600)})
    assert r.object("encoding", "big") == "hashtable"
    assert dict(r.hscan_iter("big", match="field49*")) == {"field49": "49", **{f"field49{i}": str(490 + i) for i in range(10)}}


def test_sets(r):
    assert r.sadd("s", "1", "2", "3") == 3
    assert r.object("encoding", "s") == "intset"
    assert r.sadd("s", "a", "1") == 1
    assert r.object("encoding", "s") == "hashtable"
    assert r.smembers("s") == {"1", "2", "3", "a"}
    assert r.sismember("s", "a") == 1
    assert r.smismember("s", ["a", "z"]) == [1, 0]
    assert r.scard("s") == 4
    assert r.srem("s", "a", "z") == 1
    assert r.smove("s", "t", "3") == 1
    assert r.smove("s", "t", "nope") == 0
    r.sadd("t", "x", "2")
    assert r.sinter("s", "t") == {"2"}
    assert r.sintercard(2, ["s", "t"]) == 1
    assert r.sinterstore("i", ["s", "t"]) == 1
    assert r.sunion("s", "t") == {"1", "2", "3", "x"}
    assert r.sunionstore("u", ["s", "t"]) == 4
    assert r.sdiff("t", "s") == {"3", "x"}
    assert r.sdiffstore("d", ["t", "s"]) == 2
    assert r.srandmember("u") in {"1", "2", "3", "x"}
    assert len(r.srandmember("u", -10)) == 10
    assert set(r.srandmember("u", 10)) == {"1", "2", "3", "x"}
    popped = r.spop("u", 2)
    assert len(popped) == 2 and r.scard("u") == 2
    cursor, members = r.sscan("d", 0)
    assert cursor == 0 and set(members) == {"3", "x"}
    r.sadd("many", *range(1000))
    assert {int(m) for m in r.sscan_iter("many", count=50)} == set(range(1000))


def test_sorted_sets(r):
    assert r.zadd("z", {"a": 1, "b": 2, "c": 3}) == 3
    assert r.zadd("z", {"a": 5}, nx=True) == 0
    assert r.zadd("z", {"a": 0.5}, xx=True, ch=True) == 1
    assert r.zadd("z", {"a": 0.1}, gt=True) == 0
    assert r.zadd("z", {"d": 4}, incr=True) == 4.0
    assert r.zincrby("z", 1.5, "d") == 5.5
    assert r.zcard("z") == 4
    assert r.zscore("z", "a") == 0.5
    assert r.zmscore("z", ["a", "nope"]) == [0.5, None]
    assert r.zrank("z", "c") == 2
    assert r.zrevrank("z", "c") == 1
    assert r.zrange("z", 0, -1, withscores=True) == [("a", 0.5), ("b", 2.0), ("c", 3.0), ("d", 5.5)]
    assert r.zrange("z", 0, 1, desc=True) == ["d", "c"]
    assert r.zrange("z", "(2", "+inf", byscore=True, offset=0, num=2) == ["c", "d"]
    assert r.zrangebyscore("z", 1, 3) == ["b", "c"]
    assert r.zrevrangebyscore("z", "+inf", "(3") == ["d"]
    assert r.zcount("z", "-inf", "(3") == 2
    assert r.zrem("z", "a", "nope") == 1
    r.zadd("lex", {"a": 0, "b": 0, "c": 0, "d": 0})
    assert r.zrangebylex("lex", "[b", "+") == ["b", "c", "d"]
    assert r.zrevrangebylex("lex", "(d", "-") == ["c", "b", "a"]
    assert r.zlexcount("lex", "-", "(c") == 2
    assert r.zrangestore("stored", "lex", "[b", "[c", bylex=True) == 2
    assert r.zremrangebylex("lex", "[a", "[b") == 2
    assert r.zremrangebyrank("lex", 0, 0) == 1
    assert r.zremrangebyscore("z", 5, 10) == 1
    assert r.zpopmin("z") == [("b", 2.0)]
    assert r.zpopmax("z", 5) == [("c", 3.0)]
    assert r.exists("z") == 0
    r.zadd("z1", {"a": 1, "b": 2})
    r.zadd("z2", {"b": 3, "c": 4})
    assert r.zunion(["z1", "z2"], withscores=True) == [("a", 1.0), ("c", 4.0), ("b", 5.0)]
    assert r.zinter(["z1", "z2"], aggregate="MIN", withscores=True) == [("b", 2.0)]
    assert r.zdiff(["z1", "z2"]) == ["a"]
    assert r.zunionstore("zu", {"z1": 2, "z2": 1}) == 3
    assert r.zscore("zu", "b") == 7.0
    assert r.zinterstore("zi", ["z1", "z2"], aggregate="MAX") == 1
    assert r.zdiffstore("zd", ["z2", "z1"]) == 1
    assert r.zintercard(2, ["z1", "z2"]) == 1
    key, [[member, score]] = r.zmpop(2, ["none", "z1"], max=True)
    assert (key, member, float(score)) == ("z1", "b", 2.0)
    assert r.zrandmember("zu") in {"a", "b", "c"}
    assert len(r.zrandmember("zu", -6, withscores=True)) == 12
    cursor, items = r.zscan("zu", 0)
    assert cursor == 0 and sorted(items) == [("a", 2.0), ("b", 7.0), ("c", 4.0)]
    r.zadd("inf", {"lo": "-inf", "hi": "+inf"})
    assert r.zrange("inf", 0, -1, withscores=True) == [("lo", -math.inf), ("hi", math.inf)]
    assert r.execute_command("ZSCORE", "inf", "hi") in ("inf", math.inf)
    r.zadd("big", {f"m{i}": i for i in range(1000)})
    assert r.object("encoding", "big") == "skiplist"
    assert r.zrange("big", 500, 502) == ["m500", "m501", "m502"]
    assert r.zrank("big", "m999") == 999
    assert len(list(r.zscan_iter("big"))) == 1000


def test_sorted_sets_resp3(r3):
    r3.zadd("z", {"a": 1.5, "b": 2})
    assert r3.zscore("z", "a") == 1.5
    assert r3.zrange("z", 0, -1, withscores=True) == [["a", 1.5], ["b", 2.0]]
    assert r3.zpopmin("z", 1) == [["a", 1.5]]
    assert r3.hgetall("none") == {}
    r3.hset("h", "f", "v")
    assert r3.hgetall("h") == {"f": "v"}
    r3.sadd("s", "x")
    assert r3.smembers("s") == {"x"}


def test_redis_cli_collections(server):
    assert server.cli("RPUSH", "l", "a", "b").stdout.strip() == "2"
    assert server.cli("LRANGE", "l", "0", "-1").stdout.split() == ["a", "b"]
    assert server.cli("HSET", "h", "f", "v").stdout.strip() == "1"
    assert server.cli("HGETALL", "h").stdout.split() == ["f", "v"]
    assert server.cli("ZADD", "z", "1.5", "m").stdout.strip() == "1"
    assert server.cli("ZRANGE", "z", "0", "-1", "WITHSCORES").stdout.split() == ["m", "1.5"]
    assert server.cli("TYPE", "z").stdout.strip() == "zset"
    assert server.cli("SADD", "s", "1").stdout.strip() == "1"
    assert server.cli("OBJECT", "ENCODING", "s").stdout.strip() == "intset"
