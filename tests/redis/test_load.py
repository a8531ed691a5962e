"""Several clients at once for a bounded time: writers (HSET, updates, DEL) and readers (filtered and
unfiltered KNN) against FLAT and HNSW indexes, with no error reply and no lost key: afterwards each
index holds exactly the keys that exist."""
import threading
import time

import numpy as np

from harness import (Checks, IndexDefinition, IndexType, Server, TagField, VectorField, knn, to_str,
                     wait_ready)

check = Checks()
DIM = 32
SECONDS = 4.0
WRITERS, READERS = 3, 3

with Server() as server:
    r = server.client()
    rng = np.random.default_rng(9)
    pipe = r.pipeline(transaction=False)
    for i in range(2000):
        pipe.hset(f"l:seed:{i}", mapping={"vec": rng.standard_normal(DIM).astype(np.float32).tobytes(), "t": "s"})
    pipe.execute()
    for algorithm in ("FLAT", "HNSW"):
        r.ft(algorithm.lower()).create_index(
            [VectorField("vec", algorithm, {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2"}), TagField("t")],
            definition=IndexDefinition(prefix=["l:"], index_type=IndexType.HASH))
    # The load starts while the backfills are still running.
    errors = []
    ops = [0] * (WRITERS + READERS)
    stop = time.time() + SECONDS

    def writer(w):
        c = server.client()
        g = np.random.default_rng(100 + w)
        i = 0
        try:
            while time.time() < stop:
                key = f"l:w{w}:{i % 500}"
                if i % 7 == 6:
                    c.delete(key)
                else:
                    c.hset(key, mapping={"vec": g.standard_normal(DIM).astype(np.float32).tobytes(), "t": f"w{w}"})
                i += 1
                ops[w] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"writer {w}: {e!r}")

    def reader(q):
        c = server.client()
        g = np.random.default_rng(200 + q)
        try:
            while time.time() < stop:
                name = "flat" if ops[WRITERS + q] % 2 else "hnsw"
                filt = "*" if ops[WRITERS + q] % 3 else "@t:{w0 | s}"
                keys, scores = knn(c, name, g.standard_normal(DIM), 10, filt=filt)
                if scores != sorted(scores):
                    errors.append(f"reader {q}: unsorted scores")
                ops[WRITERS + q] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"reader {q}: {e!r}")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    threads += [threading.Thread(target=reader, args=(q,)) for q in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 60)
    check(not any(t.is_alive() for t in threads), "every client finished")
    print(f"{sum(ops[:WRITERS])} writes and {sum(ops[WRITERS:])} queries in {SECONDS:.0f} s")
    check(not errors, f"no error replies: {errors[:5]}")
    check(min(ops) > 0, f"every client made progress: {ops}")

    existing = {to_str(k) for k in r.scan_iter("l:*", count=1000)}
    for name in ("flat", "hnsw"):
        info = wait_ready(r, name)
        check(int(info["num_docs"]) == len(existing), f"{name}: {info['num_docs']} docs for {len(existing)} keys")
    keys, _ = knn(r, "flat", np.zeros(DIM), 10000)
    check(set(keys) == existing, f"flat: index equals the keyspace ({len(set(keys) ^ existing)} differ)")
    # HNSW holds every key (num_docs above). Searching each written key by its own vector at
    # EF_RUNTIME 64 measures recall; a key missed there is searched again exhaustively (EF_RUNTIME
    # above the entry count walks everything reachable), which checks that churn cut no entry off
    # from the graph's entry point.
    written = sorted(k for k in existing if not k.startswith("l:seed:"))
    missed, unreachable = 0, 0
    for key in written:
        v = np.frombuffer(r.hget(key, "vec"), dtype=np.float32)
        got, scores = knn(r, "hnsw", v, 1, extra=" EF_RUNTIME 64")
        if got == [key] and scores[0] == 0.0:
            continue
        missed += 1
        got, scores = knn(r, "hnsw", v, 1, extra=" EF_RUNTIME 4096")
        unreachable += not (got == [key] and scores[0] == 0.0)
    print(f"hnsw: {missed} of {len(written)} written keys missed at EF_RUNTIME 64, {unreachable} unreachable")
    check(unreachable == 0, f"hnsw: {unreachable} of {len(written)} written keys unreachable")
    check(missed <= 0.005 * len(written), f"hnsw: {missed} of {len(written)} missed at EF_RUNTIME 64 (> 0.5%)")
    check(server.alive(), "server still up")

check.done()
