"""Durability against the real binary: restarts, kill -9 crash cycles under concurrent
writers (appendfsync always and everysec), backups under load, damaged and torn logs, and
a full disk."""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import redis

from conftest import BINARY, WharfServer, free_port

CRASH_CYCLES = int(os.environ.get("WHARF_CRASH_CYCLES", "20"))


class DataServer(WharfServer):
    """A server whose data directory outlives it, for restarts."""

    def __init__(self, data_dir, *args, **kwargs):
        self.data_dir = data_dir
        super().__init__(*args, **kwargs)

    def __getattribute__(self, name):
        return object.__getattribute__(self, name)


def start(data_dir, *args, expect_failure=False):
    port = free_port()
    log_path = data_dir.rstrip("/") + f".{port}.log"
    log = open(log_path, "w")
    process = subprocess.Popen([BINARY, "serve", "--port", str(port), "--dir", data_dir, *args],
                               stdout=log, stderr=subprocess.STDOUT)
    if expect_failure:
        process.wait(60)
        log.close()
        return process.returncode, open(log_path).read()
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(open(log_path).read())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            time.sleep(0.05)
    return Running(process, port, log, log_path)


class Running:
    def __init__(self, process, port, log, log_path):
        self.process, self.port, self.log, self.log_path = process, port, log, log_path

    def client(self, **options):
        return redis.Redis(port=self.port, **options)

    def output(self):
        self.log.flush()
        return open(self.log_path).read()

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.log.close()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self.log.close()
        return code


# --- a tiny raw client, so nothing retries or pipelines behind our back ---

def command(sock, *args):
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    sock.sendall(b"".join(parts))
    reader = sock.makefile("rb")
    line = reader.readline()
    if not line:
        raise ConnectionError("closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"$":
        length = int(rest)
        if length < 0:
            return None
        data = reader.read(length + 2)[:-2]
        return data.decode()
    if kind == b":":
        return int(rest)
    if kind == b"-":
        raise redis.ResponseError(rest.decode())
    return rest.decode()


class Writer(threading.Thread):
    """Performs random operations on its own keys, one at a time, recording what was
    acknowledged and what was in flight when the server died."""

    def __init__(self, port, name, model, rng):
        super().__init__(daemon=True)
        self.port, self.name, self.model, self.rng = port, name, model, rng
        self.in_flight = None
        self.stop = False

    def run(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        except OSError:
            return
        n = 0
        try:
            while not self.stop:
                n += 1
                op = self.rng.choice(["set", "set", "incr", "append", "expire", "persist", "del"])
                key = f"{self.name}:{op if op in ('incr', 'append') else self.rng.randint(0, 9)}"
                if op == "set":
                    value = f"{self.name}-{n}"
                    self.in_flight = (key, ("value", value))
                    command(sock, "SET", key, value)
                elif op == "incr":
                    current = self.model.get(key, ("value", None))[1]
                    nxt = str(int(current or 0) + 1) if current is None or current.lstrip("-").isdigit() else None
                    if nxt is None:
                        continue
                    self.in_flight = (key, ("value", nxt))
                    command(sock, "INCR", key)
                elif op == "append":
                    current = self.model.get(key, ("value", None))[1] or ""
                    self.in_flight = (key, ("value", current + f"[{n}]"))
                    command(sock, "APPEND", key, f"[{n}]")
                elif op == "expire":
                    if self.model.get(key, ("value", None))[1] is None:
                        continue
                    self.in_flight = (key, ("value+ttl", self.model[key][1]))
                    command(sock, "EXPIRE", key, 100000)
                elif op == "persist":
                    if self.model.get(key, ("value", None))[1] is None:
                        continue
                    self.in_flight = (key, ("value", self.model[key][1]))
                    command(sock, "PERSIST", key)
                else:
                    self.in_flight = (key, ("value", None))
                    command(sock, "DEL", key)
                key, state = self.in_flight
                self.model[key] = state
                self.in_flight = None
        except (OSError, ConnectionError):
            pass


def observe(client, key):
    value = client.get(key)
    ttl = client.ttl(key)
    text = value.decode() if value is not None else None
    return ("value+ttl", text) if ttl > 0 else ("value", text)


def check_models(client, writers_models, in_flight):
    """Every key matches what was acknowledged, or the operation in flight at the crash."""
    for name, model in writers_models.items():
        for key, expected in model.items():
            seen = observe(client, key)
            allowed = [expected]
            if in_flight.get(name) and in_flight[name][0] == key:
                allowed.append(in_flight[name][1])
            # TTL presence matters only for keys that exist.
            normalized = [(s[0] if s[1] is not None else "value", s[1]) for s in allowed]
            observed = (seen[0] if seen[1] is not None else "value", seen[1])
            assert observed in normalized, \
                f"{key}: server has {seen}, acknowledged {expected}, in flight {in_flight.get(name)}"
            # The operation in flight may have been applied; later cycles build on what is there.
            model[key] = seen
        in_flight_key = in_flight.get(name)
        if in_flight_key and in_flight_key[0] not in model:
            seen = observe(client, in_flight_key[0])
            assert seen[1] in (None, in_flight_key[1][1]), f"{in_flight_key[0]} half-applied: {seen}"
            model[in_flight_key[0]] = seen


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_kill_9_never_loses_an_acknowledged_write(policy):
    data_dir = tempfile.mkdtemp(prefix=f"wharf-crash-{policy}-")
    rng = random.Random(hash(policy) & 0xFFFF)
    models = {f"w{i}": {} for i in range(4)}
    in_flight = {}
    try:
        for cycle in range(CRASH_CYCLES):
            server = start(data_dir, "--appendfsync", policy)
            client = server.client()
            check_models(client, models, in_flight)
            client.close()
            writers = [Writer(server.port, name, models[name], random.Random(rng.random())) for name in models]
            for w in writers:
                w.start()
            time.sleep(rng.uniform(0.05, 0.4))
            if cycle % 5 == 4:
                # Crash while a snapshot is being taken, too.
                try:
                    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
                        command(s, "BGSAVE")
                except (OSError, redis.ResponseError):
                    pass
                time.sleep(rng.uniform(0, 0.05))
            server.kill()
            for w in writers:
                w.stop = True
                w.join(10)
            in_flight = {w.name: w.in_flight for w in writers}
        server = start(data_dir, "--appendfsync", policy)
        client = server.client()
        check_models(client, models, in_flight)
        assert sum(len(m) for m in models.values()) > 0
        client.close()
        assert server.stop() == 0
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


class PipelinedWriter(threading.Thread):
    """Sends SETs of numbered keys in pipelined batches big enough (well over 16 KB) that the
    server hands their sync to its flusher while it keeps serving; records the highest
    number whose batch was fully acknowledged."""

    BATCH = 200

    def __init__(self, port, name, start_at):
        super().__init__(daemon=True)
        self.port, self.name = port, name
        self.next = start_at
        self.acknowledged = start_at - 1
        self.stop = False

    @staticmethod
    def value(name, n):
        return f"{name}-{n}-".ljust(120, "v")

    def run(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        except OSError:
            return
        try:
            while not self.stop:
                first = self.next
                batch = b"".join(
                    b"*3\r\n$3\r\nSET\r\n" + b"".join(
                        b"$%d\r\n%s\r\n" % (len(part), part)
                        for part in (f"{self.name}:{n}".encode(), self.value(self.name, n).encode()))
                    for n in range(first, first + self.BATCH))
                sock.sendall(batch)
                expected = b"+OK\r\n" * self.BATCH
                received = b""
                while len(received) < len(expected):
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    received += chunk
                assert received == expected
                self.next = first + self.BATCH
                self.acknowledged = self.next - 1
        except OSError:
            pass


SMALL_SEGMENTS = ("--wal-segment-size", "1mb", "--auto-aof-rewrite-min-size", "2mb", "--auto-aof-rewrite-percentage", "50")


@pytest.mark.parametrize("segments", ["default", "small"])
def test_kill_9_with_pipelined_batches_keeps_every_acknowledged_batch(segments):
    """With appendfsync always, large pipelined batches are synced by the flusher while the
    loop serves the next ones: every acknowledged SET survives kill -9, and what survives
    of each writer's keys is a prefix (the log keeps their order). With small segments the
    log rotates and compacts all the time, so crashes land in segments that reuse the files
    of older ones, their old records still behind the new."""
    data_dir = tempfile.mkdtemp(prefix="wharf-crash-pipelined-")
    rng = random.Random(7)
    names = [f"p{i}" for i in range(3)]
    acknowledged = {name: -1 for name in names}
    options = ("--appendfsync", "always") + (SMALL_SEGMENTS if segments == "small" else ())
    reused = 0
    try:
        for cycle in range(max(3, CRASH_CYCLES // 4)):
            server = start(data_dir, *options)
            client = server.client()
            for name in names:
                present = acknowledged[name]
                while client.exists(f"{name}:{present + 1}"):
                    present += 1
                for n in range(0, acknowledged[name] + 1, 37):
                    assert client.get(f"{name}:{n}") == PipelinedWriter.value(name, n).encode(), f"{name}:{n} lost"
                if acknowledged[name] >= 0:
                    assert client.get(f"{name}:{acknowledged[name]}") is not None, f"{name}:{acknowledged[name]} lost"
                # Nothing after a gap: the writer's keys present form a prefix.
                assert not client.exists(f"{name}:{present + 2}"), f"{name}: keys after a gap at {present + 1}"
                acknowledged[name] = present
            client.close()
            writers = [PipelinedWriter(server.port, name, acknowledged[name] + 1) for name in names]
            for w in writers:
                w.start()
            time.sleep(rng.uniform(0.2, 0.5))
            if segments == "small":
                time.sleep(0.3)
                reused += int(server.client().info("persistence")["wal_segments_reused"])
            server.kill()
            for w in writers:
                w.stop = True
                w.join(10)
            for w in writers:
                assert w.acknowledged > acknowledged[w.name], f"{w.name} got no batch acknowledged in cycle {cycle}"
                acknowledged[w.name] = w.acknowledged
        if segments == "small":
            assert reused > 0, "no segment reused an obsolete file"
        server = start(data_dir, *options)
        client = server.client()
        for name in names:
            assert client.get(f"{name}:{acknowledged[name]}") is not None, f"{name}:{acknowledged[name]} lost"
        client.close()
        assert server.stop() == 0
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_restart_keeps_everything_and_reports_loading(tmp_path):
    data_dir = str(tmp_path / "data")
    server = start(data_dir)
    client = server.client(decode_responses=True)
    client.set("s", "v", ex=1000)
    client.incrby("n", 41)
    client.append("a", "xy")
    client.execute_command("SELECT", 5)
    client.set("db5", "yes")
    client.execute_command("SELECT", 0)
    assert client.save() is True
    client.set("after", "save")
    client.close()
    assert server.stop() == 0
    server = start(data_dir)
    client = server.client(decode_responses=True)
    assert client.get("s") == "v" and 990 < client.ttl("s") <= 1000
    assert client.get("n") == "41" and client.get("a") == "xy" and client.get("after") == "save"
    client.execute_command("SELECT", 5)
    assert client.get("db5") == "yes"
    info = client.info("persistence")
    assert info["aof_enabled"] == 1 and info["loading_keys"] == 5 and info["loading_log_records"] == 1
    assert "Data loaded: loaded 4 keys" in server.output()
    assert client.lastsave() .timestamp() > time.time() - 60
    assert client.bgrewriteaof() is True
    client.close()
    assert server.stop() == 0


def test_config_set_appendfsync_and_bgsave(tmp_path):
    server = start(str(tmp_path / "data"))
    client = server.client(decode_responses=True)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_set("appendfsync", "always") is True
    assert client.info("persistence")["wal_fsync_policy"] == "always"
    for i in range(100):
        client.set(f"k{i}", i)
    assert client.info("persistence")["wal_fsync_lag_bytes"] == 0
    with pytest.raises(redis.ResponseError, match="argument\\(s\\) must be one of the following: always, everysec, no"):
        client.config_set("appendfsync", "sometimes")
    assert client.bgsave() is True
    client.close()
    assert server.stop() == 0


def test_backup_under_write_load_restores_consistently(tmp_path):
    source = start(str(tmp_path / "source"))
    stop = threading.Event()
    errors = []

    def writer(index):
        try:
            sock = socket.create_connection(("127.0.0.1", source.port), timeout=10)
            n = 0
            while not stop.is_set():
                n += 1
                # Atomic across shards: a consistent snapshot always sees both equal.
                command(sock, "MSET", f"a{index}", n, f"b{index}", n, f"pad{index}:{n % 200}", "x" * 200)
            sock.close()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    backup = str(tmp_path / "backup.wsnap")
    result = subprocess.run([BINARY, "backup", "--to", backup, "--port", str(source.port)], capture_output=True, text=True, timeout=120)
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert result.returncode == 0, result.stderr
    assert "backup written to" in result.stdout
    assert source.stop() == 0
    target = str(tmp_path / "restored")
    restored = subprocess.run([BINARY, "restore", backup, "--dir", target], capture_output=True, text=True, timeout=60)
    assert restored.returncode == 0, restored.stderr
    again = subprocess.run([BINARY, "restore", backup, "--dir", target], capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "already holds data" in again.stderr
    server = start(target)
    client = server.client(decode_responses=True)
    for i in range(4):
        a, b = client.get(f"a{i}"), client.get(f"b{i}")
        assert a is not None and a == b, f"writer {i}: a={a} b={b}"
    assert client.dbsize() > 8
    client.close()
    assert server.stop() == 0


def last_segment(data_dir):
    return sorted(p for p in os.listdir(data_dir) if p.startswith("wal-"))[-1]


def test_torn_tail_is_truncated_and_reported(tmp_path):
    data_dir = str(tmp_path / "data")
    server = start(data_dir, "--save", "")
    client = server.client()
    for i in range(100):
        client.set(f"k{i}", i)
    end = client.info("persistence")["wal_written_lsn"]
    client.close()
    server.kill()
    name = last_segment(data_dir)
    path = os.path.join(data_dir, name)
    good = 16 + end - int(name[4:20], 16)
    # The crash cut a record short: its header and a few bytes made it, the rest did not.
    with open(path, "r+b") as f:
        f.seek(good)
        f.write(b"\x40\x00\x00\x00\x12\x34\x56\x78\x01\x02")
    server = start(data_dir, "--save", "")
    assert f"truncated a torn record at the end of {path} at offset {good}" in server.output()
    assert server.client().dbsize() == 100
    assert server.stop() == 0
    assert os.path.getsize(path) >= good


def test_damage_stops_startup_check_reports_it_and_repair_recovers(tmp_path):
    data_dir = str(tmp_path / "data")
    server = start(data_dir, "--save", "")
    client = server.client()
    for i in range(200):
        client.set(f"k{i}", i)
    client.close()
    assert server.stop() == 0
    path = os.path.join(data_dir, last_segment(data_dir))
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    code, output = start(data_dir, "--save", "", expect_failure=True)
    assert code != 0
    assert f"log damaged in {path} at offset" in output and "--repair" in output
    check = subprocess.run([BINARY, "check", "--dir", data_dir], capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "DAMAGED" in check.stdout
    server = start(data_dir, "--save", "", "--repair")
    assert "repaired" in server.output() and "dropped" in server.output()
    kept = server.client().dbsize()
    assert 0 < kept < 200
    assert server.stop() == 0
    healthy = subprocess.run([BINARY, "check", "--dir", data_dir], capture_output=True, text=True, timeout=60)
    assert healthy.returncode == 0 and "check passed" in healthy.stdout


def can_mount_tmpfs(path):
    os.makedirs(path, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", path], capture_output=True)
    return result.returncode == 0


def test_full_disk_refuses_writes_with_misconf_and_recovers(tmp_path):
    mount_point = str(tmp_path / "small")
    if not can_mount_tmpfs(mount_point):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        server = start(mount_point + "/data", "--save", "", "--wal-segment-size", "1mb")
        reader = server.client(decode_responses=True)
        reader.set("before", "full")
        value = "v" * 100_000
        blocked = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        misconf = None
        for i in range(200):
            try:
                reader.set(f"fill{i}", value)
            except redis.ResponseError as error:
                misconf = str(error)
                break
            except redis.TimeoutError:
                break
        writer = server.client(decode_responses=True, socket_timeout=2)
        deadline = time.time() + 10
        while misconf is None and time.time() < deadline:
            try:
                writer.set("probe", "x")
            except redis.ResponseError as error:
                misconf = str(error)
            except redis.TimeoutError:
                writer = server.client(decode_responses=True, socket_timeout=2)
        assert misconf is not None and misconf.startswith("MISCONF Errors writing to the AOF file: No space left on device")
        fresh = server.client(decode_responses=True, socket_timeout=5)
        assert fresh.get("before") == "full", "reads keep working while the disk is full"
        subprocess.run(["mount", "-o", "remount,size=64m", mount_point], check=True)
        deadline = time.time() + 10
        recovered = False
        while time.time() < deadline and not recovered:
            try:
                fresh.set("after", "recovered")
                recovered = True
            except (redis.ResponseError, redis.TimeoutError):
                time.sleep(0.1)
        assert recovered, "writes resume once the disk has room"
        blocked.close()
        server.kill()
        server = start(mount_point + "/data", "--save", "", "--wal-segment-size", "1mb")
        check = server.client(decode_responses=True)
        assert check.get("before") == "full" and check.get("after") == "recovered"
        assert server.stop() == 0
    finally:
        subprocess.run(["umount", "-l", mount_point], capture_output=True)


def write_every_type(client, suffix):
    client.rpush(f"list{suffix}", "a", "b", "c")
    client.rpush(f"biglist{suffix}", *[f"item{i}" for i in range(3000)])
    client.hset(f"hash{suffix}", mapping={"f1": "v1", "f2": "v2"})
    client.hset(f"bighash{suffix}", mapping={f"f{i}": i for i in range(1000)})
    client.sadd(f"intset{suffix}", 1, 2, 3)
    client.sadd(f"set{suffix}", *[f"m{i}" for i in range(600)])
    client.zadd(f"zset{suffix}", {"a": 1.5, "b": -2})
    client.zadd(f"bigzset{suffix}", {f"m{i}": i / 3 for i in range(500)})
    client.lpop(f"biglist{suffix}")
    client.hdel(f"bighash{suffix}", "f0")
    client.spop(f"set{suffix}", 10)
    client.zpopmin(f"bigzset{suffix}", 5)
    pipe = client.pipeline(transaction=True)
    pipe.incr(f"counter{suffix}").lpush(f"list{suffix}", "from-exec")
    pipe.execute()


def snapshot_of_every_type(client, suffix):
    return {
        "list": client.lrange(f"list{suffix}", 0, -1),
        "biglist": client.lrange(f"biglist{suffix}", 0, -1),
        "hash": client.hgetall(f"hash{suffix}"),
        "bighash": client.hgetall(f"bighash{suffix}"),
        "intset": client.smembers(f"intset{suffix}"),
        "set": client.smembers(f"set{suffix}"),
        "zset": client.zrange(f"zset{suffix}", 0, -1, withscores=True),
        "bigzset": client.zrange(f"bigzset{suffix}", 0, -1, withscores=True),
        "counter": client.get(f"counter{suffix}"),
        "encodings": [client.object("encoding", f"{kind}{suffix}") for kind in
                      ("list", "biglist", "hash", "bighash", "intset", "set", "zset", "bigzset")],
    }


def test_every_type_survives_restart_from_snapshot_and_log(tmp_path):
    data_dir = str(tmp_path / "data")
    server = start(data_dir, "--appendfsync", "always")
    client = server.client(decode_responses=True)
    write_every_type(client, ":snap")
    assert client.save() is True
    write_every_type(client, ":log")
    expected = {suffix: snapshot_of_every_type(client, suffix) for suffix in (":snap", ":log")}
    assert expected[":snap"]["encodings"] == ["listpack", "quicklist", "listpack", "hashtable", "intset", "hashtable", "listpack", "skiplist"]
    client.close()
    server.kill()  # no shutdown snapshot: the second half comes back from the log alone
    server = start(data_dir)
    client = server.client(decode_responses=True)
    for suffix in (":snap", ":log"):
        assert snapshot_of_every_type(client, suffix) == expected[suffix]
    assert client.info("persistence")["loading_log_records"] > 0
    client.close()
    assert server.stop() == 0
    server = start(data_dir)  # and once more, after a clean shutdown
    client = server.client(decode_responses=True)
    for suffix in (":snap", ":log"):
        assert snapshot_of_every_type(client, suffix) == expected[suffix]
    client.close()
    assert server.stop() == 0
