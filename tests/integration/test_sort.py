"""SORT and SORT_RO through redis-py on both transports, and a deterministic workload
compared answer by answer with a real Redis 7.0."""
import random

import pytest
import redis


def test_sort_forms(r):
    r.rpush("l", 3, 1, 2, "10", "1.5")
    assert r.sort("l") == ["1", "1.5", "2", "3", "10"]
    assert r.sort("l", desc=True, start=1, num=2) == ["3", "2"]
    assert r.sort("l", alpha=True) == ["1", "1.5", "10", "2", "3"]
    r.mset({"w_1": 30, "w_2": 10, "w_3": 20})
    r.hset("h_1", "name", "one")
    r.hset("h_2", "name", "two")
    assert r.sort("l", by="w_*", get=["#", "h_*->name"], start=0, num=3) == ["1.5", None, "10", None, "2", "two"]
    assert r.sort("l", by="nosort", desc=True) == ["1.5", "10", "2", "1", "3"]
    assert r.sort("l", store="dst") == 5
    assert r.lrange("dst", 0, -1) == ["1", "1.5", "2", "3", "10"]
    assert r.execute_command("SORT_RO", "l", "LIMIT", "0", "2") == ["1", "1.5"]
    r.sadd("s", "b", "a", "c")
    assert r.sort("s", by="nosort", store="sorted-set") == 3
    assert r.lrange("sorted-set", 0, -1) == ["a", "b", "c"], "a set stored without sorting is sorted by member"
    r.zadd("z", {"x": 3, "y": 1, "z": 2})
    assert r.sort("z", by="nosort") == ["y", "z", "x"]
    assert r.sort("missing", store="dst") == 0
    assert r.exists("dst") == 0
    r.rpush("bad", "1", "x")
    with pytest.raises(redis.ResponseError, match="One or more scores can't be converted into double"):
        r.sort("bad")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SORT_RO", "l", "STORE", "x")
    r.set("str", "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.sort("str")


def test_sort_matches_redis(shared_server, real_redis):
    rng = random.Random(3)
    w, r = shared_server.client(), real_redis.client()
    for c in (w, r):
        c.flushall()
    numbers = [str(rng.choice([rng.randrange(-50, 50), rng.uniform(-9, 9)])) for _ in range(40)]
    words = [rng.choice(["apple", "b", "B", "10", "9", "ä", "", "zz"]) + str(i) for i in range(40)]
    weights = {f"w_{v}": str(rng.randrange(20)) for v in numbers + words}
    # Distinct names: Redis leaves the order of equal ALPHA keys to its hash table.
    names = rng.sample(range(1000), len(numbers + words))
    hashes = {f"h_{v}": {"f": str(rng.randrange(20)), "g": f"name{n}"} for v, n in zip(numbers + words, names)}
    zscores = {v: rng.randrange(5) for v in words}
    for c in (w, r):
        c.rpush("nums", *numbers)
        c.rpush("words", *words)
        c.zadd("z", zscores)
        c.mset(weights)
        for key, fields in hashes.items():
            c.hset(key, mapping=fields)
    shapes = [[], ["DESC"], ["ALPHA"], ["ALPHA", "DESC"], ["LIMIT", 3, 7], ["LIMIT", -1, 4], ["LIMIT", 50, 1],
              ["BY", "nosort"], ["BY", "nosort", "DESC", "LIMIT", 2, 5], ["BY", "w_*"], ["BY", "h_*->f", "DESC"],
              ["BY", "h_*->g", "ALPHA"], ["GET", "#", "GET", "h_*->g", "GET", "w_*"], ["BY", "w_*", "GET", "h_*->f", "LIMIT", 1, 9]]
    def answer(client, command):
        try:
            return client.execute_command(*command)
        except redis.ResponseError as error:
            return f"error: {error}"

    refused = 0
    for key in ("nums", "words", "z"):
        for shape in shapes:
            for command in (("SORT", key, *shape), ("SORT", key, *shape, "STORE", "out")):
                a, b = answer(w, command), answer(r, command)
                assert a == b, command
                refused += isinstance(a, str)
                assert w.lrange("out", 0, -1) == r.lrange("out", 0, -1), command
    assert refused > 0, "words sorted as numbers are refused by both"
