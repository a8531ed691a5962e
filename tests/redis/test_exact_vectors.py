"""Issue #19: FLAT or HNSW ... COMPRESSION SQ8 EXACT_VECTORS HASH re-ranks on the hash's own vector field.

Over 1,200 FLOAT32 hashes of DIM 4096 (where the SQ8 quantizer's training sample is capped at 1,024
vectors, so its first training is final): FLAT SQ8 indexes that re-rank from the hash keep no float
copy once trained (FT.INFO vector_memory_bytes: none under L2, the 4-byte COSINE magnitudes under
COSINE), hold the codes (DIM bytes, 4 more under L2), and answer KNN 10 with recall@10 >= 0.99
against numpy in float64, every score the exact distance of its key. With the same quantizer and
exact distances, an index keeping its float copy (EXACT_VECTORS INDEX) gives the very same answers.
A hybrid filter, vectors rewritten by HSET (the hooks re-encode them) and DEBUG RELOAD (the RDB
snapshot keeps the mode and the codes) change nothing of that. An HNSW SQ8 index re-ranking from the
hash (links chosen on decoded codes once its floats are gone) keeps no float copy either, answers
with recall@10 >= 0.95 and exact scores, and the same across DEBUG RELOAD (graph and codes saved).
EXACT_VECTORS without COMPRESSION SQ8 (FLAT or HNSW), or with an unknown value, is refused with an
error, creating nothing.
"""
import numpy as np
import redis

from harness import Checks, Server, knn, reference_knn, to_str, wait_ready

check = Checks()
DIM = 4096
N = 1200
rng = np.random.default_rng(4096)


def create(r, name, metric, exact="HASH", compression="SQ8", algo="FLAT"):
    params = ["TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", metric]
    if algo == "HNSW":
        params += ["M", "12", "EF_CONSTRUCTION", "100", "EF_RUNTIME", "200"]
    if compression:
        params += ["COMPRESSION", compression]
    if exact:
        params += ["EXACT_VECTORS", exact]
    r.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", "1", "d:", "SCHEMA", "vec", "VECTOR", algo,
                      str(len(params)), *params, "n", "NUMERIC")


def attribute(info, name):
    attrs = [to_str(x) for x in info["attributes"][0]]
    return attrs[attrs.index(name) + 1] if name in attrs else None


with Server(extra=["--enable-debug-command", "local"]) as server:
    r = server.client()
    base = rng.normal(0.5, 2.0, size=(N, DIM)).astype(np.float32)
    queries = rng.normal(0.5, 2.0, size=(12, DIM)).astype(np.float32)
    pipe = r.pipeline(transaction=False)
    for i, v in enumerate(base):
        pipe.hset(f"d:{i:05d}", mapping={"vec": v.tobytes(), "n": str(i % 10)})
        if i % 100 == 99:
            pipe.execute()
    pipe.execute()
    names = {"hash_L2": "L2", "hash_COSINE": "COSINE", "index_L2": "L2", "hnsw_hash_L2": "L2"}
    for name, metric in names.items():
        create(r, name, metric, exact="INDEX" if name.startswith("index") else "HASH",
               algo="HNSW" if name.startswith("hnsw") else "FLAT")
    for name in names:
        wait_ready(r, name)

    def answers(tag, data):
        out = {}
        for name, metric in names.items():
            found, exact = 0, 0
            out[name] = []
            for qi, q in enumerate(queries):
                low = qi % 3 == 0  # a hybrid query on every third
                keys, scores = knn(r, name, q, 10, filt="@n:[0 4]" if low else "*")
                rows = [i for i in range(N) if not low or i % 10 <= 4]
                order, _, every = reference_knn(data[rows].astype(np.float64), q.astype(np.float64), metric)
                want = {f"d:{rows[i]:05d}" for i in order}
                distance = {f"d:{rows[i]:05d}": every[i] for i in range(len(rows))}
                found += len(set(keys) & want)
                exact += len(keys) == 10 and all(abs(s - distance[k]) <= 1e-4 * (1 + abs(s))
                                                 for k, s in zip(keys, scores))
                out[name].append((keys, scores))
            recall = found / (10 * len(queries))
            print(f"{tag}: {name}: recall@10 {recall:.3f}")
            check(exact == len(queries), f"{tag}: {name}: exact scores in {exact}/{len(queries)} replies")
            want_recall = 0.95 if name.startswith("hnsw") else 0.99
            check(recall >= want_recall, f"{tag}: {name}: recall@10 {recall:.3f}")
        check(out["hash_L2"] == out["index_L2"], f"{tag}: re-ranking from the hash answers differently")
        return out

    answers("built", base)

    def memory(tag):
        parts = {}
        for name in names:
            info = r.ft(name).info()
            parts[name] = (int(info["vector_memory_bytes"]), int(info["vector_codes_memory_bytes"]),
                           int(info["key_memory_bytes"]), int(info["total_memory_bytes"]))
            print(f"{tag}: {name}: floats {parts[name][0]} bytes, codes {parts[name][1]}, keys {parts[name][2]}, "
                  f"total {parts[name][3]}")
            check(attribute(info, "exact_vectors") == ("INDEX" if name.startswith("index") else "HASH"),
                  f"{tag}: {name}: FT.INFO exact_vectors {attribute(info, 'exact_vectors')}")
        check(parts["hash_L2"][0] == 0, f"{tag}: hash_L2 keeps {parts['hash_L2'][0]} float bytes")
        check(N * 4 <= parts["hash_COSINE"][0] <= 2 * N * 4 + 4096,
              f"{tag}: hash_COSINE keeps {parts['hash_COSINE'][0]} bytes beside its magnitudes")
        check(parts["index_L2"][0] >= N * DIM * 4, f"{tag}: index_L2 float copy {parts['index_L2'][0]}")
        check(N * (DIM + 4) <= parts["hash_L2"][1] <= 2 * N * (DIM + 4), f"{tag}: hash_L2 codes {parts['hash_L2'][1]}")
        check(parts["hash_L2"][3] * 4 < parts["index_L2"][3], f"{tag}: hash_L2 total is not a quarter of index_L2's")
        check(parts["hnsw_hash_L2"][0] == 0, f"{tag}: hnsw_hash_L2 keeps {parts['hnsw_hash_L2'][0]} float bytes")
        check(N * (DIM + 4) <= parts["hnsw_hash_L2"][1] <= 2 * N * (DIM + 4),
              f"{tag}: hnsw_hash_L2 codes {parts['hnsw_hash_L2'][1]}")
        check(parts["hnsw_hash_L2"][3] * 4 < parts["index_L2"][3], f"{tag}: hnsw_hash_L2 total is not small")

    memory("built")

    # Rewrite some vectors: the hooks encode them again; the answers follow the hashes.
    for i in range(0, N, 7):
        base[i] = rng.normal(0.5, 2.0, size=DIM).astype(np.float32)
        r.hset(f"d:{i:05d}", "vec", base[i].tobytes())
    before = answers("after HSET", base)

    for create_args, why in ((dict(algo="HNSW", compression=None), "on HNSW without COMPRESSION SQ8"),
                             (dict(compression=None), "without COMPRESSION SQ8"),
                             (dict(exact="COPY"), "an unknown value")):
        try:
            create(r, "refused", "L2", **create_args)
            check(False, f"EXACT_VECTORS accepted {why}")
        except redis.ResponseError as e:
            print(f"refused ({why}): {e}")
    check("refused" not in [to_str(x) for x in r.execute_command("FT._LIST")], "a refused index exists")

    r.execute_command("DEBUG", "RELOAD")
    for name in names:
        wait_ready(r, name)
        info = r.ft(name).info()
        # Loaded from the snapshot, not rebuilt by a backfill after a refused load.
        check(int(info["snapshot_loaded"]) == 1 and not to_str(info["snapshot_load_error"]),
              f"{name}: snapshot not loaded: {to_str(info['snapshot_load_error'])}")
    after = answers("after DEBUG RELOAD", base)
    check(before == after, "answers changed across DEBUG RELOAD")
    memory("after DEBUG RELOAD")
    check(server.alive(), "server died")

check.done()
