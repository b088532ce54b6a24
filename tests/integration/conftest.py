"""Fixtures that start the real `wharf` binary on a free port and stop it afterwards.

The binary comes from $WHARF_BINARY (scripts/test points it at the build it just made).
Every server listens on 127.0.0.1 only, in a fresh data directory, and is stopped by the
test that started it; a server that does not exit cleanly on SIGTERM fails the test.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("WHARF_BINARY", os.path.join(ROOT, ".build", "debug", "wharf"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WharfServer:
    def __init__(self, *args, transport="epoll", env=None, config=None, data_dir=None):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="wharf-it-")
        self.log_path = os.path.join(self.dir, "server.log")
        argv = [BINARY, "serve", "--port", str(self.port), "--dir", data_dir or os.path.join(self.dir, "data"),
                "--transport", transport, *args]
        if config:
            argv += ["--config", config]
        if os.environ.get("WHARF_TEST_AGAINST_REDIS"):
            # Checks the tests' expectations against Redis itself (tests of Wharf-only
            # features fail there, as they should).
            argv = ["redis-server", "--port", str(self.port), "--dir", self.dir, "--save", "", "--appendonly", "no"]
        environment = dict(os.environ)
        environment.update(env or {})
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=environment)
        self.wait_ready()

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"wharf exited with {self.process.returncode}:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"wharf did not answer on port {self.port}:\n{self.output()}")

    def wait_for_clients(self, count, timeout=10):
        """Waits until the server counts `count` connected clients besides the one asking."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            info = self.cli("INFO", "clients").stdout
            if f"connected_clients:{count + 1}\n" in info.replace("\r", "") + "\n":
                return
            time.sleep(0.05)
        raise AssertionError(f"server never had {count} other clients")

    def client(self, **options):
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def raw(self, timeout=5):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s

    def cli(self, *args, input=None):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], input=input,
                              capture_output=True, text=True, timeout=60)

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def rss_bytes(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"wharf did not exit within {timeout}s of {sig!r}:\n{self.output()}")
        self.log.close()
        code = self.process.returncode
        shutil.rmtree(self.dir, ignore_errors=True)
        return code


@pytest.fixture(params=["epoll", "nio"])
def server(request):
    """A fresh server, once per transport; stopped with SIGTERM, which must exit 0."""
    s = WharfServer(transport=request.param)
    yield s
    assert s.stop() == 0, s.output()


@pytest.fixture
def epoll_server():
    """A fresh server on the default transport only, for tests that need no transport matrix."""
    s = WharfServer()
    yield s
    assert s.stop() == 0, s.output()


@pytest.fixture
def r(server):
    client = server.client(decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def r3(server):
    client = server.client(decode_responses=True, protocol=3)
    yield client
    client.close()


def roundtrip(sock, data, expect_bytes=None, timeout=5):
    """Sends raw bytes and returns what the server answers (until it stops sending)."""
    sock.settimeout(timeout)
    sock.sendall(data)
    chunks = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if expect_bytes is not None and sum(map(len, chunks)) >= expect_bytes:
            break
        sock.settimeout(0.3)
    return b"".join(chunks)


class RedisServer:
    """A real `redis-server` (Debian's, 7.0) on a free loopback port, for comparing answers."""

    def __init__(self, *args, dir=None):
        self.port = free_port()
        # A directory given by the caller is the caller's to remove.
        self.owns_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="wharf-it-redis-")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", "--appendonly", "no", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if redis.Redis(port=self.port).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def client(self, **options):
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def real_redis():
    """Redis 7.0 itself, once per module: the reference the answers are compared with."""
    s = RedisServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def shared_server():
    """One Wharf server for a whole module of tests that do not need a fresh one."""
    s = WharfServer()
    yield s
    assert s.stop() == 0, s.output()
