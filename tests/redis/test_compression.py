"""Issue #19: COMPRESSION SQ8 in FT.CREATE, for HNSW and FLAT.

Over 1,600 FLOAT32 hashes (DIM 40): HNSW and FLAT indexes with COMPRESSION SQ8 under L2, IP and
COSINE answer KNN 10 queries with recall@10 >= 0.98 against numpy in float64 (FLAT: >= 0.99), every
score the exact distance of its key (the walk or scan reads 8-bit codes; the 2·k best candidates, the
default, are re-ranked on the index's float copy). An SQ8 index over fewer hashes than it trains on
(400) is checked the same way. FT.INFO says COMPRESSION SQ8 and splits the memory: the codes (DIM
bytes and, under L2, 4 more a vector), the float copy (4·DIM a vector), the graph (none for FLAT); an
uncompressed index has no codes. After DEBUG RELOAD (the RDB snapshot keeps the quantizer) the
answers are the same. COMPRESSION SQ8 on TYPE FLOAT16 without EXACT_VECTORS HASH (see
test_sq8_sixteen_bits.py), on UINT8, or an unknown value is refused with an error, creating nothing.
"""
import numpy as np
import redis

from harness import Checks, Server, reference_knn, to_str, wait_ready

check = Checks()
DIM = 40
N = 1600
SMALL = 400
rng = np.random.default_rng(1919)


def create(r, name, prefix, metric, compression="SQ8", vtype="FLOAT32", algo="HNSW"):
    params = ["TYPE", vtype, "DIM", str(DIM), "DISTANCE_METRIC", metric]
    if algo == "HNSW":
        params += ["M", "8", "EF_CONSTRUCTION", "64"]
    if compression:
        params += ["COMPRESSION", compression]
    r.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", "1", prefix, "SCHEMA", "vec", "VECTOR", algo,
                      str(len(params)), *params)


def search(r, name, q, k=10, ef=64):
    reply = r.execute_command("FT.SEARCH", name, f"*=>[KNN {k} @vec $v EF_RUNTIME {ef}]", "PARAMS", "2", "v",
                              q.astype(np.float32).tobytes(), "RETURN", "1", "__vec_score", "SORTBY",
                              "__vec_score", "LIMIT", "0", str(k), "DIALECT", "2")
    keys = [to_str(reply[i]) for i in range(1, len(reply), 2)]
    scores = [float(to_str(reply[i + 1][1])) for i in range(1, len(reply), 2)]
    return keys, scores


def compare(keys, scores, prefix, order, distances, every):
    """(how many of numpy's top k the reply has, whether every reply score is its key's exact distance)."""
    found = len(set(keys) & {f"{prefix}{i:05d}" for i in order})
    exact = all(k.startswith(prefix) and abs(s - every[int(k[len(prefix):])]) <= 1e-4 * (1 + abs(s))
                for k, s in zip(keys, scores))
    return found, exact and len(keys) == len(order)


with Server(extra=["--enable-debug-command", "local"]) as server:
    r = server.client()
    base = rng.normal(size=(N, DIM)).astype(np.float32)
    queries = rng.normal(size=(25, DIM)).astype(np.float32)
    pipe = r.pipeline(transaction=False)
    for i, v in enumerate(base):
        pipe.hset(f"d:{i:05d}", "vec", v.tobytes())
        if i < SMALL:
            pipe.hset(f"s:{i:05d}", "vec", v.tobytes())
    pipe.execute()
    names = []
    for metric in ("L2", "IP", "COSINE"):
        create(r, f"sq8_{metric}", "d:", metric)
        names.append((f"sq8_{metric}", "d:", metric, base))
    create(r, "sq8_small", "s:", "L2")
    names.append(("sq8_small", "s:", "L2", base[:SMALL]))
    for metric in ("L2", "COSINE"):
        create(r, f"flat_sq8_{metric}", "d:", metric, algo="FLAT")
        names.append((f"flat_sq8_{metric}", "d:", metric, base))
    create(r, "plain_L2", "d:", "L2", compression=None)
    for name, *_ in names:
        wait_ready(r, name)
    wait_ready(r, "plain_L2")

    def answers(tag):
        out = {}
        for name, prefix, metric, data in names:
            found, exact = 0, 0
            out[name] = []
            for q in queries:
                keys, scores = search(r, name, q, ef=200)
                want = reference_knn(data.astype(np.float64), q.astype(np.float64), metric)
                f, e = compare(keys, scores, prefix, *want)
                found += f
                exact += e
                out[name].append((keys, scores))
            recall = found / (10 * len(queries))
            print(f"{tag}: {name}: recall@10 {recall:.3f}")
            check(exact == len(queries), f"{tag}: {name}: exact scores in {exact}/{len(queries)} replies")
            floor = 0.99 if name.startswith("flat") else 0.98
            check(recall >= floor, f"{tag}: {name}: recall@10 {recall:.3f}")
        return out

    before = answers("built")

    info = r.ft("sq8_L2").info()
    attrs = [to_str(x) for x in info["attributes"][0]]
    check("compression" in attrs and attrs[attrs.index("compression") + 1] == "SQ8", f"FT.INFO attributes {attrs}")
    codes = int(info["vector_codes_memory_bytes"])
    floats = int(info["vector_memory_bytes"])
    graph = int(info["graph_memory_bytes"])
    print(f"SQ8 L2, {N} vectors of DIM {DIM}: codes {codes} bytes, float copy {floats}, graph {graph}, "
          f"total {info['total_memory_bytes']}")
    check(N * (DIM + 4) <= codes <= 2 * N * (DIM + 4), f"codes {codes} bytes")
    check(N * DIM * 4 <= floats <= 2 * N * DIM * 4, f"float copy {floats} bytes")
    check(graph > 0, "graph bytes")
    plain = r.ft("plain_L2").info()
    check(int(plain["vector_codes_memory_bytes"]) == 0, "an uncompressed index reports codes")
    plain_attrs = [to_str(x) for x in plain["attributes"][0]]
    check(plain_attrs[plain_attrs.index("compression") + 1] == "NONE", f"FT.INFO attributes {plain_attrs}")
    ip = r.ft("sq8_IP").info()
    ip_codes = int(ip["vector_codes_memory_bytes"])
    check(ip_codes * (DIM + 4) == codes * DIM, f"IP codes {ip_codes} bytes: DIM a vector, no L2 term")
    flat = r.ft("flat_sq8_L2").info()
    flat_attrs = [to_str(x) for x in flat["attributes"][0]]
    check(flat_attrs[flat_attrs.index("compression") + 1] == "SQ8", f"FLAT FT.INFO attributes {flat_attrs}")
    flat_codes, flat_floats = int(flat["vector_codes_memory_bytes"]), int(flat["vector_memory_bytes"])
    print(f"FLAT SQ8 L2: codes {flat_codes} bytes, float copy {flat_floats}, graph {flat['graph_memory_bytes']}, "
          f"keys {flat['key_memory_bytes']}, total {flat['total_memory_bytes']}")
    check(N * (DIM + 4) <= flat_codes <= 2 * N * (DIM + 4), f"FLAT codes {flat_codes} bytes")
    check(N * DIM * 4 <= flat_floats <= 2 * N * DIM * 4, f"FLAT float copy {flat_floats} bytes")
    check(int(flat["graph_memory_bytes"]) == 0 and int(flat["key_memory_bytes"]) > 0, "FLAT graph and keys")

    for args, why in ((("FLOAT16", "HNSW", "SQ8"), "TYPE FLOAT16 without EXACT_VECTORS HASH"), (("FLOAT32", "HNSW", "SQ4"), "unknown value"),
                      (("UINT8", "FLAT", "SQ8"), "FLAT of TYPE UINT8")):
        vtype, algo, value = args
        try:
            create(r, "refused", "d:", "L2", compression=value, vtype=vtype, algo=algo)
            check(False, f"COMPRESSION accepted with {why}")
        except redis.ResponseError as e:
            print(f"refused ({why}): {e}")
    check("refused" not in [to_str(x) for x in r.execute_command("FT._LIST")], "a refused index exists")

    r.execute_command("DEBUG", "RELOAD")
    for name, *_ in names:
        wait_ready(r, name)
    after = answers("after DEBUG RELOAD")
    check(before == after, "answers changed across DEBUG RELOAD")
    check(server.alive(), "server died")

check.done()
