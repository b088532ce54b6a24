"""Start-up, configuration, limits and shutdown of the real binary."""
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

from conftest import BINARY, WharfServer, free_port, roundtrip


def test_version_flag():
    result = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stdout.strip().count(".") == 2


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "'port'"),
    (["--maxclients", "lots"], "'maxclients': argument couldn't be parsed into an integer"),
    (["--no-such-option", "1"], "unknown option '--no-such-option'"),
    (["--hz", "0"], "'hz': argument must be between 1 and 500 inclusive"),
    (["--config", "/nonexistent/wharf.yaml"], "/nonexistent/wharf.yaml"),
])
def test_bad_configuration_stops_startup(args, message):
    data = tempfile.mkdtemp()
    result = subprocess.run([BINARY, "serve", "--port", str(free_port()), "--dir", data, *args],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_port_in_use_is_reported():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    result = subprocess.run([BINARY, "serve", "--port", str(port), "--dir", tempfile.mkdtemp()],
                            capture_output=True, text=True, timeout=30)
    holder.close()
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1 port {port}" in result.stderr


def test_config_file_and_environment():
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "wharf.yaml")
    with open(path, "w") as f:
        f.write("maxclients: 123\nhz: 25\ntimeout: 0\n")
    s = WharfServer(config=path, env={"WHARF_HZ": "30"})
    try:
        client = s.client(decode_responses=True)
        assert client.config_get("maxclients") == {"maxclients": "123"}
        assert client.config_get("hz") == {"hz": "30"}
        assert client.info("server")["config_file"] == path
        client.close()
    finally:
        assert s.stop() == 0


def test_binds_loopback_by_default(epoll_server):
    client = epoll_server.client(decode_responses=True)
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    assert client.client_info()["laddr"].startswith("127.0.0.1:")
    client.close()


@pytest.mark.parametrize("transport", ["epoll", "nio"])
def test_maxclients(transport):
    s = WharfServer("--maxclients", "4", transport=transport)
    try:
        s.wait_for_clients(0)  # the start-up probe's connection has gone
        held = [s.raw() for _ in range(4)]
        for sock in held:
            assert roundtrip(sock, b"PING\r\n", expect_bytes=7) == b"+PONG\r\n"
        extra = s.raw()
        assert roundtrip(extra, b"PING\r\n") == b"-ERR max number of clients reached\r\n"
        extra.close()
        held[0].close()
        # The freed place is reused once the server has seen the close; on a loaded machine
        # that can take a moment, and each attempt before it is one more refusal.
        refused = 0
        deadline = time.time() + 10
        while True:
            again = s.raw()
            reply = roundtrip(again, b"PING\r\n", expect_bytes=7)
            if reply == b"+PONG\r\n":
                break
            assert reply.startswith(b"-ERR max number of clients reached"), reply
            again.close()
            refused += 1
            assert time.time() < deadline, "a closed client's place was never freed"
            time.sleep(0.1)
        again.close()
        for sock in held[1:]:
            sock.close()
        assert f"rejected_connections:{1 + refused}" in s.cli("INFO", "stats").stdout
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("transport", ["epoll", "nio"])
def test_idle_timeout_closes_quiet_clients(transport):
    s = WharfServer("--timeout", "1", transport=transport)
    try:
        idle = s.raw(timeout=5)
        assert roundtrip(idle, b"PING\r\n", expect_bytes=7) == b"+PONG\r\n"
        idle.settimeout(5)
        started = time.time()
        assert idle.recv(10) == b""
        assert 0.9 < time.time() - started < 4
        idle.close()
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("transport", ["epoll", "nio"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_commands_already_read_and_exits_zero(transport, sig):
    s = WharfServer(transport=transport)
    sock = s.raw(timeout=10)
    # A large pipelined batch is in flight when the signal arrives: every command the server
    # has read must be answered completely and in order, then the connection closes cleanly.
    batch = b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n" * 20000
    sock.sendall(batch)
    time.sleep(0.05)
    s.process.send_signal(sig)
    received = b""
    sock.settimeout(10)
    while True:
        data = sock.recv(1 << 16)
        if not data:
            break
        received += data
    sock.close()
    replies = received.split(b"\r\n")
    assert replies[-1] == b"", "no reply was cut in half"
    answered = replies[:-1]
    assert len(answered) > 0
    assert answered == [b":%d" % i for i in range(1, len(answered) + 1)]
    assert s.process.wait(20) == 0
    assert "Wharf stopped" in s.output()
    s.stop()


def test_shutdown_command(epoll_server):
    client = epoll_server.client()
    try:
        client.shutdown()
    except redis.ConnectionError:
        pass
    assert epoll_server.process.wait(20) == 0


def test_data_directory_is_created():
    s = WharfServer()
    try:
        assert os.path.isdir(os.path.join(s.dir, "data"))
    finally:
        assert s.stop() == 0
