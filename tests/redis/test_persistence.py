"""Indexes survive restarts through the RDB: each index is saved as a vindex keyspace snapshot
(vectors, HNSW graph, TAG/NUMERIC values, failing keys) in the RDB's module aux data, loaded before
the keyspace, then reconciled against the loaded keys. SAVE, restart, same answers, and nothing
re-indexed (the graph is loaded, not rebuilt). A snapshot saved mid-backfill is loaded and completed
by the reconcile. A dropped index stays dropped. What a server without
the module does with such an RDB (Redis 7.0 has no aux_save2, so the module's aux record is always
there). AOF: test_persistence_aof.py; damaged snapshots: test_persistence_corrupt.py."""
import time

import numpy as np

from harness import (Checks, IndexDefinition, IndexType, NumericField, Server, TagField, VectorField,
                     knn, siftsmall, to_str, wait_ready)

check = Checks()


def server_version(r):
    return tuple(int(x) for x in to_str(r.info("server")["redis_version"]).split(".")[:2])


def info_int(info, name):
    return int(info[name])


# --- HNSW on siftsmall: SAVE, restart, identical answers, graph loaded ------------------------------
base, queries, truth = siftsmall()
N = len(base)
tags = np.array(["red", "green", "blue", "gold"])[np.arange(N) % 4]
FILTER = "@tag:{red|blue} @n:[1000 8000]"
with Server() as server:
    r = server.client()
    pipe = r.pipeline(transaction=False)
    for i in range(N):
        pipe.hset(f"s:{i}", mapping={"vec": base[i].tobytes(), "tag": tags[i], "n": i})
    pipe.execute()
    t0 = time.time()
    r.ft("sift").create_index(
        [VectorField("vec", "HNSW", {"TYPE": "FLOAT32", "DIM": 128, "DISTANCE_METRIC": "L2", "M": 16,
                                     "EF_CONSTRUCTION": 100, "EF_RUNTIME": 64}),
         TagField("tag"), NumericField("n")],
        definition=IndexDefinition(prefix=["s:"], index_type=IndexType.HASH))
    wait_ready(r, "sift")
    build_s = time.time() - t0
    before = [knn(r, "sift", q, 10) for q in queries]
    before_f = [knn(r, "sift", q, 10, filt=FILTER) for q in queries]
    recall = np.mean([len({int(k[2:]) for k in keys} & set(truth[i][:10])) / 10 for i, (keys, _) in enumerate(before)])
    check(recall >= 0.95, f"HNSW recall@10 before restart: {recall}")
    r.save()
    t0 = time.time()
    server.restart()
    r = server.client()
    info = wait_ready(r, "sift")
    load_s = time.time() - t0
    print(f"siftsmall HNSW: backfill {build_s:.2f} s; restart + snapshot load + reconcile {load_s:.2f} s; "
          f"snapshot {info_int(info, 'snapshot_bytes')} bytes decoded in {to_str(info['snapshot_load_ms'])} ms")
    check(info_int(info, "snapshot_loaded") == 1 and to_str(info["snapshot_load_error"]) == "",
          f"the HNSW snapshot was loaded: {info['snapshot_loaded']} {to_str(info['snapshot_load_error'])!r}")
    check(to_str(info["scan_mode"]) == "reconcile", "a loaded index is reconciled, not backfilled")
    check(info_int(info, "reconcile_kept") == N and info_int(info, "reconcile_reindexed") == 0 and
          info_int(info, "reconcile_added") == 0 and info_int(info, "reconcile_removed") == 0,
          "reconcile kept every entry and re-indexed none: "
          f"kept {info['reconcile_kept']} reindexed {info['reconcile_reindexed']} "
          f"added {info['reconcile_added']} removed {info['reconcile_removed']}")
    check(info_int(info, "num_docs") == N, f"{info['num_docs']} docs after restart")
    after = [knn(r, "sift", q, 10) for q in queries]
    after_f = [knn(r, "sift", q, 10, filt=FILTER) for q in queries]
    check(after == before, "HNSW: identical KNN answers (keys and scores) after restart")
    check(after_f == before_f, "HNSW: identical filtered KNN answers after restart")
    check(all(len(a[0]) == 10 for a in after_f), "filtered answers are full")

# --- FLAT with and without attributes; DROPINDEX; a server without the module ----------------------
rng = np.random.default_rng(3)
N2, DIM = 3000, 16
X = rng.standard_normal((N2, DIM)).astype(np.float32)
tags2 = np.array(["a", "b", "c"])[rng.integers(0, 3, N2)]
Q = rng.standard_normal((20, DIM)).astype(np.float32)


def fill(r):
    pipe = r.pipeline(transaction=False)
    for i in range(N2):
        pipe.hset(f"p:{i}", mapping={"vec": X[i].tobytes(), "tag": tags2[i], "n": i})
    pipe.execute()


def create(r, name):
    r.ft(name).create_index(
        [VectorField("vec", "FLAT", {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "COSINE"}),
         TagField("tag"), NumericField("n")],
        definition=IndexDefinition(prefix=["p:"], index_type=IndexType.HASH))


def answers(r, name, filt="*"):
    return [knn(r, name, q, 10, filt=filt) for q in Q]


with Server() as server:
    r = server.client()
    fill(r)
    create(r, "flat")
    r.ft("plain").create_index(
        [VectorField("vec", "FLAT", {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2"})],
        definition=IndexDefinition(prefix=["p:"], index_type=IndexType.HASH))
    wait_ready(r, "plain")
    wait_ready(r, "flat")
    before = (answers(r, "flat"), answers(r, "flat", "@tag:{a} @n:[100 2000]"))
    r.save()
    server.restart()
    r = server.client()
    check(sorted(r.execute_command("FT._LIST")) == [b"flat", b"plain"], "every index exists after restart")
    for name in ("plain", "flat"):
        info = wait_ready(r, name)
        check(info_int(info, "snapshot_loaded") == 1 and info_int(info, "reconcile_kept") == N2 and
              info_int(info, "reconcile_reindexed") == 0 and info_int(info, "reconcile_added") == 0,
              f"{name}: restored entirely from its snapshot: kept {info['reconcile_kept']} "
              f"reindexed {info['reconcile_reindexed']} added {info['reconcile_added']}")
    check((answers(r, "flat"), answers(r, "flat", "@tag:{a} @n:[100 2000]")) == before,
          "FLAT: same answers (plain and filtered) after restart")

# A snapshot taken while the backfill is still running: loaded, then reconciled from the start.
with Server() as server:
    r = server.client()
    fill(r)
    create(r, "early")
    while True:  # SAVE once the timer-driven backfill has indexed some keys, but not all
        info = r.ft("early").info()
        if int(info["num_docs"]) > 0 or to_str(info["state"]) != "backfilling":
            break
    r.save()
    saved_docs = int(info["num_docs"])  # at least this many were saved
    server.restart()
    r = server.client()
    info = wait_ready(r, "early")
    kept, added = int(info["reconcile_kept"]), int(info["reconcile_added"])
    print(f"mid-backfill snapshot: {saved_docs}+ of {N2} docs at SAVE; reconcile kept {kept}, added {added}")
    check(int(info["snapshot_loaded"]) == 1 and int(info["num_docs"]) == N2 and kept + added == N2 and
          kept >= saved_docs and int(info["reconcile_reindexed"]) == 0 and int(info["reconcile_removed"]) == 0,
          f"a mid-backfill snapshot ({saved_docs}+ docs at SAVE) is completed by the reconcile: kept {kept} added {added}")
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    exact = [[f"p:{i}" for i in np.argsort(1 - unit @ (q / np.linalg.norm(q)), kind="stable")[:10]] for q in Q]
    check([a[0] for a in answers(r, "early")] == exact, "and answers exactly (FLAT = numpy)")

with Server() as server:
    r = server.client()
    fill(r)
    create(r, "flat")
    wait_ready(r, "flat")
    r.execute_command("FT.DROPINDEX", "flat")
    r.save()
    server.restart()
    r = server.client()
    check(r.execute_command("FT._LIST") == [], "a dropped index does not come back")
    check(r.dbsize() == N2, "keys are kept")

    # The RDB now holds no index, but on Redis 7.0 still the module's aux record.
    version = server_version(r)
    directory = server.dir
    server.stop()
    plain = Server(directory=directory, module=False)
    reason = ""
    try:
        plain.start()
        loaded = plain.client().dbsize() == N2
        plain.stop()
    except RuntimeError as e:
        loaded = False
        reason = " ".join(line.split("# ", 1)[-1] for line in str(e).splitlines() if "AUX module data" in line)
    if version >= (7, 2):
        check(loaded, "a server without the module loads an RDB that has no index")
    else:
        # 7.0 has no aux_save2: the record is written even with no index, and a server without the
        # module refuses the whole RDB, naming the module's data type.
        check(not loaded and "vindex-ix" in reason,
              f"Redis {version[0]}.{version[1]} without the module refuses an RDB saved with it: {reason!r}")
        print("server without the module:", reason)
    server.start()
    check(server.client().dbsize() == N2, "the module loads the same RDB")

check.done()
