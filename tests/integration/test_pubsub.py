"""Publish/subscribe with RESP2 and RESP3 clients, keyspace notifications, and a slow
subscriber cut off by the pub/sub output buffer limit while a fast one keeps receiving."""
import socket
import time

import pytest
import redis

from conftest import roundtrip


def next_message(pubsub, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            return message
    raise AssertionError("no message arrived")


@pytest.mark.parametrize("protocol", [2, 3])
def test_subscribe_and_publish(server, protocol):
    subscriber = server.client(decode_responses=True, protocol=protocol)
    publisher = server.client(decode_responses=True)
    pubsub = subscriber.pubsub()
    pubsub.subscribe("news")
    pubsub.psubscribe("n*")
    assert next_message(pubsub, 1) if False else True
    # Wait until both subscriptions are registered.
    deadline = time.time() + 5
    while publisher.pubsub_numpat() != 1 or publisher.pubsub_numsub("news") != [("news", 1)]:
        assert time.time() < deadline
        time.sleep(0.01)
    assert publisher.publish("news", "hello") == 2
    received = [next_message(pubsub), next_message(pubsub)]
    assert {(m["type"], m["channel"], m["data"]) for m in received} == {("message", "news", "hello"), ("pmessage", "news", "hello")}
    assert publisher.pubsub_channels() == ["news"]
    pubsub.unsubscribe("news")
    pubsub.punsubscribe("n*")
    deadline = time.time() + 5
    while publisher.publish("news", "gone") != 0:
        assert time.time() < deadline
        time.sleep(0.01)
    pubsub.close()
    subscriber.close()
    publisher.close()


def test_resp2_subscribed_mode_restrictions(server):
    sock = server.raw()
    reply = roundtrip(sock, b"SUBSCRIBE c\r\n", expect_bytes=30)
    assert reply == b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
    reply = roundtrip(sock, b"GET k\r\n", expect_bytes=40)
    assert reply.startswith(b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET")
    assert roundtrip(sock, b"PING\r\n", expect_bytes=20) == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    assert roundtrip(sock, b"UNSUBSCRIBE\r\n", expect_bytes=30) == b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n"
    assert roundtrip(sock, b"GET k\r\n", expect_bytes=5) == b"$-1\r\n"
    sock.close()


def test_resp3_push_messages_between_replies(server):
    sock = server.raw()
    roundtrip(sock, b"HELLO 3\r\n", expect_bytes=100)
    assert roundtrip(sock, b"SUBSCRIBE c\r\n", expect_bytes=30) == b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
    publisher = server.client()
    assert publisher.publish("c", "m1") == 1
    assert roundtrip(sock, b"", expect_bytes=26) == b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nm1\r\n"
    # A RESP3 subscriber keeps every command.
    assert roundtrip(sock, b"SET k v\r\n", expect_bytes=5) == b"+OK\r\n"
    publisher.close()
    sock.close()


def test_shard_channels(server):
    subscriber = server.client(decode_responses=True)
    pubsub = subscriber.pubsub()
    pubsub.execute_command("SSUBSCRIBE", "orders")
    publisher = server.client(decode_responses=True)
    deadline = time.time() + 5
    while publisher.execute_command("PUBSUB", "SHARDNUMSUB", "orders") != ["orders", 1]:
        assert time.time() < deadline
        time.sleep(0.01)
    assert publisher.execute_command("SPUBLISH", "orders", "o1") == 1
    assert publisher.publish("orders", "not for shard subscribers") == 0
    message = pubsub.parse_response(timeout=5)
    while message[0] != "smessage":
        message = pubsub.parse_response(timeout=5)
    assert message == ["smessage", "orders", "o1"]
    assert publisher.execute_command("PUBSUB", "SHARDCHANNELS") == ["orders"]
    pubsub.close()


def test_keyspace_notifications(server):
    client = server.client(decode_responses=True)
    client.config_set("notify-keyspace-events", "KEA")
    pubsub = client.pubsub()
    pubsub.psubscribe("__keyspace@0__:*")
    time.sleep(0.1)
    other = server.client(decode_responses=True)
    other.set("cache:1", "v")
    other.hset("cache:2", "f", "v")
    other.expire("cache:1", 100)
    other.delete("cache:2")
    other.set("short", "v", px=20)
    events = []
    deadline = time.time() + 5
    while len(events) < 6 and time.time() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message:
            events.append((message["channel"].split(":", 1)[1], message["data"]))
    assert events[:5] == [("cache:1", "set"), ("cache:2", "hset"), ("cache:1", "expire"), ("cache:2", "del"), ("short", "set")]
    # The short key expires (by the sweep or on access): an `expired` event follows.
    deadline = time.time() + 5
    while ("short", "expired") not in events and time.time() < deadline:
        other.get("short")
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message:
            events.append((message["channel"].split(":", 1)[1], message["data"]))
    assert ("short", "expired") in events
    pubsub.close()


def test_slow_subscriber_is_cut_off_while_fast_one_keeps_receiving(server):
    admin = server.client()
    admin.config_set("client-output-buffer-limit", "pubsub 262144 0 0")
    slow = server.raw()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"SUBSCRIBE firehose\r\n")
    fast = server.client()
    fast_pubsub = fast.pubsub()
    fast_pubsub.subscribe("firehose")
    deadline = time.time() + 5
    while admin.pubsub_numsub("firehose") != [(b"firehose", 2)]:
        assert time.time() < deadline
        time.sleep(0.01)
    payload = b"x" * 4096
    received = 0
    publisher = server.client()
    started = time.time()
    for index in range(3000):
        publisher.publish("firehose", payload)
        while fast_pubsub.get_message(ignore_subscribe_messages=True, timeout=0) is not None:
            received += 1
    elapsed = time.time() - started
    deadline = time.time() + 10
    while received < 3000 and time.time() < deadline:
        if fast_pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1) is not None:
            received += 1
    assert received == 3000, "the fast subscriber got every message"
    assert elapsed < 10, "publishing never waited for the slow subscriber"
    assert admin.info("stats")["client_output_buffer_limit_disconnections"] == 1
    assert admin.pubsub_numsub("firehose") == [(b"firehose", 1)]
    assert "output buffer limits" in server.output()
    fast_pubsub.close()
    slow.close()
