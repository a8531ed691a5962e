"""Issue #19: COMPRESSION SQ8 over TYPE FLOAT16 and BFLOAT16, re-ranking on the hash's own field.

Over 1,100 hashes of DIM 4096 (where the SQ8 quantizer's training sample is capped at 1,024 vectors,
so its first training is final), each holding the same vector as a FLOAT16 blob and as a BFLOAT16
blob: an HNSW index on the FLOAT16 field (L2) and a FLAT index on the BFLOAT16 field (COSINE), both
COMPRESSION SQ8 EXACT_VECTORS HASH, keep no float copy once trained (FT.INFO vector_memory_bytes:
none under L2, the COSINE magnitudes under COSINE) and hold about a byte a dimension of codes: less
than the 2 bytes a dimension the 16-bit vectors take. They answer KNN 10 (query blobs of the TYPE)
with recall@10 >= 0.95 (HNSW) and 0.99 (FLAT) against numpy in float64 over the decoded 16-bit
values, every score the exact distance of its key's decoded vector, and the same after DEBUG RELOAD
(loaded from the RDB snapshot, not rebuilt). SQ8 on a 16-bit TYPE without EXACT_VECTORS HASH, and
on INT8, is refused with an error, creating nothing.
"""
import numpy as np
import redis

from harness import Checks, Server, reference_knn, search, to_str, to_type, wait_ready

check = Checks()
DIM = 4096
N = 1100
rng = np.random.default_rng(1616)
INDEXES = {"f16": ("FLOAT16", "L2", "HNSW", "v16"), "bf16": ("BFLOAT16", "COSINE", "FLAT", "vb16")}


def create(r, name, vtype, metric, algo, field, exact="HASH"):
    params = ["TYPE", vtype, "DIM", str(DIM), "DISTANCE_METRIC", metric, "COMPRESSION", "SQ8"]
    if exact:
        params += ["EXACT_VECTORS", exact]
    if algo == "HNSW":
        params += ["M", "12", "EF_CONSTRUCTION", "100", "EF_RUNTIME", "200"]
    r.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", "1", "h:", "SCHEMA", field, "VECTOR", algo,
                      str(len(params)), *params)


with Server(extra=["--enable-debug-command", "local"]) as server:
    r = server.client()
    base = rng.normal(0.5, 2.0, size=(N, DIM)).astype(np.float32)
    queries = rng.normal(0.5, 2.0, size=(8, DIM)).astype(np.float32)
    decoded = {}
    for name, (vtype, _, _, field) in INDEXES.items():
        decoded[name] = np.stack([to_type(v, vtype)[1] for v in base])
    pipe = r.pipeline(transaction=False)
    for i, v in enumerate(base):
        pipe.hset(f"h:{i:05d}", mapping={"v16": to_type(v, "FLOAT16")[0], "vb16": to_type(v, "BFLOAT16")[0]})
        if i % 100 == 99:
            pipe.execute()
    pipe.execute()
    for name, (vtype, metric, algo, field) in INDEXES.items():
        create(r, name, vtype, metric, algo, field)
    for name in INDEXES:
        wait_ready(r, name)

    def answers(tag):
        out = {}
        for name, (vtype, metric, algo, field) in INDEXES.items():
            found, exact = 0, 0
            out[name] = []
            for q in queries:
                qblob, qvalues = to_type(q, vtype)
                keys, scores = search(r, name, qblob, 10, field=field)
                order, _, every = reference_knn(decoded[name], qvalues, metric)
                found += len(set(keys) & {f"h:{i:05d}" for i in order})
                exact += len(keys) == 10 and all(abs(s - every[int(k[2:])]) <= 1e-4 * (1 + abs(s))
                                                 for k, s in zip(keys, scores))
                out[name].append((keys, scores))
            recall = found / (10 * len(queries))
            print(f"{tag}: {name} ({vtype} {algo} {metric}): recall@10 {recall:.3f}")
            check(exact == len(queries), f"{tag}: {name}: exact scores in {exact}/{len(queries)} replies")
            check(recall >= (0.95 if algo == "HNSW" else 0.99), f"{tag}: {name}: recall@10 {recall:.3f}")
        return out

    def memory(tag):
        for name, (vtype, metric, algo, field) in INDEXES.items():
            info = r.ft(name).info()
            floats, codes = int(info["vector_memory_bytes"]), int(info["vector_codes_memory_bytes"])
            print(f"{tag}: {name}: floats {floats} bytes, codes {codes}, graph {info['graph_memory_bytes']}, "
                  f"total {info['total_memory_bytes']} (the 16-bit vectors: {2 * N * DIM})")
            check(floats <= (2 * N * 4 + 4096 if metric == "COSINE" else 0), f"{tag}: {name} keeps {floats} float bytes")
            check(N * DIM <= codes < 2 * N * DIM, f"{tag}: {name} codes {codes}")

    before = answers("built")
    memory("built")

    for args, why in (({"exact": None}, "FLOAT16 without EXACT_VECTORS HASH"),
                      ({"exact": "INDEX"}, "FLOAT16 with EXACT_VECTORS INDEX")):
        try:
            create(r, "refused", "FLOAT16", "L2", "HNSW", "v16", **args)
            check(False, f"SQ8 accepted on {why}")
        except redis.ResponseError as e:
            print(f"refused ({why}): {e}")
    try:
        create(r, "refused", "INT8", "L2", "FLAT", "v16")
        check(False, "SQ8 accepted on INT8")
    except redis.ResponseError as e:
        print(f"refused (INT8): {e}")
    check("refused" not in [to_str(x) for x in r.execute_command("FT._LIST")], "a refused index exists")

    r.execute_command("DEBUG", "RELOAD")
    for name in INDEXES:
        wait_ready(r, name)
        info = r.ft(name).info()
        check(int(info["snapshot_loaded"]) == 1 and not to_str(info["snapshot_load_error"]),
              f"{name}: snapshot not loaded: {to_str(info['snapshot_load_error'])}")
    after = answers("after DEBUG RELOAD")
    check(before == after, "answers changed across DEBUG RELOAD")
    memory("after DEBUG RELOAD")
    check(server.alive(), "server died")

check.done()
