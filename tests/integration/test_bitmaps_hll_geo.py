"""Bitmaps, HyperLogLog and geo through redis-py and redis-cli on both transports, and the
same random workloads run against Wharf and a real Redis 7.0 with every answer compared
(bytes of bitmaps and HyperLogLogs included: a HyperLogLog moves between the two as a
string and keeps counting)."""
import random

import pytest
import redis


def test_bitmaps(r):
    assert r.setbit("b", 7, 1) == 0
    assert r.setbit("b", 7, 0) == 1
    r.set("b", "foobar")
    assert r.bitcount("b") == 26
    assert r.bitcount("b", 1, 1) == 6
    assert r.bitcount("b", 5, 30, "BIT") == 17
    assert r.bitpos("b", 1) == 1
    assert r.bitpos("b", 0, 2, -1) == 16
    assert r.bitpos("b", 1, 7, 15, "BIT") == 9
    r.set("x", b"\xff\xf0\x00")
    assert r.bitpos("x", 0) == 12
    assert r.bitpos("missing", 0) == 0
    r.set("a1", "abc")
    r.set("a2", "ab")
    assert r.bitop("AND", "and", "a1", "a2") == 3
    assert r.get("and") == "ab\x00"
    assert r.bitop("XOR", "xor", "a1", "a1") == 3
    assert r.bitop("NOT", "not", "missing") == 0
    assert r.exists("not") == 0
    bf = r.bitfield("f")
    assert bf.set("u8", "#0", 255).incrby("u8", "#0", 10).overflow("SAT").incrby("i8", 8, 200).execute() == [0, 9, 127]
    assert r.bitfield_ro("f", "u8", 0, items=[("u4", 8)]) == [9, 7]
    with pytest.raises(redis.ResponseError, match="bit offset is not an integer or out of range"):
        r.setbit("b", -1, 1)
    r.rpush("list", "a")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.bitcount("list")


def test_hyperloglog(r):
    assert r.pfadd("h", *[f"e{i}" for i in range(1000)]) == 1
    assert abs(r.pfcount("h") - 1000) <= 20
    assert r.pfadd("h2", "x", "y") == 1
    assert r.pfmerge("m", "h", "h2") is True
    assert abs(r.pfcount("m") - 1002) <= 20
    assert r.pfcount("h", "h2") == r.pfcount("m")
    assert r.execute_command("PFSELFTEST") == "OK"
    r.set("s", "plain")
    with pytest.raises(redis.ResponseError, match="not a valid HyperLogLog"):
        r.pfadd("s", "a")


def test_geo(r, r3):
    assert r.geoadd("Sicily", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]) == 2
    assert r.geodist("Sicily", "Palermo", "Catania", "km") == 166.2742
    assert r.geohash("Sicily", "Palermo", "nope") == ["sqc8b49rny0", None]
    assert r.geopos("Sicily", "Palermo")[0] == (13.36138933897018433, 38.11555639549629859)
    assert r3.geopos("Sicily", "Palermo")[0] == [13.36138933897018433, 38.11555639549629859]
    assert r.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km", sort="ASC") == ["Catania", "Palermo"]
    assert r.geosearch("Sicily", member="Palermo", width=400, height=400, unit="km", withdist=True, sort="DESC") == [
        ["Catania", 166.2742], ["Palermo", 0.0]]
    assert r.georadius("Sicily", 15, 37, 100, "km", withcoord=True) == [["Catania", (15.08726745843887329, 37.50266842333162032)]]
    assert r.geosearchstore("near", "Sicily", longitude=15, latitude=37, radius=200, unit="km") == 2
    assert r.zcard("near") == 2
    with pytest.raises(redis.ResponseError, match="invalid longitude,latitude pair"):
        r.geoadd("Sicily", [200, 100, "x"])


def test_cli_formats(server):
    server.cli("GEOADD", "g", "13.361389", "38.115556", "Palermo")
    assert server.cli("GEOPOS", "g", "Palermo").stdout.split() == ["13.36138933897018433", "38.11555639549629859"]
    assert server.cli("BITFIELD", "k", "SET", "i8", "0", "-3", "GET", "i8", "0").stdout.split() == ["0", "-3"]


# --- The same random workloads against Wharf and Redis 7.0 -------------------------------


@pytest.fixture(scope="module")
def pair(shared_server, real_redis):
    w = shared_server.client()
    r = real_redis.client()
    yield w, r
    w.close()
    r.close()


def both(pair, *command):
    w, r = pair
    return w.execute_command(*command), r.execute_command(*command)


def test_hyperloglog_bytes_and_counts_match_redis(pair):
    rng = random.Random(11)
    w, r = pair
    for c in pair:
        c.flushall()
    for trial, size in enumerate([1, 7, 90, 700, 2500, 9000, 40000]):
        elements = [f"u{rng.randrange(10**9)}" for _ in range(size)]
        for c in pair:
            for start in range(0, size, 500):
                c.pfadd(f"h{trial}", *elements[start:start + 500])
        a, b = both(pair, "PFCOUNT", f"h{trial}")
        assert a == b, (trial, size)
        assert w.get(f"h{trial}") == r.get(f"h{trial}"), f"bytes differ after {size} elements"
    assert both(pair, "PFCOUNT", "h2", "h4", "h6")[0] == both(pair, "PFCOUNT", "h2", "h4", "h6")[1]
    a, b = both(pair, "PFMERGE", "m", "h1", "h3", "h5")
    assert a == b and w.get("m") == r.get("m")
    # A sketch made by Redis keeps counting in Wharf, and one made by Wharf in Redis.
    for name, source in (("from_redis", r.get("h4")), ("from_wharf", w.get("h3"))):
        for c in pair:
            c.set(name, source)
            c.pfadd(name, *[f"more{i}" for i in range(300)])
        assert w.get(name) == r.get(name)
        assert w.pfcount(name) == r.pfcount(name)


def test_bit_operations_match_redis(pair):
    rng = random.Random(5)
    w, r = pair
    for _ in range(60):
        for c in pair:
            c.delete("b1", "b2", "dest")
        value = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        for c in pair:
            c.set("b2", value)
        for _ in range(rng.randrange(1, 40)):
            offset, bit = rng.randrange(0, 600), rng.randrange(2)
            a, b = both(pair, "SETBIT", "b1", offset, bit)
            assert a == b
        commands = [("BITCOUNT", "b1"), ("BITCOUNT", "b1", -7, -2), ("BITCOUNT", "b1", 3, 200, "BIT")]
        for bit in (0, 1):
            commands += [("BITPOS", "b1", bit), ("BITPOS", "b1", bit, 2), ("BITPOS", "b1", bit, 1, -3),
                         ("BITPOS", "b1", bit, 9, 140, "BIT"), ("BITPOS", "b2", bit, -4, -1, "BYTE")]
        for op in ("AND", "OR", "XOR"):
            commands.append(("BITOP", op, "dest", "b1", "b2", "missing"))
            commands.append(("GET", "dest"))
        commands += [("BITOP", "NOT", "dest", "b2"), ("GET", "dest"), ("GET", "b1")]
        for command in commands:
            a, b = both(pair, *command)
            assert a == b, command
        fields = []
        for _ in range(8):
            width = rng.randrange(1, 64)
            kind = rng.choice(["i", "u"]) if width < 64 else "i"
            fields += ["OVERFLOW", rng.choice(["WRAP", "SAT", "FAIL"]), rng.choice(["GET", "SET", "INCRBY"]),
                       f"{kind}{width}", rng.choice([str(rng.randrange(300)), f"#{rng.randrange(10)}"])]
            if fields[-3] != "GET":
                fields.append(str(rng.randrange(-2**63, 2**63)))
        a, b = both(pair, "BITFIELD", "b1", *fields)
        assert a == b, fields
        assert w.get("b1") == r.get("b1"), fields


def test_geo_searches_match_redis(pair):
    rng = random.Random(7)
    w, r = pair
    for c in pair:
        c.delete("g", "stored")
    centres = [(13.36, 38.11), (-0.12, 51.5), (151.2, -33.86), (-179.9, 0.1), (2.35, 84.9)]
    points = []
    for i in range(4000):
        if rng.random() < 0.4:
            lon, lat = rng.uniform(-180, 180), rng.uniform(-85.05, 85.05)
        else:
            clon, clat = rng.choice(centres)
            lon = min(180, max(-180, clon + rng.gauss(0, 2)))
            lat = min(85.05, max(-85.05, clat + rng.gauss(0, 1)))
        points += [lon, lat, f"p{i}"]
    for c in pair:
        for start in range(0, len(points), 600):
            c.execute_command("GEOADD", "g", *points[start:start + 600])
    assert w.zrange("g", 0, -1, withscores=True) == r.zrange("g", 0, -1, withscores=True)
    for _ in range(80):
        lon, lat = rng.choice(centres + [(rng.uniform(-180, 180), rng.uniform(-85, 85))])
        unit, meters = rng.choice([("m", 1), ("km", 1000), ("mi", 1609.34), ("ft", 0.3048)])
        radius = rng.choice([0, 2000, 100000, 400000, 2500000, 7000000]) / meters
        options = rng.sample(["WITHCOORD", "WITHDIST", "WITHHASH"], rng.randrange(4))
        options += rng.choice([[], ["ASC"], ["DESC"], ["COUNT", 6], ["COUNT", 4, "DESC"], ["COUNT", 5, "ANY"]])
        shape = ["BYRADIUS", radius, unit] if rng.random() < 0.5 else ["BYBOX", radius * rng.uniform(0.3, 2), radius, unit]
        origin = ["FROMLONLAT", lon, lat] if rng.random() < 0.6 else ["FROMMEMBER", f"p{rng.randrange(4000)}"]
        for command in [("GEOSEARCH", "g", *origin, *shape, *options),
                        ("GEORADIUS_RO", "g", lon, lat, radius, unit, *options),
                        ("GEOSEARCHSTORE", "stored", "g", *origin, *shape, "STOREDIST")]:
            a, b = both(pair, *command)
            assert a == b, command
        assert w.zrange("stored", 0, -1, withscores=True) == r.zrange("stored", 0, -1, withscores=True)
