"""redis-cli, redis-benchmark, raw RESP and inline commands, pipelining, and every kind of
bad input the foundation must answer with a clear error while staying healthy."""
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import roundtrip


def test_redis_cli_session(server):
    assert server.cli("PING").stdout.strip() == "PONG"
    assert server.cli("SET", "greeting", "hello world").stdout.strip() == "OK"
    assert server.cli("GET", "greeting").stdout.strip() == "hello world"
    assert server.cli("INCR", "visits").stdout.strip() == "1"
    assert server.cli("EXPIRE", "greeting", "60").stdout.strip() == "1"
    assert server.cli("TTL", "greeting").stdout.strip() == "60"
    assert server.cli("--raw", "DBSIZE").stdout.strip() == "2"
    assert "redis_version:7.0.15" in server.cli("INFO", "server").stdout
    docs = server.cli("COMMAND", "DOCS", "get").stdout
    assert "Returns the string value of a key." in docs
    assert server.cli("-3", "HELLO", "3").stdout.count("proto") == 1
    # redis-cli reads commands from standard input too.
    result = server.cli(input="SET a 1\nINCRBY a 41\nGET a\n")
    assert result.stdout.split() == ["OK", "42", "42"]


def test_redis_cli_pipe_mode(server):
    commands = "".join(f"SET key:{i} {i}\r\n" for i in range(1000))
    result = server.cli("--pipe", input=commands)
    assert "errors: 0, replies: 1000" in result.stdout
    assert server.cli("DBSIZE").stdout.strip() == "1000"


def test_redis_benchmark_runs_clean(server):
    result = subprocess.run(["redis-benchmark", "-p", str(server.port), "-q", "-n", "2000", "-c", "10",
                             "-P", "8", "-t", "ping,set,get,incr,mset"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for test in ["SET", "GET", "INCR", "MSET"]:
        assert f"{test}" in result.stdout and "requests per second" in result.stdout


def test_pipelining_with_redis_py(r):
    pipe = r.pipeline(transaction=False)
    for i in range(5000):
        pipe.set(f"p:{i}", i)
        pipe.incr("counter")
    results = pipe.execute()
    assert results[-1] == 5000
    assert len(results) == 10000
    pipe = r.pipeline(transaction=False)
    for i in range(5000):
        pipe.get(f"p:{i}")
    assert pipe.execute() == [str(i) for i in range(5000)]


def test_raw_pipeline_split_across_packets(server):
    sock = server.raw()
    payload = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n"
    for byte in payload:
        sock.sendall(bytes([byte]))
    assert roundtrip(sock, b"", expect_bytes=24) == b"+OK\r\n$5\r\nvalue\r\n+PONG\r\n"
    sock.close()


def test_inline_commands_like_telnet(server):
    sock = server.raw()
    assert roundtrip(sock, b'SET "a key" "quoted \\"value\\""\r\nGET "a key"\r\nping\n', expect_bytes=28) == \
        b'+OK\r\n$14\r\nquoted "value"\r\n+PONG\r\n'
    sock.close()


def test_null_bytes_and_crlf_round_trip_over_resp(server):
    sock = server.raw()
    key = b"k\x00\r\n"
    value = b"\r\n\x00\r\n$-1\r\n"
    command = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
    assert roundtrip(sock, command, expect_bytes=5) == b"+OK\r\n"
    reply = roundtrip(sock, b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key), expect_bytes=len(value) + 6)
    assert reply == b"$%d\r\n%s\r\n" % (len(value), value)
    sock.close()


def assert_healthy(server):
    client = server.client()
    assert client.ping() is True
    client.close()


@pytest.mark.parametrize("payload, error", [
    (b"*3000000000\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$-2\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$abc\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$999999999999\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*2\r\n+OK\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
    (b"SET \"unbalanced\r\n", b"-ERR Protocol error: unbalanced quotes in request\r\n"),
])
def test_protocol_errors_close_the_connection(server, payload, error):
    sock = server.raw()
    assert roundtrip(sock, b"PING\r\n" + payload) == b"+PONG\r\n" + error
    assert sock.recv(10) == b""  # closed by the server
    sock.close()
    assert_healthy(server)


def test_null_and_empty_arrays_are_ignored(server):
    sock = server.raw()
    assert roundtrip(sock, b"*0\r\n*-1\r\n*-10\r\nPING\r\n", expect_bytes=7) == b"+PONG\r\n"
    sock.close()


def test_bytes_after_a_bulk_are_skipped_unchecked_as_in_redis(server):
    sock = server.raw()
    assert roundtrip(sock, b"*1\r\n$4\r\nPINGxxPING\r\n", expect_bytes=14) == b"+PONG\r\n+PONG\r\n"
    sock.close()


def test_unterminated_inline_line_over_the_limit(server):
    sock = server.raw()
    reply = roundtrip(sock, b"a" * (70 * 1024))
    assert reply == b"-ERR Protocol error: too big inline request\r\n"
    sock.close()
    assert_healthy(server)


def test_client_sending_100mb_without_newlines(server):
    sock = server.raw(timeout=10)
    chunk = b"x" * (1 << 20)
    received = b""
    try:
        for _ in range(100):
            sock.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        sock.settimeout(5)
        while True:
            data = sock.recv(4096)
            if not data:
                break
            received += data
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    assert received in (b"", b"-ERR Protocol error: too big inline request\r\n")
    assert server.rss_bytes() < 200 * 1024 * 1024
    assert_healthy(server)


def test_query_buffer_limit_on_a_huge_bulk(server):
    client = server.client()
    client.config_set("client-query-buffer-limit", "1mb")
    client.close()
    sock = server.raw(timeout=10)
    reply = b""
    try:
        sock.sendall(b"*2\r\n$4\r\nECHO\r\n$4000000\r\n")
        for _ in range(4):
            sock.sendall(b"y" * 1_000_000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        sock.settimeout(5)
        while True:
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    assert reply in (b"", b"-ERR Protocol error: client query buffer exceeds client-query-buffer-limit (1048576 bytes)\r\n")
    assert_healthy(server)


def test_client_that_never_reads_replies(server):
    """A client pipelining GETs of a 1 MB value and never reading: the server stops reading
    from it instead of buffering gigabytes, and keeps serving everyone else."""
    client = server.client()
    client.set("big", b"v" * (1 << 20))
    baseline = server.rss_bytes()
    sock = server.raw(timeout=2)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 1000
    sent = 0
    try:
        for _ in range(2000):  # up to 2 million GETs: 2 TB of replies if nothing pushed back
            sock.sendall(request)
            sent += 1
    except (socket.timeout, BlockingIOError):
        pass
    assert sent < 2000, "the server kept reading from a client that never reads"
    assert client.ping() is True
    assert client.get("missing") is None
    growth = server.rss_bytes() - baseline
    assert growth < 64 * 1024 * 1024, f"server grew {growth} bytes for a non-reading client"
    sock.close()
    client.close()
    assert_healthy(server)


@pytest.mark.parametrize("command, error", [
    (["NOSUCH", "a", "b"], "unknown command 'NOSUCH', with args beginning with: 'a' 'b' "),
    (["GET"], "wrong number of arguments for 'get' command"),
    (["INCRBY", "n", "1.5"], "value is not an integer or out of range"),
    (["EXPIRE", "k", "99999999999999999999"], "value is not an integer or out of range"),
    (["PEXPIREAT", "k", "9223372036854775807", "GT", "LT"], "GT and LT options at the same time are not compatible"),
    (["SET", "k", "v", "KEEPTTL", "PX", "5"], "syntax error"),
    (["GETEX", "k", "EXAT", "-5"], "invalid expire time in 'getex' command"),
])
def test_command_errors_match_redis(r, command, error):
    r.set("k", "v")
    with pytest.raises(redis.ResponseError) as raised:
        r.execute_command(*command)
    assert str(raised.value) == error
    assert r.ping() is True


def test_many_concurrent_clients(server):
    errors = []

    def worker(index):
        try:
            client = server.client()
            for i in range(200):
                client.incr("shared")
                client.set(f"w{index}:{i}", i)
            client.close()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    client = server.client()
    assert client.get("shared") == b"4000"
    assert client.dbsize() == 4001
    client.close()
