"""Under `appendonly yes`, keys changed after the last AOF rewrite are reconciled: the AOF's RDB
preamble holds each index's keyspace snapshot, the command tail replays while the module ignores
keyspace events, and the reconcile scan that follows brings the index to the loaded data. The
result is compared with a Python/numpy model of the keyspace (FLAT KNN exact, filters, failures,
deleted keys absent), and the reconcile counters with the changes made. An FT.CREATE that only the
command log holds is replayed and backfills."""
import os
import time

import numpy as np

from harness import (Checks, IndexDefinition, IndexType, NumericField, Server, TagField, VectorField,
                     knn, to_str, wait_ready)

check = Checks()
rng = np.random.default_rng(11)
N, DIM, K = 3000, 16, 10
AOF = ["--appendonly", "yes", "--appendfsync", "everysec"]


def wait_aof_rewrite(r):
    deadline = time.time() + 60
    while True:
        p = r.info("persistence")
        if not int(p["aof_rewrite_in_progress"]) and not int(p["aof_rewrite_scheduled"]):
            return
        if time.time() > deadline:
            raise AssertionError("AOF rewrite did not finish")
        time.sleep(0.05)


def create(r, name, algorithm, **params):
    r.ft(name).create_index(
        [VectorField("vec", algorithm, {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2", **params}),
         TagField("tag"), NumericField("n")],
        definition=IndexDefinition(prefix=["p:"], index_type=IndexType.HASH))


# The model: key -> (vector, tag, n) for every key the index must hold; `failing` the keys that
# match the prefix, have the vector field, and are invalid.
model = {}
failing = set()


def put(pipe, key, vec=None, tag=None, n=None, raw_vec=None, raw_n=None):
    fields = {}
    if vec is not None:
        fields["vec"] = np.asarray(vec, dtype=np.float32).tobytes()
    if raw_vec is not None:
        fields["vec"] = raw_vec
    if tag is not None:
        fields["tag"] = tag
    if n is not None:
        fields["n"] = n
    if raw_n is not None:
        fields["n"] = raw_n
    pipe.hset(key, mapping=fields)


def model_knn(q, k, pred=lambda tag, n: True):
    keys = [key for key, (_, tag, n) in model.items() if pred(tag, n)]
    if not keys:
        return []
    m = np.stack([model[key][0] for key in keys])
    d = ((m - q) ** 2).sum(axis=1)
    order = np.lexsort((np.array(keys), d))[:k]
    return [keys[i] for i in order]


TAGS = ["a", "b", "c"]
with Server(extra=AOF) as server:
    r = server.client()
    pipe = r.pipeline(transaction=False)
    for i in range(N):
        v = rng.standard_normal(DIM).astype(np.float32)
        t = TAGS[i % 3]
        if i < 5:  # failing already when the snapshot is taken
            put(pipe, f"p:{i}", raw_vec=b"short", tag=t, n=i)
            failing.add(f"p:{i}")
        else:
            put(pipe, f"p:{i}", vec=v, tag=t, n=i)
            model[f"p:{i}"] = (v, t, float(i))
    pipe.execute()
    create(r, "flat", "FLAT")
    create(r, "hnsw", "HNSW", M=16, EF_CONSTRUCTION=100, EF_RUNTIME=200)
    wait_ready(r, "flat")
    wait_ready(r, "hnsw")
    info = r.ft("flat").info()
    check(int(info["hash_indexing_failures"]) == 5, f"5 failing keys before the rewrite: {info['hash_indexing_failures']}")
    r.bgrewriteaof()  # the AOF's RDB preamble now holds both snapshots
    wait_aof_rewrite(r)

    # Changes that only the AOF's command tail holds. Disjoint key ranges; expected reconcile counts.
    pipe = r.pipeline(transaction=False)
    reindexed = removed = added = 0
    for i in range(100, 200):                     # new vector
        v = rng.standard_normal(DIM).astype(np.float32)
        pipe.hset(f"p:{i}", "vec", v.tobytes())
        model[f"p:{i}"] = (v, *model[f"p:{i}"][1:])
        reindexed += 1
    for i in range(200, 250):                     # TAG changed
        pipe.hset(f"p:{i}", "tag", "zzz")
        model[f"p:{i}"] = (model[f"p:{i}"][0], "zzz", model[f"p:{i}"][2])
        reindexed += 1
    for i in range(250, 300):                     # NUMERIC changed
        pipe.hset(f"p:{i}", "n", 100000 + i)
        model[f"p:{i}"] = (model[f"p:{i}"][0], model[f"p:{i}"][1], float(100000 + i))
        reindexed += 1
    for i in range(300, 400):                     # deleted
        pipe.delete(f"p:{i}")
        del model[f"p:{i}"]
        removed += 1
    for i in range(400, 410):                     # blob became the wrong size
        pipe.hset(f"p:{i}", "vec", b"\x00" * (4 * DIM + 4))
        del model[f"p:{i}"]
        failing.add(f"p:{i}")
        removed += 1
    for i in range(410, 415):                     # NUMERIC no longer parses
        pipe.hset(f"p:{i}", "n", "not-a-number")
        del model[f"p:{i}"]
        failing.add(f"p:{i}")
        removed += 1
    for i in range(415, 420):                     # lost the vector field: leaves the index, no failure
        pipe.hdel(f"p:{i}", "vec")
        del model[f"p:{i}"]
        removed += 1
    for i in range(0, 3):                         # failing keys fixed
        v = rng.standard_normal(DIM).astype(np.float32)
        pipe.hset(f"p:{i}", "vec", v.tobytes())
        model[f"p:{i}"] = (v, TAGS[i % 3], float(i))
        failing.discard(f"p:{i}")
        added += 1
    for i in range(N, N + 50):                    # new keys
        v = rng.standard_normal(DIM).astype(np.float32)
        put(pipe, f"p:{i}", vec=v, tag="new", n=i)
        model[f"p:{i}"] = (v, "new", float(i))
        added += 1
    pipe.hset("other:1", mapping={"vec": rng.standard_normal(DIM).astype(np.float32).tobytes()})  # no prefix
    pipe.execute()
    kept = N - 5 - reindexed - removed
    live = [knn(r, "flat", q, K)[0] for q in rng.standard_normal((5, DIM)).astype(np.float32)]
    check(all(len(x) == K for x in live), "the live index answers before the restart")

    server.restart()  # SIGTERM: the AOF is flushed; no RDB is written (save "")
    r = server.client()
    with open(os.path.join(server.dir, "server.log")) as f:
        log = f.read()
    check("Reading RDB base file on AOF loading" in log and "incr file" in log,
          "the server loaded the AOF's RDB base (preamble) and its command tail")
    check(log.count("loaded from its snapshot") == 2, "both indexes were loaded from their snapshots")
    for name in ("flat", "hnsw"):
        info = wait_ready(r, name)
        got = {f: int(info[f]) for f in ("reconcile_kept", "reconcile_reindexed", "reconcile_removed", "reconcile_added")}
        want = {"reconcile_kept": kept, "reconcile_reindexed": reindexed, "reconcile_removed": removed,
                "reconcile_added": added}
        check(int(info["snapshot_loaded"]) == 1 and to_str(info["scan_mode"]) == "reconcile",
              f"{name}: loaded from the AOF preamble's snapshot and reconciled")
        check(got == want, f"{name}: reconcile counters match the changes: {got} != {want}")
        check(int(info["num_docs"]) == len(model), f"{name}: {info['num_docs']} docs, model {len(model)}")
        check(int(info["hash_indexing_failures"]) == len(failing),
              f"{name}: {info['hash_indexing_failures']} failing keys, model {len(failing)}")

    queries = rng.standard_normal((30, DIM)).astype(np.float32)
    filters = [("*", lambda t, n: True),
               ("@tag:{zzz}", lambda t, n: t == "zzz"),
               ("@tag:{a|new} @n:[100 2000]", lambda t, n: t in ("a", "new") and 100 <= n <= 2000),
               ("@n:[100000 +inf]", lambda t, n: n >= 100000),
               ("-@tag:{b}", lambda t, n: t != "b")]
    for text, pred in filters:
        exact = all(knn(r, "flat", q, K, filt=text)[0] == model_knn(q, K, pred) for q in queries)
        check(exact, f"FLAT KNN with filter {text!r} equals the model's exact answer")
        hits = sum(len(set(knn(r, "hnsw", q, K, filt=text)[0]) & set(model_knn(q, K, pred))) for q in queries)
        total = sum(len(model_knn(q, K, pred)) for q in queries)
        check(hits >= 0.95 * total, f"HNSW recall with filter {text!r}: {hits}/{total}")
    # Every key: deleted and failing keys absent, new keys present.
    all_keys = set(knn(r, "flat", queries[0], len(model) + 100)[0])
    check(all_keys == set(model), f"FLAT holds exactly the model's keys: {len(all_keys ^ set(model))} differ")
    all_hnsw = set(knn(r, "hnsw", queries[0], len(model) + 100, extra=f" EF_RUNTIME {len(model) + 100}")[0])
    check(all_hnsw == set(model), f"HNSW holds exactly the model's keys: {len(all_hnsw ^ set(model))} differ")

# --- AOF without a rewrite: FT.CREATE replayed from the command log rebuilds the index -------------
with Server(extra=AOF) as server:
    r = server.client()
    pipe = r.pipeline(transaction=False)
    X = rng.standard_normal((500, DIM)).astype(np.float32)
    for i in range(500):
        pipe.hset(f"p:{i}", mapping={"vec": X[i].tobytes(), "tag": "a", "n": i})
    pipe.execute()
    create(r, "flat", "FLAT")
    wait_ready(r, "flat")
    want = [knn(r, "flat", q, K) for q in X[:10]]
    server.restart()
    r = server.client()
    info = wait_ready(r, "flat")
    check(int(info["num_docs"]) == 500 and [knn(r, "flat", q, K) for q in X[:10]] == want,
          "AOF replay of FT.CREATE rebuilds the index")
    check(int(info["snapshot_loaded"]) == 0 and to_str(info["scan_mode"]) == "backfill",
          "an index created from the command log is backfilled (no snapshot)")

check.done()
