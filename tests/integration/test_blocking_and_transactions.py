"""Blocking list and sorted-set commands with several clients, and MULTI/EXEC/WATCH
races between clients, against the built binary on both transports."""
import threading
import time

import pytest
import redis


def blocked_call(server, *command, results, index, timeout=10):
    client = server.client(decode_responses=True, socket_timeout=timeout)
    try:
        results[index] = client.execute_command(*command)
    except redis.ResponseError as error:
        results[index] = error
    finally:
        client.close()


def wait_blocked(r, count, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if r.info("clients")["blocked_clients"] == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"never saw {count} blocked clients")


def test_blocked_clients_are_served_in_arrival_order(server, r):
    results = [None] * 3
    threads = []
    for index in range(3):
        thread = threading.Thread(target=blocked_call, args=(server, "BLPOP", "jobs", "0"), kwargs={"results": results, "index": index})
        thread.start()
        threads.append(thread)
        wait_blocked(r, index + 1)
    assert "b" in r.client_list()[0]["flags"] or any("b" in c["flags"] for c in r.client_list())
    r.rpush("jobs", "one", "two", "three")
    for thread in threads:
        thread.join(10)
    assert [list(result) for result in results] == [["jobs", "one"], ["jobs", "two"], ["jobs", "three"]]
    assert r.exists("jobs") == 0
    assert r.info("clients")["blocked_clients"] == 0


def test_blocking_timeouts_are_precise(r):
    started = time.time()
    assert r.blpop(["nothing"], timeout=0.2) is None
    elapsed = time.time() - started
    assert 0.18 <= elapsed < 0.6, elapsed
    started = time.time()
    assert r.execute_command("BZPOPMIN", "nothing", "0.05") is None
    assert time.time() - started < 0.5
    assert r.execute_command("BLMOVE", "a", "b", "LEFT", "LEFT", "0.01") is None
    assert r.execute_command("BLMPOP", "0.01", "1", "x", "LEFT") is None


def test_blocked_client_keeps_pipelined_commands_for_later(server, r):
    sock = server.raw()
    sock.sendall(b"BLPOP q 0\r\nPING\r\n")
    wait_blocked(r, 1)
    r.rpush("q", "x")
    data = b""
    deadline = time.time() + 5
    while b"+PONG" not in data and time.time() < deadline:
        data += sock.recv(1024)
    assert data == b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n+PONG\r\n"
    sock.close()


def test_disconnected_waiter_is_not_served(server, r):
    sock = server.raw()
    sock.sendall(b"BLPOP q 0\r\n")
    wait_blocked(r, 1)
    sock.close()
    wait_blocked(r, 0)
    r.rpush("q", "kept")
    assert r.lrange("q", 0, -1) == ["kept"]


def test_brpoplpush_blmove_bzpop_and_bzmpop_wake_up(server, r):
    results = [None] * 4
    commands = [("BRPOPLPUSH", "src1", "dst1", "0"), ("BLMOVE", "src2", "dst2", "RIGHT", "LEFT", "0"),
                ("BZPOPMAX", "z1", "0"), ("BZMPOP", "0", "1", "z2", "MIN", "COUNT", "2")]
    threads = [threading.Thread(target=blocked_call, args=(server, *command), kwargs={"results": results, "index": i})
               for i, command in enumerate(commands)]
    for thread in threads:
        thread.start()
    wait_blocked(r, 4)
    r.rpush("src1", "a")
    r.rpush("src2", "b")
    r.zadd("z1", {"m": 1, "n": 2})
    r.zadd("z2", {"p": 1, "q": 2, "s": 3})
    for thread in threads:
        thread.join(10)
    assert results[0] == "a" and r.lrange("dst1", 0, -1) == ["a"]
    assert results[1] == "b" and r.lrange("dst2", 0, -1) == ["b"]
    assert list(results[2]) == ["z1", "n", 2.0]
    key, popped = results[3]
    assert (key, [(member, float(score)) for member, score in popped]) == ("z2", [("p", 1.0), ("q", 2.0)])


def test_exec_and_rename_wake_blocked_clients(server, r):
    results = [None] * 2
    threads = [threading.Thread(target=blocked_call, args=(server, "BLPOP", key, "0"), kwargs={"results": results, "index": i})
               for i, key in enumerate(["via-exec", "via-rename"])]
    for thread in threads:
        thread.start()
    wait_blocked(r, 2)
    pipe = r.pipeline(transaction=True)
    pipe.rpush("via-exec", "x")
    pipe.execute()
    r.rpush("staging", "y")
    r.rename("staging", "via-rename")
    for thread in threads:
        thread.join(10)
    assert [list(result) for result in results] == [["via-exec", "x"], ["via-rename", "y"]]


def test_multi_exec(r):
    pipe = r.pipeline(transaction=True)
    pipe.set("a", 1).incr("a").lpush("a", "x").get("a")
    result = pipe.execute(raise_on_error=False)
    assert result[:2] == [True, 2]
    assert isinstance(result[2], redis.ResponseError)
    assert result[3] == "2"
    with pytest.raises(redis.exceptions.ExecAbortError, match="Transaction discarded because of previous errors"):
        r.execute_command("MULTI")
        try:
            r.execute_command("NOSUCHCOMMAND")
        except redis.ResponseError:
            pass
        r.execute_command("EXEC")


def test_watch_race_between_clients(server):
    """Many clients increment one counter with WATCH/MULTI/EXEC retries: no update is lost."""
    def worker(count):
        client = server.client(decode_responses=True)
        for _ in range(count):
            while True:
                try:
                    with client.pipeline() as pipe:
                        pipe.watch("counter")
                        value = int(pipe.get("counter") or 0)
                        pipe.multi()
                        pipe.set("counter", value + 1)
                        pipe.execute()
                        break
                except redis.WatchError:
                    continue
        client.close()

    threads = [threading.Thread(target=worker, args=(50,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert server.client().get("counter") == b"300"


def test_watch_sees_expiry_and_flush(r):
    r.set("k", "v", px=50)
    pipe = r.pipeline()
    pipe.watch("k")
    time.sleep(0.1)
    pipe.multi()
    pipe.set("out", "1")
    with pytest.raises(redis.WatchError):
        pipe.execute()
    pipe.reset()
    r.set("k", "v")
    pipe.watch("k")
    r.flushdb()
    pipe.multi()
    pipe.set("out", "1")
    with pytest.raises(redis.WatchError):
        pipe.execute()
    assert r.exists("out") == 0


def test_exec_is_atomic_for_other_clients(server, r):
    """While transactions move units between two keys, no reader ever sees a partial move."""
    r.mset({"left": 1000, "right": 0})
    stop = threading.Event()
    bad = []

    def reader():
        client = server.client()
        while not stop.is_set():
            left, right = client.mget("left", "right")
            if int(left) + int(right) != 1000:
                bad.append((left, right))
        client.close()

    thread = threading.Thread(target=reader)
    thread.start()
    for _ in range(300):
        pipe = r.pipeline(transaction=True)
        pipe.decr("left").incr("right")
        pipe.execute()
    stop.set()
    thread.join(10)
    assert bad == []
    assert r.mget("left", "right") == ["700", "300"]


def test_client_unblock(server, r):
    results = [None] * 2
    ids = []
    for index in range(2):
        thread = threading.Thread(target=blocked_call, args=(server, "BLPOP", f"never{index}", "0"), kwargs={"results": results, "index": index})
        thread.start()
        wait_blocked(r, index + 1)
        ids.append(thread)
    blocked = [c["id"] for c in r.client_list() if "b" in c["flags"]]
    assert len(blocked) == 2
    assert r.client_unblock(blocked[0]) == 1
    assert r.client_unblock(blocked[1], error=True) == 1
    assert r.client_unblock(blocked[1]) == 0
    for thread in ids:
        thread.join(10)
    assert results[0] is None
    assert str(results[1]) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    assert r.info("clients")["blocked_clients"] == 0
