#!/usr/bin/python3
"""Issue #14's case: where index memory goes under maxmemory.

A private redis-server with `maxmemory` (default 50mb) and `allkeys-lru`; a FLAT and an HNSW index
(M 16, EF_CONSTRUCTION 100) over one prefix; N (default 100,000) random DIM-128 vectors written as
hashes in pipelines of 1000. Once HNSW maintenance has freed the evicted keys' tombstones it prints
used_memory, the server's RSS, evicted keys, the keys left and each index's total_memory_bytes and
num_docs. Run it with a module built before and after a change to compare. Figures only; it asserts
nothing.

Usage: bench_redis_memory.py --module build/examples/redis_module/vindex_redis.so [--vectors 100000]
                             [--maxmemory 50mb]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "redis"))
ap = argparse.ArgumentParser()
ap.add_argument("--module", required=True)
ap.add_argument("--vectors", type=int, default=100000)
ap.add_argument("--maxmemory", default="50mb")
args = ap.parse_args()
os.environ["VINDEX_REDIS_MODULE"] = os.path.abspath(args.module)

import numpy as np  # noqa: E402

from harness import Server, wait_ready  # noqa: E402

DIM = 128
rng = np.random.default_rng(1414)
with Server(extra=["--maxmemory", args.maxmemory, "--maxmemory-policy", "allkeys-lru"]) as server:
    r = server.client()
    for name, algo, extra in (("flat", "FLAT", []), ("hnsw", "HNSW", ["M", "16", "EF_CONSTRUCTION", "100"])):
        params = ["TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2", *extra]
        r.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", "1", "v:", "SCHEMA", "vec", "VECTOR", algo,
                          str(len(params)), *params)
    started = time.time()
    errors = 0
    for lo in range(0, args.vectors, 1000):
        pipe = r.pipeline(transaction=False)
        for i in range(lo, min(lo + 1000, args.vectors)):
            pipe.hset(f"v:{i:07d}", "vec", rng.random(DIM, dtype=np.float32).tobytes())
        errors += sum(isinstance(x, Exception) for x in pipe.execute(raise_on_error=False))
    for name in ("flat", "hnsw"):
        wait_ready(r, name)
    deadline = time.time() + 60
    while int(r.ft("hnsw").info()["maintenance_pending_tombstones"]) > 0 and time.time() < deadline:
        time.sleep(0.1)
    used = int(r.info("memory")["used_memory"])
    with open(f"/proc/{server.proc.pid}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    r.config_set("maxmemory", "0")  # no eviction while reading the figures
    fi, hi = r.ft("flat").info(), r.ft("hnsw").info()
    print(f"{args.vectors} vectors in {time.time() - started:.1f} s, write errors {errors}; maxmemory "
          f"{args.maxmemory}: used_memory {used} B, RSS {rss} B; evicted {r.info('stats')['evicted_keys']} keys, "
          f"{r.dbsize()} left; FLAT {fi['total_memory_bytes']} B, num_docs {fi['num_docs']}; "
          f"HNSW {hi['total_memory_bytes']} B, num_docs {hi['num_docs']}")
