"""Issue #19: vector TYPEs. Indexes keep FLOAT16 / BFLOAT16 vectors in 16 bits, INT8 / UINT8 in 8.

For TYPE FLOAT32, FLOAT16, BFLOAT16, INT8 and UINT8 under L2, IP and COSINE: an HNSW index over 600
hashes (DIM 48, blobs of the TYPE) answers KNN 10 queries (query blobs of the TYPE, EF_RUNTIME above
the key count, so the walk covers the graph) with the keys and scores numpy computes in float64 over
the same decoded values; FT.INFO total_memory_bytes of a narrow index is below the FLOAT32 one's by
at least 90 % of the 2 or 3 bytes per element it saves; after DEBUG RELOAD (RDB snapshot, loaded
without re-inserting) the narrow indexes give the same answers; FLAT indexes of TYPE FLOAT16 and
UINT8 answer like numpy too, in less memory than a FLAT FLOAT32 one by the same margin; a blob of
another TYPE's size is an indexing failure.
"""
import numpy as np

from harness import Checks, Server, reference_knn, search, to_str, to_type, wait_ready

check = Checks()
DIM = 48
N = 600
rng = np.random.default_rng(19)


def create(r, name, prefix, vtype, metric, algo="HNSW"):
    params = ["TYPE", vtype, "DIM", str(DIM), "DISTANCE_METRIC", metric]
    if algo == "HNSW":
        params += ["M", "8", "EF_CONSTRUCTION", "64"]
    r.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", "1", prefix, "SCHEMA", "vec", "VECTOR", algo,
                      str(len(params)), *params)


def agrees(keys, scores, prefix, order, distances, every):
    """The reply is numpy's top k: each rank's key has that rank's distance and score. Integer
    elements (INT8, UINT8) make exact ties common; the reply may order tied keys its own way, so a
    key is right when its own distance is the rank's (and no key comes twice)."""
    if len(keys) != len(order) or len(set(keys)) != len(keys):
        return False
    for key, score, d in zip(keys, scores, distances):
        if not key.startswith(prefix) or abs(score - d) > 1e-4 * (1 + abs(d)):
            return False
        own = every[int(key[len(prefix):])]
        if abs(own - d) > 1e-6 * (1 + abs(d)):
            return False
    return True


with Server(extra=["--enable-debug-command", "local"]) as server:
    r = server.client()
    base32 = rng.normal(size=(N, DIM)).astype(np.float32)
    queries32 = rng.normal(size=(20, DIM)).astype(np.float32)
    decoded = {}
    types = ("FLOAT32", "FLOAT16", "BFLOAT16", "INT8", "UINT8")
    width = {"FLOAT16": 2, "BFLOAT16": 2, "INT8": 1, "UINT8": 1}
    for vtype in types:
        blobs, values = zip(*(to_type(v, vtype) for v in base32))
        decoded[vtype] = np.stack(values)
        pipe = r.pipeline(transaction=False)
        for i, blob in enumerate(blobs):
            pipe.hset(f"{vtype}:{i:05d}", "vec", blob)
        pipe.execute()
    names = []
    for vtype in types:
        for metric in ("L2", "IP", "COSINE"):
            name = f"i_{vtype}_{metric}"
            create(r, name, f"{vtype}:", vtype, metric)
            names.append((name, vtype, metric))
    create(r, "flat16", "FLOAT16:", "FLOAT16", "L2", algo="FLAT")
    create(r, "flat8", "UINT8:", "UINT8", "COSINE", algo="FLAT")
    create(r, "flat32", "FLOAT32:", "FLOAT32", "L2", algo="FLAT")
    for name, _, _ in names:
        wait_ready(r, name)
    for name in ("flat16", "flat8", "flat32"):
        wait_ready(r, name)

    def answers(tag):
        results = {}
        for name, vtype, metric in names:
            good = 0
            results[name] = []
            for q in queries32:
                qblob, qvalues = to_type(q, vtype)
                keys, scores = search(r, name, qblob, ef=N + 100)
                order, distances, every = reference_knn(decoded[vtype], qvalues, metric)
                good += agrees(keys, scores, f"{vtype}:", order, distances, every)
                results[name].append(keys)
            check(good == len(queries32), f"{tag}: {name}: {good}/{len(queries32)} queries as numpy")
        return results

    before = answers("built")
    for flat, vtype, metric in (("flat16", "FLOAT16", "L2"), ("flat8", "UINT8", "COSINE")):
        good = 0
        for q in queries32:
            qblob, qvalues = to_type(q, vtype)
            keys, scores = search(r, flat, qblob)
            good += agrees(keys, scores, f"{vtype}:", *reference_knn(decoded[vtype], qvalues, metric))
        check(good == len(queries32), f"FLAT {vtype}: {good}/{len(queries32)} queries as numpy")
        saved = int(r.ft("flat32").info()["total_memory_bytes"]) - int(r.ft(flat).info()["total_memory_bytes"])
        print(f"FLAT {vtype}: {saved} bytes saved against FLAT FLOAT32")
        # (COSINE keeps 1/|v| as a float beside the elements: 4 bytes a vector less saved.)
        check(saved >= 0.9 * N * (DIM * (4 - width[vtype]) - 4), f"FLAT {vtype} saved only {saved} bytes")

    for metric in ("L2", "IP", "COSINE"):
        wide = int(r.ft(f"i_FLOAT32_{metric}").info()["total_memory_bytes"])
        for vtype in types[1:]:
            narrow = int(r.ft(f"i_{vtype}_{metric}").info()["total_memory_bytes"])
            saved = wide - narrow
            per_element = 4 - width[vtype]
            print(f"{metric} {vtype}: {narrow} bytes against {wide} for FLOAT32: {saved} saved "
                  f"({per_element} bytes an element of {N} vectors: {N * DIM * per_element}; storage grows a "
                  f"block at a time)")
            check(saved >= 0.9 * N * DIM * per_element, f"{metric} {vtype}: saved only {saved} bytes")

    # A FLOAT32-sized blob under a FLOAT16 prefix: an indexing failure, nothing else changes.
    r.hset("FLOAT16:bad", "vec", base32[0].tobytes())
    info = r.ft("i_FLOAT16_L2").info()
    check(int(info["num_docs"]) == N, f"wrong-size blob indexed: num_docs {info['num_docs']}")
    check(int(info["hash_indexing_failures"]) == 1, f"failures {info['hash_indexing_failures']}")
    r.delete("FLOAT16:bad")
    # A FLOAT16-sized blob under an INT8 prefix: the same.
    r.hset("INT8:bad", "vec", base32[0].astype(np.float16).tobytes())
    info = r.ft("i_INT8_IP").info()
    check(int(info["num_docs"]) == N, f"wrong-size INT8 blob indexed: num_docs {info['num_docs']}")
    check(int(info["hash_indexing_failures"]) == 1, f"INT8 failures {info['hash_indexing_failures']}")
    r.delete("INT8:bad")

    r.execute_command("DEBUG", "RELOAD")
    for name, _, _ in names:
        wait_ready(r, name)
        # Loaded from the RDB snapshot, graph included, not rebuilt by a backfill.
        loaded = int(r.ft(name).info()["snapshot_loaded"])
        check(loaded == 1, f"{name}: snapshot_loaded {loaded} after DEBUG RELOAD (rebuilt, not loaded)")
    after = answers("after DEBUG RELOAD")
    check(before == after, "answers changed across DEBUG RELOAD")
    check(server.alive(), "server died")

check.done()
