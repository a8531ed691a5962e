#!/usr/bin/python3
"""Cluster coordination cost: FT.SEARCH KNN 10 through a 3-shard Redis Cluster (the module on every
node, 3 primaries, no replicas unless --replicas) next to one standalone server holding the same data
and the same index, in one run.

Loads siftsmall (10k x 128, L2) into both, creates a FLAT and an HNSW index (M 16, EF_CONSTRUCTION
200) over the existing keys, checks that the cluster's FLAT replies equal the standalone server's,
then times KNN k=10 queries (RETURN 1 __vec_score, as bench_redis.py does):
  - 1 client: one redis-py client, one query at a time, always to the same cluster node (the
    coordinator fans out to the 2 other shards over the cluster bus); p50 / p99 / q/s;
  - N clients: aggregate q/s with N redis-py clients in threads, each on its own coordinator
    (round robin over the primaries) — what an application that spreads queries sees.
Passes alternate between the standalone server and the cluster so machine noise hits both alike.
The coordination overhead is cluster minus standalone at p50 (and at p10, which shows the fixed cost
of the two bus hops when the scheduler is kind). Budgets (vindex.search-timeout-ms / -max-ms) are
raised to 10 s on every server so a loaded machine slows queries instead of failing them. Timing
only; it asserts nothing.

Usage: bench_redis_cluster.py --module build/examples/redis_module/vindex_redis.so [--reps 5] [--clients 4]
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "redis"))
ap = argparse.ArgumentParser()
ap.add_argument("--module", required=True)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--clients", type=int, default=4)
ap.add_argument("--replicas", type=int, default=0)
args = ap.parse_args()
os.environ["VINDEX_REDIS_MODULE"] = os.path.abspath(args.module)
os.environ.setdefault("VINDEX_DATASETS", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "..", "shared", "datasets"))

import numpy as np  # noqa: E402

from cluster_fixture import Cluster  # noqa: E402
from harness import IndexDefinition, IndexType, Server, VectorField, siftsmall, to_str, wait_ready  # noqa: E402

base, queries, _ = siftsmall()
blobs = [q.astype(np.float32).tobytes() for q in queries]


def pct(values, p):
    return float(np.percentile(np.array(values), p))


def query_args(name, blob, ef):
    q = f"*=>[KNN 10 @vec $v{' EF_RUNTIME ' + str(ef) if ef else ''}]"
    return ["FT.SEARCH", name, q, "PARAMS", "2", "v", blob, "RETURN", "1", "__vec_score",
            "SORTBY", "__vec_score", "LIMIT", "0", "10", "DIALECT", "2"]


def info_state(client, name):
    it = iter(client.execute_command("FT.INFO", name))
    return to_str(dict(zip(it, it))[b"state"])


with Server() as single, Cluster(primaries=3, replicas=args.replicas) as cluster:
    solo = single.client()
    rc = cluster.cluster_client()
    t0 = time.time()
    for client in (solo, rc):
        pipe = client.pipeline() if client is rc else client.pipeline(transaction=False)
        for i, v in enumerate(base):
            pipe.hset(f"sift:{i}", "vec", v.tobytes())
        pipe.execute()
    print(f"loaded {len(base)} vectors into both in {time.time() - t0:.1f} s")
    coordinators = cluster.primaries()
    # Time budgets well above this machine's scheduling noise, so a loaded machine slows queries
    # down instead of failing them (the module's defaults: 50 ms per search, TIMEOUT at most 100 ms).
    for client in [solo] + [n.client() for n in cluster.nodes]:
        client.config_set("vindex.search-timeout-max-ms", 10000)
        client.config_set("vindex.search-timeout-ms", 10000)
    for name, algorithm in (("flat", "FLAT"), ("hnsw", "HNSW")):
        attrs = {"TYPE": "FLOAT32", "DIM": 128, "DISTANCE_METRIC": "L2"}
        if algorithm == "HNSW":
            attrs.update({"M": 16, "EF_CONSTRUCTION": 200})
        for client in (solo, rc):
            client.ft(name).create_index([VectorField("vec", algorithm, attrs)],
                                         definition=IndexDefinition(prefix=["sift:"], index_type=IndexType.HASH))
        t0 = time.time()
        wait_ready(solo, name, timeout=900)
        standalone_s = time.time() - t0
        while info_state(coordinators[0].client(), name) != "ready":
            time.sleep(0.05)
        print(f"{name}: backfill standalone {standalone_s:.1f} s, cluster (3 shards in parallel) "
              f"{time.time() - t0:.1f} s")
    first = coordinators[0].client()
    same = sum(first.execute_command(*query_args("flat", b, 0)) == solo.execute_command(*query_args("flat", b, 0))
               for b in blobs)
    print(f"FLAT: cluster reply == standalone reply for {same} of {len(blobs)} queries")

    rows = []
    for name, ef in (("flat", 0), ("hnsw", 10), ("hnsw", 64)):
        lat = {"standalone": [], "cluster": []}
        elapsed = {"standalone": 0.0, "cluster": 0.0}
        targets = {"standalone": solo, "cluster": first}
        for b in blobs[:10]:  # warm-up
            for t in targets.values():
                t.execute_command(*query_args(name, b, ef))
        for rep in range(args.reps):
            for which in (("standalone", "cluster") if rep % 2 == 0 else ("cluster", "standalone")):
                client = targets[which]
                t0 = time.perf_counter()
                for b in blobs:
                    s = time.perf_counter()
                    client.execute_command(*query_args(name, b, ef))
                    lat[which].append((time.perf_counter() - s) * 1e6)
                elapsed[which] += time.perf_counter() - t0
        for which in ("standalone", "cluster"):
            clients = [solo] * args.clients if which == "standalone" else \
                [coordinators[c % len(coordinators)].client() for c in range(args.clients)]
            done = [0] * args.clients
            failed = [0] * args.clients
            stop = time.time() + 3.0

            def run(c):
                i = c
                while time.time() < stop:
                    try:
                        clients[c].execute_command(*query_args(name, blobs[i % len(blobs)], ef))
                        done[c] += 1
                    except Exception:  # counted, not fatal: a benchmark reports, it does not assert
                        failed[c] += 1
                    i += 1

            threads = [threading.Thread(target=run, args=(c,)) for c in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            label = f"{which} {name}" + (f" ef={ef}" if ef else "")
            rows.append((label, len(lat[which]) / elapsed[which], pct(lat[which], 10), pct(lat[which], 50),
                         pct(lat[which], 99), sum(done) / 3.0))
            if sum(failed):
                print(f"{label}: {sum(failed)} of the {args.clients}-client queries failed")
        rows.append((f"  cluster - standalone", None, pct(lat["cluster"], 10) - pct(lat["standalone"], 10),
                     pct(lat["cluster"], 50) - pct(lat["standalone"], 50), None, None))

    print()
    print(f"siftsmall 10k x 128 L2, k=10, {len(blobs)} queries x {args.reps}; 3 shards, {args.replicas} replica(s) "
          f"per shard; {os.cpu_count()} CPUs shared by all servers and the client")
    print(f"{'path':<24} {'q/s (1 client)':>15} {'p10 us':>9} {'p50 us':>9} {'p99 us':>9} "
          f"{f'q/s ({args.clients} clients)':>16}")
    for label, qps, p10, p50, p99, qpsn in rows:
        if qps is None:
            print(f"{label:<24} {'':>15} {p10:>+9.1f} {p50:>+9.1f}")
        else:
            print(f"{label:<24} {qps:>15.0f} {p10:>9.1f} {p50:>9.1f} {p99:>9.1f} {qpsn:>16.0f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    stats = first.info("vindex")
    print(f"coordinator: {stats['vindex_searches_fanned_out']} fan-outs, {stats['vindex_frames_sent']} frames sent, "
          f"{stats['vindex_answers_late']} late answers, {stats['vindex_search_errors']} errors")
