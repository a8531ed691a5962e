"""Cluster mode, index definitions: FT.DROPINDEX then FT.CREATE of the same name with another schema
(gone everywhere, then the new one everywhere), two concurrent FT.CREATE of one name with different
schemas (one winner on every node), FT.CREATE while a primary is stopped (an error naming it, then
convergence after SIGCONT), a node added with `redis-cli --cluster add-node` (lists every index within
~2 s, before it owns slots, and can coordinate searches), FT._APPLY refused from clients, and the
catalog surviving DEBUG RELOAD (it is in the RDB) and DEBUG LOADAOF (FT._APPLY replayed)."""
import signal
import threading
import time

import numpy as np
import redis

from cluster_fixture import Cluster, wait_for
from harness import Checks, to_str

check = Checks()
started = time.time()
rng = np.random.default_rng(3)


def schema(dim, field="vec"):
    return ["SCHEMA", field, "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", str(dim), "DISTANCE_METRIC", "L2"]


def local_info(node, name):
    reply = node.client().execute_command("FT.INFO", name, "LOCAL")
    it = iter(reply)
    info = {to_str(k): v for k, v in zip(it, it)}
    attrs = info["attributes"][0]
    it = iter(attrs)
    return {**info, "vector": {to_str(k): v for k, v in zip(it, it)}}


def lists(c):
    return {n.address: sorted(n.client().execute_command("FT._LIST")) for n in c.nodes if n.alive()}


def digests(c):
    return {n.address: n.info("vindex")["vindex_catalog_digest"] for n in c.nodes if n.alive()}


# AOF on: FT._APPLY records in the AOF are replayed by DEBUG LOADAOF below.
with Cluster(extra=["--appendonly", "yes"]) as c:
    print(f"cluster up in {time.time() - started:.1f} s")
    p = c.primaries()
    rc = c.cluster_client()
    pipe = rc.pipeline()
    for i in range(600):
        pipe.hset(f"d:{i}", mapping={"vec": rng.standard_normal(4).astype(np.float32).tobytes(),
                                     "vec8": rng.standard_normal(8).astype(np.float32).tobytes() if i % 2 else b"x"})
    pipe.execute()

    # ---- DROPINDEX, then CREATE of the same name with another schema ------------------------------
    check(p[0].client().execute_command("FT.CREATE", "idx", "PREFIX", "1", "d:", *schema(4)) == b"OK", "FT.CREATE")
    wait_for(lambda: all(v == [b"idx"] for v in lists(c).values()), 2, "idx on every node")
    check(int(local_info(p[1], "idx")["num_docs"]) > 0, "the other shards backfilled their keys")
    t0 = time.time()
    check(p[1].client().execute_command("FT.DROPINDEX", "idx") == b"OK", "FT.DROPINDEX from another primary")
    check(all(lists(c)[x.address] == [] for x in p), "gone from every primary when FT.DROPINDEX returned")
    wait_for(lambda: all(v == [] for v in lists(c).values()), 1, "gone from every replica within 1 s")
    check(p[2].client().execute_command("FT.CREATE", "idx", "PREFIX", "1", "d:", *schema(8, "vec8")) == b"OK",
          "FT.CREATE of the same name with another schema")
    wait_for(lambda: all(v == [b"idx"] for v in lists(c).values()), 1, "the new idx on every node")
    dims = {n.address: int(local_info(n, "idx")["vector"]["dim"]) for n in c.nodes}
    check(set(dims.values()) == {8}, f"the new definition everywhere: {dims}")
    info = rc.ft("idx").info()
    wait_for(lambda: to_str(rc.ft("idx").info()["state"]) == "ready", 10, "backfill")
    check(int(rc.ft("idx").info()["num_docs"]) == 300, "the new index covers the keys with a valid vec8")
    check(int(info["hash_indexing_failures"]) >= 0, "FT.INFO parses")
    print(f"drop + create round trip: {time.time() - t0:.2f} s")
    wait_for(lambda: len(set(digests(c).values())) == 1, 3, "equal catalog digests on every node")

    # ---- two concurrent FT.CREATE of one name, different schemas -----------------------------------
    barrier = threading.Barrier(2)
    results = {}

    def race(node, dim):
        barrier.wait()
        try:
            results[dim] = node.client().execute_command("FT.CREATE", "race", "PREFIX", "1", "r:", *schema(dim))
        except redis.ResponseError as e:
            results[dim] = e

    threads = [threading.Thread(target=race, args=(p[0], 4)), threading.Thread(target=race, args=(p[1], 6))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    oks = [d for d, r in results.items() if r == b"OK"]
    print("concurrent FT.CREATE:", results)
    check(len(oks) <= 1, f"at most one concurrent FT.CREATE succeeds: {results}")
    check(all(r == b"OK" or "already exists" in str(r) for r in results.values()), f"the loser is told: {results}")

    def one_winner():
        dims = {n.address: int(local_info(n, "race")["vector"]["dim"]) for n in c.nodes}
        return len(set(dims.values())) == 1 and dims

    winner = wait_for(one_winner, 2, "one winner on every node")
    check(not oks or set(winner.values()) == set(oks), f"the winner is the one that said OK: {winner} {oks}")

    # ---- FT.CREATE while a primary is stopped -------------------------------------------------------
    p[0].client().config_set("vindex.cluster-timeout-ms", 1000)
    stopped = p[2]
    stopped.signal(signal.SIGSTOP)
    t0 = time.time()
    try:
        p[0].client().execute_command("FT.CREATE", "late", *schema(4))
        check(False, "FT.CREATE with a stopped primary should report it")
    except redis.ResponseError as e:
        elapsed = time.time() - t0
        check(stopped.address in str(e) and "converge" in str(e), f"the error names the stopped primary: {e}")
        check(elapsed < 1.6, f"within the timeout: {elapsed:.2f} s")
    check(b"late" in p[1].client().execute_command("FT._LIST"), "applied on the primaries that answered")
    stopped.signal(signal.SIGCONT)
    t0 = time.time()
    wait_for(lambda: all(b"late" in v for v in lists(c).values()), 3, "convergence after SIGCONT")
    print(f"converged {time.time() - t0:.2f} s after SIGCONT")
    p[0].client().config_set("vindex.cluster-timeout-ms", 5000)

    # ---- a node added with redis-cli --cluster add-node ---------------------------------------------
    new = c.add_node()
    wait_for(lambda: sorted(new.client().execute_command("FT._LIST")) == [b"idx", b"late", b"race"], 3,
             "the new node to list every index")
    listed = time.time() - new.joined_at
    print(f"add-node: every index listed within {listed:.2f} s of redis-cli --cluster add-node returning")
    check(listed < 2.5, f"within ~2 s: {listed:.2f} s")
    c.wait_joined(new)
    shards = new.client().execute_command("CLUSTER", "SHARDS")
    mine = [s for s in shards if any(n[1] == new.id.encode() for n in s[3])]
    check(mine and mine[0][1] == [], "the new node owns no slots yet")
    q = rng.standard_normal(8).astype(np.float32).tobytes()
    args = ["FT.SEARCH", "idx", "*=>[KNN 5 @vec8 $v]", "PARAMS", "2", "v", q, "NOCONTENT", "DIALECT", "2"]
    check(new.client().execute_command(*args) == p[0].client().execute_command(*args),
          "a node without slots coordinates a search like any other")

    # ---- FT._APPLY is internal ----------------------------------------------------------------------
    try:
        p[0].client().execute_command("FT._APPLY", b"x")
        check(False, "FT._APPLY from a client should be refused")
    except redis.ResponseError as e:
        check("internal" in str(e), f"FT._APPLY refused: {e}")

    # ---- the catalog is in the RDB -------------------------------------------------------------------
    before = p[1].info("vindex")["vindex_catalog_digest"]
    p[1].client().execute_command("DEBUG", "RELOAD")
    check(p[1].info("vindex")["vindex_catalog_digest"] == before, "DEBUG RELOAD keeps the catalog (versions, tombstones)")
    check(sorted(p[1].client().execute_command("FT._LIST")) == [b"idx", b"late", b"race"], "and the indexes")
    p[1].client().execute_command("DEBUG", "LOADAOF")
    check(p[1].info("vindex")["vindex_catalog_digest"] == before, "DEBUG LOADAOF (FT._APPLY replayed) too")
    check(sorted(p[1].client().execute_command("FT._LIST")) == [b"idx", b"late", b"race"], "and the indexes")
    check(all(n.alive() for n in c.nodes), "every node still up")

print(f"test_cluster_catalog took {time.time() - started:.1f} s")
check.done()
