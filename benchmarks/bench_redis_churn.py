#!/usr/bin/python3
"""HNSW quality and write latency under a mixed load through the Redis module (issue 15).

Loads --keys random standard-normal vectors (dim --dim) into a private redis-server, indexes them
with HNSW (M 16, EF_CONSTRUCTION 200), then runs --clients clients for --seconds, each in a loop of
HSET (a new vector for a random key: an update, or an insert after a delete), DEL and FT.SEARCH
(KNN 10 of a random vector), one command at a time. Afterwards, at each EF_RUNTIME of --ef:
  own-vector top-10: the share of --sample live keys whose own vector returns them in the top 10,
  measured right after the load, then once the module's timer has finished maintenance, and on a
  fresh build of the same keys (a second index over the same prefix, built by a backfill).
Also prints the write-latency picture: commands over 10 ms in SLOWLOG, microseconds per call
(INFO commandstats) and the module's maintenance counters (FT.INFO). Timing only; asserts nothing.

Usage: bench_redis_churn.py --module build/examples/redis_module/vindex_redis.so
                            [--keys 50000] [--dim 64] [--clients 8] [--seconds 60] [--sample 2000]
                            [--ef 10,200] [--mix 40,20,40]   (HSET, DEL, FT.SEARCH percentages)
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "redis"))
ap = argparse.ArgumentParser()
ap.add_argument("--module", required=True)
ap.add_argument("--keys", type=int, default=50000)
ap.add_argument("--dim", type=int, default=64)
ap.add_argument("--clients", type=int, default=8)
ap.add_argument("--seconds", type=float, default=60)
ap.add_argument("--sample", type=int, default=2000)
ap.add_argument("--ef", default="10,200")
ap.add_argument("--mix", default="40,20,40")
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()
os.environ["VINDEX_REDIS_MODULE"] = os.path.abspath(args.module)

import numpy as np  # noqa: E402

from harness import IndexDefinition, IndexType, Server, VectorField, knn, to_str, wait_ready  # noqa: E402

EFS = [int(x) for x in args.ef.split(",")]
P_HSET, P_DEL, _ = (int(x) for x in args.mix.split(","))
SLOW_US = 10000


def create(r, name):
    r.ft(name).create_index(
        [VectorField("vec", "HNSW", {"TYPE": "FLOAT32", "DIM": args.dim, "DISTANCE_METRIC": "L2", "M": 16,
                                     "EF_CONSTRUCTION": 200})],
        definition=IndexDefinition(prefix=["c:"], index_type=IndexType.HASH))


def own_rate(r, name, sample, vectors, ef):
    found = 0
    for k in sample:
        keys, _ = knn(r, name, vectors[k], 10, extra=f" EF_RUNTIME {ef}")
        found += f"c:{k}" in keys
    return found / len(sample)


def maintenance(r, name):
    info = r.ft(name).info()
    fields = ("maintenance_pending_tombstones", "maintenance_rounds", "maintenance_in_writes_ms",
              "maintenance_longest_in_write_ms", "maintenance_in_timer_ms")
    return {f: to_str(info[f]) for f in fields if f in info}


rng = np.random.default_rng(args.seed)
with Server() as server:
    r = server.client()
    t0 = time.time()
    vectors = rng.standard_normal((args.keys, args.dim)).astype(np.float32)
    pipe = r.pipeline(transaction=False)
    for i in range(args.keys):
        pipe.hset(f"c:{i}", "vec", vectors[i].tobytes())
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    create(r, "idx")
    wait_ready(r, "idx", timeout=3600)
    print(f"{args.keys} keys x {args.dim}, HNSW M 16 EF_CONSTRUCTION 200: built in {time.time() - t0:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    r.config_set("slowlog-log-slower-than", SLOW_US)
    r.config_set("slowlog-max-len", 100000)
    r.slowlog_reset()
    r.config_resetstat()
    before = maintenance(r, "idx")

    present = np.ones(args.keys, dtype=bool)
    counts = [[0, 0, 0] for _ in range(args.clients)]
    stop = time.time() + args.seconds
    errors = []

    def client(c):
        conn = server.client()
        g = np.random.default_rng(1000 + c)
        try:
            while time.time() < stop:
                p = g.integers(100)
                if p < P_HSET + P_DEL:
                    k = int(g.integers(args.keys // args.clients)) * args.clients + c  # keys split by client
                    if p < P_HSET:
                        vectors[k] = g.standard_normal(args.dim).astype(np.float32)
                        conn.hset(f"c:{k}", "vec", vectors[k].tobytes())
                        present[k] = True
                        counts[c][0] += 1
                    else:
                        conn.delete(f"c:{k}")
                        present[k] = False
                        counts[c][1] += 1
                else:
                    knn(conn, "idx", g.standard_normal(args.dim), 10)
                    counts[c][2] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"client {c}: {e!r}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    total = [sum(c[i] for c in counts) for i in range(3)]
    print(f"mixed load: {args.clients} clients, {elapsed:.0f} s: {total[0]} HSET, {total[1]} DEL, {total[2]} FT.SEARCH; "
          f"load average {os.getloadavg()[0]:.1f}")
    if errors:
        print("errors:", errors[:5])

    slow = r.slowlog_get(100000)
    by_command = {}
    for e in slow:
        name = bytes(e["command"]).split(b" ")[0].decode(errors="replace").upper()
        by_command.setdefault(name, []).append(e["duration"])
    stats = r.info("commandstats")
    for name in ("hset", "del", "ft.search"):
        s = stats.get(f"cmdstat_{name}")
        if s:
            print(f"  {name}: {s['calls']} calls, {s['usec_per_call']:.0f} us per call")
    for name, durations in sorted(by_command.items()):
        print(f"  slowlog {name}: {len(durations)} over {SLOW_US} us, longest {max(durations)} us")
    if not by_command:
        print(f"  slowlog: no command over {SLOW_US} us")
    print(f"  maintenance before the load: {before}")
    print(f"  maintenance after the load:  {maintenance(r, 'idx')}")

    live = np.flatnonzero(present)
    sample = rng.choice(live, min(args.sample, len(live)), replace=False)
    right_after = [own_rate(r, "idx", sample, vectors, ef) for ef in EFS]
    t0 = time.time()
    while True:
        m = maintenance(r, "idx")
        if m.get("maintenance_pending_tombstones", "0") == "0" or time.time() - t0 > 120:
            break
        time.sleep(0.1)
    settled_s = time.time() - t0
    settled = [own_rate(r, "idx", sample, vectors, ef) for ef in EFS]
    create(r, "fresh")
    t0 = time.time()
    wait_ready(r, "fresh", timeout=3600)
    fresh_s = time.time() - t0
    fresh = [own_rate(r, "fresh", sample, vectors, ef) for ef in EFS]
    n_idx = int(r.ft("idx").info()["num_docs"])
    n_fresh = int(r.ft("fresh").info()["num_docs"])
    print(f"final set: {len(live)} keys (idx {n_idx}, fresh {n_fresh}); maintenance settled {settled_s:.1f} s after "
          f"the load; fresh build {fresh_s:.1f} s; own-vector sample {len(sample)} keys")
    print("| EF_RUNTIME | own-vector top-10: right after | settled | fresh build | right after - fresh |")
    print("|---|---|---|---|---|")
    for i, ef in enumerate(EFS):
        print(f"| {ef} | {right_after[i]:.4f} | {settled[i]:.4f} | {fresh[i]:.4f} | {right_after[i] - fresh[i]:+.4f} |")
