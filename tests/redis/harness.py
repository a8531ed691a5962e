"""Shared set-up of the Redis module tests: a private redis-server with the module loaded.

Each test starts its own server on a free loopback port in a temporary directory and stops it.
A test skips (exit code 77, Meson's skip code) with a message when redis-server, redis-py or numpy
is missing, and siftsmall tests skip when the dataset is absent.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


def skip(message):
    print("SKIP:", message)
    sys.exit(SKIP)


try:
    import numpy as np  # noqa: F401
    import redis  # noqa: F401
    from redis.commands.search.field import NumericField, TagField, VectorField  # noqa: F401
    from redis.commands.search.indexDefinition import IndexDefinition, IndexType  # noqa: F401
    from redis.commands.search.query import Query  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the machine
    skip(f"python3-redis and python3-numpy are needed ({e})")

REDIS_SERVER = shutil.which("redis-server")
MODULE = os.environ.get("VINDEX_REDIS_MODULE", "")
if not REDIS_SERVER:
    skip("redis-server not found (apt-get install redis-server)")
if not MODULE or not os.path.exists(MODULE):
    skip("VINDEX_REDIS_MODULE does not name the built module")


# A module built with sanitizers runs 3-5x slower and ASan's quarantine holds freed memory: time
# and RSS checks are meaningless there (they are made in the normal build).
SANITIZED = bool(os.environ.get("VINDEX_REDIS_PRELOAD"))
# The servers of correctness tests get a search budget far above the module's defaults (50 ms, at
# most 100 ms): on a loaded 2-core machine, or under the sanitizers, an ordinary query can pass 50 ms,
# and a timeout there would fail a test that checks results, not time. Tests of the defaults and of
# the timeout itself opt out (Server(test_budget=False)).
TEST_BUDGET = ["--vindex.search-timeout-ms", "5000", "--vindex.search-timeout-max-ms", "10000"]
# What a test of the timeouts gets under the sanitizers instead of the defaults (3-5x slower code).
SANITIZED_BUDGET = ["--vindex.search-timeout-ms", "1000", "--vindex.search-timeout-max-ms", "1000"]


def server_env():
    """The environment of a redis-server. With VINDEX_REDIS_PRELOAD (a sanitizer runtime, for a module
    built with -Db_sanitize) the server gets it in LD_PRELOAD: redis-server itself is not
    instrumented, so the runtime must be loaded before anything else. Leak detection is off for the
    server process (its own allocations at exit are not the module's); any other report aborts it."""
    env = dict(os.environ)
    preload = env.get("VINDEX_REDIS_PRELOAD", "")
    if preload:
        env["LD_PRELOAD"] = preload
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1:halt_on_error=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A redis-server process; `with Server() as s:` starts it and always stops it."""

    def __init__(self, directory=None, module=True, extra=(), test_budget=True):
        self.owns_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="vindex-redis-")
        self.module = module
        self.extra = list(extra)
        self.test_budget = test_budget
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendfilename", "appendonly.aof", "--logfile", "server.log"]
        if self.module:
            args += ["--loadmodule", MODULE]
            if self.test_budget:
                args += TEST_BUDGET
        args += self.extra
        self.proc = subprocess.Popen(args, cwd=self.dir, env=server_env())
        deadline = time.time() + 20
        while True:
            try:
                self.client().ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                if self.proc.poll() is not None:
                    raise RuntimeError("redis-server exited:\n" + self.log()) from None
                if time.time() > deadline:
                    raise RuntimeError("redis-server did not start:\n" + self.log()) from None
                time.sleep(0.05)
        return self

    def client(self, **kw):
        kw.setdefault("socket_timeout", 60)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return "(no log)"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False


def wait_ready(r, index, timeout=120):
    """Waits until the index's backfill or reconcile is complete; returns FT.INFO (sanitized builds
    get four times the time)."""
    deadline = time.time() + timeout * (4 if SANITIZED else 1)
    while True:
        info = r.ft(index).info()
        if to_str(info["state"]) == "ready":
            return info
        if time.time() > deadline:
            raise AssertionError(f"index {index} not ready: {info}")
        time.sleep(0.02)


def to_str(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def siftsmall():
    """(base, queries, ground truth) of siftsmall, or a skip when it is absent."""
    root = os.environ.get("VINDEX_DATASETS", "")
    d = os.path.join(root, "siftsmall")
    if not os.path.exists(os.path.join(d, "siftsmall_base.fvecs")):
        skip(f"siftsmall not found under VINDEX_DATASETS={root!r}")

    def read(name, dtype):
        raw = np.fromfile(os.path.join(d, name), dtype=dtype)
        dim = raw[:1].view(np.int32)[0]
        return raw.reshape(-1, dim + 1)[:, 1:].copy()

    return (read("siftsmall_base.fvecs", np.float32), read("siftsmall_query.fvecs", np.float32),
            read("siftsmall_groundtruth.ivecs", np.int32))


def knn(r, index, vec, k, filt="*", field="vec", extra="", **kw):
    """(keys, scores) of a KNN query through redis-py's search client."""
    q = Query(f"{filt}=>[KNN {k} @{field} $v{extra}]").sort_by(f"__{field}_score").paging(0, k) \
        .return_fields(f"__{field}_score").dialect(2)
    res = r.ft(index).search(q, query_params={"v": np.asarray(vec, dtype=np.float32).tobytes()})
    return [d.id for d in res.docs], [float(getattr(d, f"__{field}_score")) for d in res.docs]


class Checks:
    """Counts checks and failures; `done()` exits 1 when any failed."""

    def __init__(self):
        self.count = 0
        self.failed = 0

    def __call__(self, ok, message):
        self.count += 1
        if not ok:
            self.failed += 1
            print("FAIL:", message)
        return ok

    def done(self):
        print(f"{self.count - self.failed}/{self.count} checks passed")
        sys.exit(1 if self.failed else 0)


class Responsiveness:
    """Watches a server while hostile commands run: `with Responsiveness(server) as w: …`.

    A second connection PINGs continuously (the slowest round trip is `w.max_ping`); SLOWLOG records
    every command (reset on entry): `w.slow()` lists those slower than `slow_us`, `w.slowest_us()` is
    the longest server-side time of a command other than the watch's own; `w.memory_delta()` is
    used_memory now minus on entry."""

    def __init__(self, server, slow_us=100000):
        import threading
        self.server = server
        self.slow_us = slow_us
        self.admin = server.client()
        self.pinger = server.client()
        self.max_ping = 0.0
        self.pings = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._ping, daemon=True)

    def _ping(self):
        while not self._stop.is_set():
            t = time.perf_counter()
            self.pinger.ping()
            self.max_ping = max(self.max_ping, time.perf_counter() - t)
            self.pings += 1
            time.sleep(0.002)

    def __enter__(self):
        self.admin.config_set("slowlog-log-slower-than", "0")
        self.admin.config_set("slowlog-max-len", "8192")
        self.admin.slowlog_reset()
        self.memory_before = self.admin.info("memory")["used_memory"]
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.admin.config_set("slowlog-log-slower-than", "10000")
        return False

    def _entries(self):
        own = (b"PING", b"SLOWLOG", b"CONFIG", b"INFO")
        return [(e["duration"], e["command"][:80]) for e in self.admin.slowlog_get(8192)
                if not e["command"].split(b" ", 1)[0].upper() in own]

    def slow(self):
        """[(microseconds, command words)] of the commands slower than slow_us."""
        return [e for e in self._entries() if e[0] > self.slow_us]

    def slowest_us(self):
        """The longest server-side time (µs) of a command other than the watch's own."""
        return max((e[0] for e in self._entries()), default=0)

    def memory_delta(self):
        return self.admin.info("memory")["used_memory"] - self.memory_before


def reference_knn(base, q, metric, k=10):
    """numpy's answer: the k nearest rows of `base` to `q` under `metric` (L2 squared, IP 1 − dot,
    COSINE 1 − cos), ties by the row's 5-digit key, their distances, and every row's distance."""
    if metric == "L2":
        d = ((base - q) ** 2).sum(axis=1)
    elif metric == "IP":
        d = 1 - base @ q
    else:
        d = 1 - (base @ q) / (np.linalg.norm(base, axis=1) * np.linalg.norm(q))
    order = sorted(range(len(d)), key=lambda i: (d[i], f"{i:05d}"))[:k]
    return order, d[order], d


def to_type(x, vtype):
    """float32 array → (blob bytes of the TYPE, the float64 values the blob decodes to)."""
    x = np.asarray(x, dtype=np.float32)
    if vtype == "FLOAT32":
        return x.tobytes(), x.astype(np.float64)
    if vtype == "FLOAT16":
        h = x.astype(np.float16)
        return h.tobytes(), h.astype(np.float64)
    if vtype == "INT8":
        b = np.clip(np.rint(x * 40), -128, 127).astype(np.int8)
        return b.tobytes(), b.astype(np.float64)
    if vtype == "UINT8":
        b = np.clip(np.rint(np.abs(x) * 40), 0, 255).astype(np.uint8)
        return b.tobytes(), b.astype(np.float64)
    # BFLOAT16: the upper half of the float32, rounded to nearest even.
    u = x.view(np.uint32).astype(np.uint64)
    b = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return b.tobytes(), (b.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def search(r, name, qblob, k=10, ef=None, field="vec"):
    """(keys, scores) of a KNN query whose vector is the blob `qblob` (of the index's TYPE), through
    FT.SEARCH itself."""
    clause = f"*=>[KNN {k} @{field} $v" + (f" EF_RUNTIME {ef}" if ef else "") + "]"
    reply = r.execute_command("FT.SEARCH", name, clause, "PARAMS", "2", "v", qblob, "RETURN", "1",
                              f"__{field}_score", "SORTBY", f"__{field}_score", "LIMIT", "0", str(k), "DIALECT", "2")
    keys = [to_str(reply[i]) for i in range(1, len(reply), 2)]
    scores = [float(to_str(reply[i + 1][1])) for i in range(1, len(reply), 2)]
    return keys, scores
