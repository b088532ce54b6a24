"""Every blocking command against every way its key can disappear or change type, with
the outcome Redis 7.0 gives (read off redis-server 7.0.15): list and sorted-set pops and
XREAD keep waiting; XREADGROUP is told its stream is gone (UNBLOCKED) or its group is
(NOGROUP); a stream renamed onto the key keeps a group reader waiting."""
import socket
import time

import pytest

from conftest import WharfServer

BLOCKERS = {
    "BLPOP": ([["RPUSH", "other", "x"]], ["BLPOP", "k", "0"]),
    "BLMOVE": ([["RPUSH", "other", "x"]], ["BLMOVE", "k", "dst", "LEFT", "LEFT", "0"]),
    "BZPOPMIN": ([["ZADD", "other", "1", "x"]], ["BZPOPMIN", "k", "0"]),
    "XREAD": ([["XADD", "k", "1-1", "f", "v"], ["XADD", "other", "1-1", "f", "v"]],
              ["XREAD", "BLOCK", "0", "STREAMS", "k", "$"]),
    "XREADGROUP": ([["XADD", "k", "1-1", "f", "v"], ["XGROUP", "CREATE", "k", "g", "$"],
                    ["XADD", "other", "1-1", "f", "v"], ["XGROUP", "CREATE", "other", "g", "$"]],
                   ["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "k", ">"]),
}

EVENTS = {
    "set-over": [["SET", "k", "str"]],
    "del": [["DEL", "k"]],
    "rename-onto": [["RENAME", "other", "k"]],
    "rename-away": [["RENAME", "k", "x"]],
    "flushall": [["FLUSHALL"]],
    "flushdb": [["FLUSHDB"]],
    "swapdb": [["SWAPDB", "0", "1"]],
    "expire": [["PEXPIRE", "k", "1"]],
    "group-destroyed": [["XGROUP", "DESTROY", "k", "g"]],
}

GONE = b"-UNBLOCKED the stream key no longer exists\r\n"
WAITING = b"(still blocked)"
EXPECTED = {
    ("BLPOP", "set-over"): WAITING, ("BLPOP", "rename-onto"): b"*2\r\n$1\r\nk\r\n$1\r\nx\r\n",
    ("BLPOP", "flushall"): WAITING, ("BLPOP", "flushdb"): WAITING, ("BLPOP", "swapdb"): WAITING,
    ("BLMOVE", "set-over"): WAITING, ("BLMOVE", "rename-onto"): b"$1\r\nx\r\n",
    ("BLMOVE", "flushall"): WAITING, ("BLMOVE", "flushdb"): WAITING, ("BLMOVE", "swapdb"): WAITING,
    ("BZPOPMIN", "set-over"): WAITING, ("BZPOPMIN", "rename-onto"): b"*3\r\n$1\r\nk\r\n$1\r\nx\r\n$1\r\n1\r\n",
    ("BZPOPMIN", "flushall"): WAITING, ("BZPOPMIN", "flushdb"): WAITING, ("BZPOPMIN", "swapdb"): WAITING,
    ("XREAD", "set-over"): WAITING, ("XREAD", "del"): WAITING, ("XREAD", "rename-onto"): WAITING,
    ("XREAD", "rename-away"): WAITING, ("XREAD", "flushall"): WAITING, ("XREAD", "flushdb"): WAITING,
    ("XREAD", "swapdb"): WAITING, ("XREAD", "expire"): WAITING,
    ("XREADGROUP", "set-over"): GONE, ("XREADGROUP", "del"): GONE, ("XREADGROUP", "rename-onto"): WAITING,
    ("XREADGROUP", "rename-away"): GONE, ("XREADGROUP", "flushall"): GONE, ("XREADGROUP", "flushdb"): GONE,
    ("XREADGROUP", "swapdb"): GONE, ("XREADGROUP", "expire"): GONE,
    ("XREADGROUP", "group-destroyed"): b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n",
}


@pytest.fixture(scope="module")
def blocking_server():
    s = WharfServer()
    yield s
    assert s.stop() == 0, s.output()


def command(parts):
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p.encode()) for p in parts)


@pytest.mark.parametrize("blocker, event", sorted(EXPECTED))
def test_blocked_client_when_key_changes(blocking_server, blocker, event):
    client = blocking_server.client()
    client.flushall()
    setup, block = BLOCKERS[blocker]
    for parts in setup:
        client.execute_command(*parts)
    waiter = socket.create_connection(("127.0.0.1", blocking_server.port), timeout=3)
    waiter.sendall(command(block))
    blocking_server.wait_for_clients(2)
    for parts in EVENTS[event]:
        client.execute_command(*parts)
    # An expired key goes in the background sweep, a few cron ticks later.
    waiter.settimeout(2.0 if event == "expire" else 0.6)
    try:
        received = waiter.recv(1000)
    except socket.timeout:
        received = WAITING
    waiter.close()
    client.close()
    assert received == EXPECTED[(blocker, event)]
