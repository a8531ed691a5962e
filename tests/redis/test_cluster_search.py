"""Cluster mode, read-only checks on one 3-primary + 3-replica cluster: the seed flow through redis-py's
RedisCluster (FT.CREATE reaches every node, KNN equals numpy), the same query answered identically by
all 6 nodes (fields included on replicas), hybrid filters / LIMIT / SORTBY DESC / RETURN / NOCONTENT /
k > N / EF_RUNTIME replies equal to a standalone server holding the same data (FLAT: byte for byte),
HNSW recall@10 within 0.01 of the standalone server's, FT.INFO aggregation and LOCAL, FT._LIST, key
slots equal to CLUSTER KEYSLOT for 10,000 random binary keys, an index whose prefix fixes a hash tag
asking only the shard of its slot, and MULTI / EVAL refusing to wait."""
import os
import random
import subprocess
import time

import numpy as np
import redis

from cluster_fixture import Cluster, wait_for
from harness import (Checks, IndexDefinition, IndexType, NumericField, Query, Server, TagField, VectorField,
                     siftsmall, to_str, wait_ready)

check = Checks()
started = time.time()
rng = np.random.default_rng(17)
N, DIM = 3000, 16  # 64-byte vectors: the hashes stay listpacks, so field order is insertion order
X = rng.standard_normal((N, DIM)).astype(np.float32)
X[50:100] = X[0:50]  # equal vectors on different keys: ties broken by key, across shards
colors = np.array(["red", "green", "blue"])
color = rng.integers(0, 3, N)
price = np.round(rng.uniform(0, 100, N), 1)


def doc(i):
    d = {"vec": X[i].tobytes(), "title": f"t{i}"}
    if i % 7:
        d["color"] = colors[color[i]]
    if i % 5:
        d["price"] = str(price[i])
    return d


def create(client, name, algorithm="FLAT", params=None, prefix="doc:", dim=DIM):
    attrs = {"TYPE": "FLOAT32", "DIM": dim, "DISTANCE_METRIC": "L2", **(params or {})}
    fields = [VectorField("vec", algorithm, attrs)]
    if prefix == "doc:":
        fields += [TagField("color"), NumericField("price")]
    client.ft(name).create_index(fields, definition=IndexDefinition(prefix=[prefix], index_type=IndexType.HASH))


def search_args(index, query, blob, *extra, k_param=None):
    params = ["v", blob] + (["k", str(k_param)] if k_param is not None else [])
    return ["FT.SEARCH", index, query, "PARAMS", str(len(params)), *params, *extra, "DIALECT", "2"]


def info_dict(reply):
    it = iter(reply)
    return {to_str(k): v for k, v in zip(it, it)}


with Cluster() as c, Server() as single:
    print(f"cluster up in {time.time() - started:.1f} s")
    rc = c.cluster_client()
    solo = single.client()

    # ---- seed flow through RedisCluster(...).ft(...) ---------------------------------------------
    create(rc, "idx")
    create(solo, "idx")
    lists = {n.address: n.client().execute_command("FT._LIST") for n in c.nodes if n.alive()}
    primaries = c.primaries()
    check(all(lists[p.address] == [b"idx"] for p in primaries),
          f"FT.CREATE through RedisCluster reached every primary when it returned: {lists}")
    wait_for(lambda: all(n.client().execute_command("FT._LIST") == [b"idx"] for n in c.nodes), 1.0,
             "every replica to list the index within 1 s")
    pipe = rc.pipeline()
    spipe = solo.pipeline(transaction=False)
    for i in range(N):
        pipe.hset(f"doc:{i}", mapping=doc(i))
        spipe.hset(f"doc:{i}", mapping=doc(i))
    pipe.execute()
    spipe.execute()
    c.wait_replicated()
    shard_sizes = [p.client().dbsize() for p in primaries]
    check(min(shard_sizes) > N / 5, f"keys spread over all shards: {shard_sizes}")

    q = rng.standard_normal(DIM).astype(np.float32)
    d = ((X.astype(np.float64) - q) ** 2).sum(1)
    res = rc.ft("idx").search(Query("*=>[KNN 10 @vec $v]").sort_by("__vec_score").dialect(2),
                              query_params={"v": q.tobytes()})
    keys = [x.id for x in res.docs]
    scores = np.array([float(x.__vec_score) for x in res.docs])
    want = np.sort(d)[:10]
    check(res.total == 10 and np.allclose(scores, want, rtol=1e-5, atol=1e-5),
          f"KNN 10 through RedisCluster has numpy's distances: {scores} vs {want}")
    check(all(abs(d[int(k.split(':')[1])] - s) < 1e-4 for k, s in zip(keys, scores)),
          "every returned key is at its true distance")
    order = sorted(range(N), key=lambda i: (np.float32(d[i]), f"doc:{i}"))[:10]
    check(keys == [f"doc:{i}" for i in order], f"KNN 10 keys equal numpy's (ties by key): {keys}")

    # ---- every node answers the same, fields included on replicas ---------------------------------
    args = search_args("idx", "*=>[KNN 10 @vec $v]", q.tobytes())
    want_reply = solo.execute_command(*args)
    replies = {n.address: n.client().execute_command(*args) for n in c.nodes}
    check(all(r == want_reply for r in replies.values()),
          "the same FT.SEARCH on each of the 6 nodes equals the standalone server's reply, byte for byte")
    check(all(b"vec" in r[2] and b"title" in r[2] for r in replies.values()), "full hashes on every node")

    # ---- query features against the standalone oracle (FLAT) -------------------------------------
    qb = q.tobytes()
    cases = [
        ("KNN 10", search_args("idx", "*=>[KNN 10 @vec $v]", qb)),
        ("ties: a duplicated vector", search_args("idx", "*=>[KNN 6 @vec $v]", X[3].tobytes())),
        ("TAG filter", search_args("idx", "@color:{red}=>[KNN 20 @vec $v]", qb)),
        ("TAG OR + NUMERIC range", search_args("idx", "(@color:{red|blue} @price:[20 (60])=>[KNN 15 @vec $v]", qb)),
        ("negation", search_args("idx", "-@color:{green}=>[KNN 12 @vec $v]", qb)),
        ("filter matching nothing", search_args("idx", "@color:{purple}=>[KNN 5 @vec $v]", qb)),
        ("LIMIT offset/count", search_args("idx", "*=>[KNN 30 @vec $v]", qb, "LIMIT", "7", "9")),
        ("LIMIT past k", search_args("idx", "*=>[KNN 10 @vec $v]", qb, "LIMIT", "8", "10")),
        ("LIMIT 0 0", search_args("idx", "*=>[KNN 10 @vec $v]", qb, "LIMIT", "0", "0")),
        ("SORTBY DESC", search_args("idx", "*=>[KNN 25 @vec $v]", qb, "SORTBY", "__vec_score", "DESC")),
        ("SORTBY DESC + LIMIT", search_args("idx", "*=>[KNN 25 @vec $v AS dist]", qb, "SORTBY", "dist", "DESC",
                                            "LIMIT", "3", "5")),
        ("RETURN fields, score, missing and repeated", search_args(
            "idx", "*=>[KNN 10 @vec $v]", qb, "RETURN", "5", "price", "__vec_score", "nope", "title", "price")),
        ("NOCONTENT", search_args("idx", "*=>[KNN 10 @vec $v]", qb, "NOCONTENT")),
        ("k > N", search_args("idx", "*=>[KNN 5000 @vec $v]", qb, "NOCONTENT", "LIMIT", "2990", "20")),
        ("k as a parameter", search_args("idx", "*=>[KNN $k @vec $v]", qb, "RETURN", "1", "__vec_score", k_param=7)),
        ("EF_RUNTIME on FLAT", search_args("idx", "*=>[KNN 10 @vec $v EF_RUNTIME 50]", qb)),
    ]
    coordinators = [primaries[0], c.replicas()[0], primaries[-1]]
    for what, case in cases:
        want_reply = solo.execute_command(*case)
        for node in coordinators:
            got = node.client().execute_command(*case)
            check(got == want_reply, f"{what} via {node.address}: {got[:3]} vs standalone {want_reply[:3]}")
    # Errors are the single node's: unknown index, bad blob.
    for bad, what in ((["FT.SEARCH", "nope", "*=>[KNN 1 @vec $v]", "PARAMS", "2", "v", qb, "DIALECT", "2"], "unknown index"),
                      (search_args("idx", "*=>[KNN 1 @vec $v]", b"xx"), "wrong blob size"),
                      (search_args("idx", "@nope:{a}=>[KNN 1 @vec $v]", qb), "unknown filter field")):
        errors = []
        for target in (solo, primaries[1].client()):
            try:
                target.execute_command(*bad)
                errors.append(None)
            except redis.ResponseError as e:
                errors.append(str(e))
        check(errors[0] is not None and errors[0] == errors[1], f"{what}: same error as standalone ({errors})")

    # ---- FT.INFO ----------------------------------------------------------------------------------
    info = rc.ft("idx").info()
    check(int(info["num_docs"]) == N, f"FT.INFO through RedisCluster: num_docs {info['num_docs']} == {N}")
    check(int(info["cluster_shards"]) == 3 and len(info["shards"]) == 3, "FT.INFO lists 3 shards")
    local = [int(info_dict(p.client().execute_command("FT.INFO", "idx", "LOCAL"))["num_docs"]) for p in primaries]
    check(sum(local) == N, f"FT.INFO LOCAL over the primaries sums to N: {local}")
    check(all(int(info_dict(n.client().execute_command("FT.INFO", "idx"))["num_docs"]) == N for n in c.nodes),
          "FT.INFO on every node (replicas included) says N")
    standalone_info = info_dict(solo.execute_command("FT.INFO", "idx"))
    cluster_info = info_dict(primaries[0].client().execute_command("FT.INFO", "idx"))
    check([k for k in standalone_info] == [k for k in cluster_info][:len(standalone_info)],
          "FT.INFO keeps the single-node fields, in order, before the cluster fields")
    check(all(n.client().execute_command("FT._LIST") == [b"idx"] for n in c.nodes), "FT._LIST identical on all nodes")
    # Each shard's answer carries its memory parts, memory account and maintenance figures: the
    # cluster-wide ones are the sums of FT.INFO LOCAL on the nodes that answered (nothing is written
    # meanwhile).
    cluster_info = info_dict(primaries[1].client().execute_command("FT.INFO", "idx"))
    shards = [info_dict(s) for s in cluster_info["shards"]]
    by_address = {n.address: n for n in c.nodes}
    local_infos = [info_dict(by_address[to_str(s["node"])].client().execute_command("FT.INFO", "idx", "LOCAL"))
                   for s in shards]
    check(int(cluster_info["cluster_shards_detailed"]) == 3, "FT.INFO: all 3 shards sent their memory detail")
    for field in ["total_memory_bytes", "vector_memory_bytes", "vector_codes_memory_bytes", "graph_memory_bytes",
                  "key_memory_bytes", "memory_peak_bytes", "memory_limit_bytes", "memory_limit_refusals",
                  "maintenance_pending_tombstones", "maintenance_rounds"]:
        want = sum(int(i[field]) for i in local_infos)
        check(int(cluster_info[field]) == want, f"cluster-wide FT.INFO {field} {int(cluster_info[field])} == "
              f"the answering nodes' sum {want}")
    check(int(cluster_info["vector_memory_bytes"]) > 0 and int(cluster_info["key_memory_bytes"]) > 0,
          "cluster-wide FT.INFO: vector and key memory are counted")
    check([int(s["total_memory_bytes"]) for s in shards] == [int(i["total_memory_bytes"]) for i in local_infos],
          "FT.INFO's shard list gives each shard's total_memory_bytes")

    # ---- HNSW recall against the standalone server ------------------------------------------------
    if os.path.exists(os.path.join(os.environ.get("VINDEX_DATASETS", ""), "siftsmall", "siftsmall_base.fvecs")):
        base, queries, truth = siftsmall()
        pipe = rc.pipeline()
        spipe = solo.pipeline(transaction=False)
        for i, v in enumerate(base):
            pipe.hset(f"sift:{i}", "vec", v.tobytes())
            spipe.hset(f"sift:{i}", "vec", v.tobytes())
        pipe.execute()
        spipe.execute()
        params = {"M": 16, "EF_CONSTRUCTION": 100, "EF_RUNTIME": 10}
        create(rc, "hnsw", "HNSW", params, prefix="sift:", dim=128)
        create(solo, "hnsw", "HNSW", params, prefix="sift:", dim=128)
        wait_ready(solo, "hnsw", timeout=240)
        wait_for(lambda: to_str(info_dict(primaries[0].client().execute_command("FT.INFO", "hnsw"))["state"]) == "ready",
                 240, "the cluster's HNSW backfill")
        recall = {}
        for name, client in (("cluster", primaries[0].client()), ("standalone", solo)):
            hits = 0
            for qi, vq in enumerate(queries[:100]):
                reply = client.execute_command(*search_args("hnsw", "*=>[KNN 10 @vec $v]", vq.tobytes(), "NOCONTENT"))
                hits += len({int(k.split(b":")[1]) for k in reply[1:]} & set(truth[qi][:10].tolist()))
            recall[name] = hits / 1000
        print(f"HNSW recall@10 (EF_RUNTIME 10): {recall}")
        check(recall["cluster"] >= recall["standalone"] - 0.01, f"HNSW recall within 0.01 of standalone: {recall}")
        ef = primaries[1].client().execute_command(*search_args("hnsw", "*=>[KNN 10 @vec $v EF_RUNTIME 200]",
                                                                queries[0].tobytes(), "NOCONTENT"))
        check(ef[0] == 10, "EF_RUNTIME per query in cluster mode")
    else:
        print("siftsmall absent: HNSW recall check skipped")

    # ---- key slots equal CLUSTER KEYSLOT --------------------------------------------------------------
    rand = random.Random(5)
    keys = [b"", b"{", b"}", b"{}", b"{}{a}", b"a{}b{c}", b"{a}", b"a{b}c", b"{{a}}", b"}{a}", b"{a", b"a}",
            b"foo{bar}{zap}", b"{user1000}.following", b"123456789"]
    while len(keys) < 10000:
        alphabet = b"{}ab\x00\xff" if rand.random() < 0.3 else bytes(range(256))
        keys.append(bytes(rand.choice(alphabet) for _ in range(rand.randint(0, 24))))
    node = c.nodes[0].client()
    pipe = node.pipeline(transaction=False)
    for k in keys:
        pipe.execute_command("CLUSTER", "KEYSLOT", k)
    server_slots = pipe.execute()
    tool = subprocess.run([os.environ["VINDEX_KEY_SLOT_TOOL"]], input="\n".join(k.hex() for k in keys) + "\n",
                          capture_output=True, text=True, check=True)
    module_slots = [int(x) for x in tool.stdout.split()]
    mismatches = [(k, a, b) for k, a, b in zip(keys, server_slots, module_slots) if a != b]
    check(len(module_slots) == len(keys) and not mismatches,
          f"key slots of {len(keys)} binary keys equal CLUSTER KEYSLOT ({mismatches[:3]})")

    # ---- an index whose prefix fixes a hash tag asks only the shard that serves its slot ------------
    from redis.crc import key_slot
    tag_slot = key_slot(b"tenant7")
    view = c.topology()
    owner = next(c.node_by_id(i) for i, v in view.items()
                 if v["role"] == "primary" and any(a <= tag_slot <= b for a, b in v["slots"]))
    create(rc, "tagidx", prefix="{tenant7}:")
    create(solo, "tagidx", prefix="{tenant7}:")
    wait_for(lambda: all(b"tagidx" in n.client().execute_command("FT._LIST") for n in c.nodes), 2.0,
             "every node to list the hash-tag index")
    T = 300
    TX = rng.standard_normal((T, DIM)).astype(np.float32)
    pipe = rc.pipeline()
    for i in range(T):
        pipe.hset(f"{{tenant7}}:{i}", mapping={"vec": TX[i].tobytes(), "title": f"tenant {i}"})
        solo.hset(f"{{tenant7}}:{i}", mapping={"vec": TX[i].tobytes(), "title": f"tenant {i}"})
    pipe.execute()
    c.wait_replicated()

    def counters(n):
        return {k: int(n.info("vindex").get(f"vindex_{k}", 0)) for k in ("searches_served", "searches_by_hash_tag")}

    before = {n.address: counters(n) for n in c.nodes}
    tag_args = search_args("tagidx", "*=>[KNN 10 @vec $v]", qb)
    want_tag = solo.execute_command(*tag_args)
    tag_replies = {n.address: n.client().execute_command(*tag_args) for n in c.nodes}
    check(want_tag[0] == 10 and all(r == want_tag for r in tag_replies.values()),
          "a hash-tag index: the same KNN 10 on each of the 6 nodes equals the standalone server's reply")
    after = {n.address: counters(n) for n in c.nodes}
    served = {a: after[a]["searches_served"] - before[a]["searches_served"] for a in after}
    check(served[owner.address] == len(c.nodes) - 1 and all(v == 0 for a, v in served.items() if a != owner.address),
          f"only the primary serving slot {tag_slot} was asked, once per other coordinator: {served}")
    check(all(after[a]["searches_by_hash_tag"] == before[a]["searches_by_hash_tag"] + 1 for a in after),
          "INFO vindex counts the search on every node as asked by hash tag")
    tx = owner.client().pipeline(transaction=True)
    tx.execute_command(*tag_args)
    out = tx.execute(raise_on_error=False)
    check(out[0] == want_tag, "inside MULTI on the node serving the tag's slot, nothing waits: the exact reply")
    count_all = search_args("tagidx", "*=>[KNN 1000 @vec $v]", qb, "NOCONTENT")
    check(all(n.client().execute_command(*count_all)[0] == T for n in c.nodes),
          "KNN 1000 finds every key of the tag")

    # ---- MULTI and scripts cannot wait for other shards: a clear error, no hang ---------------------
    client = primaries[0].client()
    tx = client.pipeline(transaction=True)
    tx.execute_command(*search_args("idx", "*=>[KNN 3 @vec $v]", qb))
    tx.execute_command(*search_args("idx", "*=>[KNN 3 @vec $v]", qb, "LOCALONLY", "NOCONTENT"))
    t0 = time.time()
    out = tx.execute(raise_on_error=False)
    check(isinstance(out[0], redis.ResponseError) and "MULTI" in str(out[0]),
          f"FT.SEARCH inside MULTI is refused with a clear error: {out[0]}")
    check(isinstance(out[1], list) and out[1][0] == 3, "LOCALONLY works inside MULTI")
    try:
        client.eval("return redis.call('FT.SEARCH', 'idx', '*=>[KNN 3 @vec $v]', 'PARAMS', '2', 'v', ARGV[1], "
                    "'DIALECT', '2')", 0, qb)
        check(False, "FT.SEARCH from a script should be refused")
    except redis.ResponseError as e:
        check("script" in str(e) or "MULTI" in str(e), f"FT.SEARCH inside EVAL is refused: {e}")
    check(time.time() - t0 < 2, "no hang")
    check(all(n.alive() for n in c.nodes), "every node still up")

print(f"test_cluster_search took {time.time() - started:.1f} s")
check.done()
