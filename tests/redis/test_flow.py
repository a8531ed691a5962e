"""The documented flow through redis-py: HSET numpy blobs, FT.CREATE over existing keys (backfill),
KNN equal to exact search (FLAT) and recall@10 >= 0.95 (HNSW) on siftsmall, and COSINE / IP / L2
scores equal to numpy's."""
import numpy as np

from harness import (Checks, IndexDefinition, IndexType, Server, VectorField, knn, siftsmall,
                     to_str, wait_ready)

check = Checks()
base, queries, truth = siftsmall()


def load(r, prefix, X):
    pipe = r.pipeline(transaction=False)
    for i, v in enumerate(X):
        pipe.hset(f"{prefix}{i}", "vec", v.astype(np.float32).tobytes())
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def create(r, name, algorithm, dim, metric, prefix, **params):
    attrs = {"TYPE": "FLOAT32", "DIM": dim, "DISTANCE_METRIC": metric, **params}
    r.ft(name).create_index([VectorField("vec", algorithm, attrs)],
                            definition=IndexDefinition(prefix=[prefix], index_type=IndexType.HASH))


with Server() as server:
    r = server.client()
    load(r, "sift:", base)

    # FLAT over existing keys: the backfill runs from a timer while the server keeps answering.
    create(r, "flat", "FLAT", 128, "L2", "sift:")
    saw_progress = False
    while True:
        info = r.ft("flat").info()
        check(r.ping(), "server answers during the backfill")
        if to_str(info["state"]) == "ready":
            break
        saw_progress |= int(info["backfill_in_progress"]) == 1
    check(int(info["num_docs"]) == len(base), f"FLAT backfill indexed {info['num_docs']} of {len(base)}")
    check(float(info["backfill_complete_percent"]) == 100, "backfill reports 100 percent when done")
    print("backfill seen in progress:", saw_progress)

    exact_mismatch = 0
    for qi, q in enumerate(queries[:50]):
        keys, scores = knn(r, "flat", q, 10)
        d = ((base - q) ** 2).sum(1, dtype=np.float64)
        order = np.argsort(d, kind="stable")[:10]
        # Equal distances up to float rounding, and the same keys wherever distances are distinct.
        if not np.allclose(scores, d[order], rtol=1e-4, atol=1e-2):
            exact_mismatch += 1
        if set(keys) != {f"sift:{i}" for i in order} and len(set(np.round(d[order], 1))) == 10:
            exact_mismatch += 1
    check(exact_mismatch == 0, f"FLAT KNN equals exact search ({exact_mismatch} mismatches)")

    # HNSW on the same keys: recall@10 against siftsmall's ground truth.
    create(r, "hnsw", "HNSW", 128, "L2", "sift:", M=16, EF_CONSTRUCTION=200, EF_RUNTIME=64)
    info = wait_ready(r, "hnsw")
    check(int(info["num_docs"]) == len(base), "HNSW backfill indexed every key")
    hits = 0
    for qi, q in enumerate(queries):
        keys, _ = knn(r, "hnsw", q, 10)
        hits += len({int(k.split(":")[1]) for k in keys} & set(truth[qi][:10].tolist()))
    recall = hits / (10 * len(queries))
    print(f"HNSW recall@10 through the module: {recall:.4f}")
    check(recall >= 0.95, f"HNSW recall@10 {recall:.4f} >= 0.95")
    keys_ef, _ = knn(r, "hnsw", queries[0], 10, extra=" EF_RUNTIME 200")
    check(len(keys_ef) == 10, "per-query EF_RUNTIME is accepted")

    # COSINE, IP and L2 scores equal numpy's on random vectors, for FLAT and HNSW.
    rng = np.random.default_rng(7)
    X = rng.standard_normal((500, 16)).astype(np.float32)
    load(r, "small:", X)
    q = rng.standard_normal(16).astype(np.float32)
    Xd, qd = X.astype(np.float64), q.astype(np.float64)
    reference = {
        "L2": ((Xd - qd) ** 2).sum(1),
        "IP": 1 - Xd @ qd,
        "COSINE": 1 - (Xd @ qd) / (np.linalg.norm(Xd, axis=1) * np.linalg.norm(qd)),
    }
    for algorithm in ("FLAT", "HNSW"):
        for metric, ref in reference.items():
            name = f"{algorithm}_{metric}".lower()
            params = {"EF_RUNTIME": 100} if algorithm == "HNSW" else {}
            create(r, name, algorithm, 16, metric, "small:", **params)
            wait_ready(r, name)
            keys, scores = knn(r, name, q, 20)
            order = np.argsort(ref, kind="stable")[:20]
            got = np.array(scores)
            want = np.array([ref[int(k.split(":")[1])] for k in keys])
            check(np.allclose(got, want, rtol=1e-4, atol=1e-4),
                  f"{algorithm} {metric} scores equal numpy's: {got[:3]} vs {want[:3]}")
            if algorithm == "FLAT":
                check(np.allclose(got, ref[order], rtol=1e-4, atol=1e-4),
                      f"{algorithm} {metric} returns the 20 nearest")
            else:  # approximate: most of the 20 nearest (IP is not a metric, graphs find it harder)
                overlap = len({int(k.split(":")[1]) for k in keys} & set(order.tolist()))
                check(overlap >= 18, f"{algorithm} {metric} finds {overlap} of the 20 nearest")
            check(list(got) == sorted(got), f"{algorithm} {metric} scores ascend")
    check(server.alive(), "server still up")

check.done()
