#!/usr/bin/python3
"""Module overhead: FT.SEARCH KNN through redis-server + the vindex module, against the same index
used directly from C++ (benchmarks/bench_knn_direct).

Loads siftsmall (10k x 128, L2) into a private redis-server, creates a FLAT and an HNSW index
(M 16, EF_CONSTRUCTION 200) over the existing keys, then times KNN k=10 queries:
  - client: one redis-py client, one query at a time (latency as an application sees it);
  - server: microseconds per FT.SEARCH call from INFO commandstats (parsing, search, reply);
  - N clients: aggregate queries/s with several redis-py clients in threads.
Prints a table. Timing only; it asserts nothing.

Usage: bench_redis.py --module build/examples/redis_module/vindex_redis.so \
                      [--direct build-bench/benchmarks/bench_knn_direct] [--reps 10] [--clients 4]
"""
import argparse
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "redis"))
ap = argparse.ArgumentParser()
ap.add_argument("--module", required=True)
ap.add_argument("--direct", default="")
ap.add_argument("--reps", type=int, default=10)
ap.add_argument("--clients", type=int, default=4)
args = ap.parse_args()
os.environ["VINDEX_REDIS_MODULE"] = os.path.abspath(args.module)
os.environ.setdefault("VINDEX_DATASETS", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "..", "shared", "datasets"))

import numpy as np  # noqa: E402

from harness import IndexDefinition, IndexType, Server, VectorField, wait_ready, siftsmall, to_str  # noqa: E402

base, queries, _ = siftsmall()
blobs = [q.astype(np.float32).tobytes() for q in queries]


def pct(values, p):
    return float(np.percentile(np.array(values), p))


def query_args(name, blob, ef):
    q = f"*=>[KNN 10 @vec $v{' EF_RUNTIME ' + str(ef) if ef else ''}]"
    return ["FT.SEARCH", name, q, "PARAMS", "2", "v", blob, "RETURN", "1", "__vec_score",
            "SORTBY", "__vec_score", "LIMIT", "0", "10", "DIALECT", "2"]


rows = []
with Server() as server:
    r = server.client()
    pipe = r.pipeline(transaction=False)
    for i, v in enumerate(base):
        pipe.hset(f"sift:{i}", "vec", v.tobytes())
    pipe.execute()
    for name, algorithm in (("flat", "FLAT"), ("hnsw", "HNSW")):
        attrs = {"TYPE": "FLOAT32", "DIM": 128, "DISTANCE_METRIC": "L2"}
        if algorithm == "HNSW":
            attrs.update({"M": 16, "EF_CONSTRUCTION": 200})
        t0 = time.time()
        r.ft(name).create_index([VectorField("vec", algorithm, attrs)],
                                definition=IndexDefinition(prefix=["sift:"], index_type=IndexType.HASH))
        wait_ready(r, name, timeout=600)
        print(f"{name}: backfill of {len(base)} keys took {time.time() - t0:.2f} s (timer-driven, 5 ms ticks)")

    for name, ef in (("flat", 0), ("hnsw", 10), ("hnsw", 64)):
        r.config_resetstat()
        lat = []
        t0 = time.time()
        for _ in range(args.reps):
            for b in blobs:
                s = time.perf_counter()
                r.execute_command(*query_args(name, b, ef))
                lat.append((time.perf_counter() - s) * 1e6)
        qps1 = len(lat) / (time.time() - t0)
        stats = r.info("commandstats").get("cmdstat_FT.SEARCH") or r.info("commandstats").get("cmdstat_ft.search")
        server_us = float(stats["usec_per_call"]) if stats else float("nan")

        done = [0] * args.clients
        stop = time.time() + 3.0

        def client(c):
            cr = server.client()
            i = c
            while time.time() < stop:
                cr.execute_command(*query_args(name, blobs[i % len(blobs)], ef))
                i += 1
                done[c] += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows.append((f"module {name}" + (f" ef={ef}" if ef else ""), qps1, pct(lat, 50), pct(lat, 99),
                     server_us, sum(done) / 3.0))

direct = []
if args.direct and os.path.exists(args.direct):
    out = subprocess.run([args.direct, str(args.reps)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "direct":
            direct.append((f"direct {f[1]}" + (f" ef={f[2]}" if f[2] != "0" else ""), float(f[4]), float(f[6]), float(f[8])))

print()
print(f"siftsmall 10k x 128 L2, k=10, {len(blobs)} queries x {args.reps}; {os.cpu_count()} CPUs")
print(f"{'path':<22} {'qps (1 client)':>15} {'p50 us':>9} {'p99 us':>9} {'server us/call':>15} {f'qps ({args.clients} clients)':>16}")
for name, qps, p50, p99, server_us, qpsn in rows:
    print(f"{name:<22} {qps:>15.0f} {p50:>9.1f} {p99:>9.1f} {server_us:>15.1f} {qpsn:>16.0f}")
for name, qps, p50, p99 in direct:
    print(f"{name:<22} {qps:>15.0f} {p50:>9.1f} {p99:>9.1f} {'-':>15} {'-':>16}")
