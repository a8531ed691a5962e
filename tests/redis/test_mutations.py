"""Writes keep the index current at once: wrong-size blobs count in hash_indexing_failures;
HSET updates, DEL, UNLINK, HDEL of the vector, expiry, eviction, RENAME, type changes and FLUSHALL
are all reflected in the next query."""
import time

import numpy as np

from harness import (Checks, IndexDefinition, IndexType, Server, TagField, VectorField, knn,
                     to_str, wait_ready)

check = Checks()
DIM = 8
rng = np.random.default_rng(5)


def vec(x):
    return np.full(DIM, x, dtype=np.float32).tobytes()


def indexed(r, name="idx"):
    """Every key the index holds, from an unfiltered KNN with a huge k."""
    keys, _ = knn(r, name, np.zeros(DIM), 10000)
    return set(keys)


def info(r, name="idx"):
    return r.ft(name).info()


with Server() as server:
    r = server.client()
    for i in range(20):
        r.hset(f"m:{i}", mapping={"vec": vec(i), "tag": "x"})
    r.hset("m:bad1", "vec", b"\x00" * 5)          # wrong size: a failure
    r.hset("m:novec", "tag", "x")                  # no vector field: not indexed, not a failure
    r.hset("other:1", "vec", vec(1))               # outside the prefix
    r.ft("idx").create_index(
        [VectorField("vec", "FLAT", {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2"}), TagField("tag")],
        definition=IndexDefinition(prefix=["m:"], index_type=IndexType.HASH))
    inf = wait_ready(r, "idx")
    check(int(inf["num_docs"]) == 20, f"20 valid keys indexed, got {inf['num_docs']}")
    check(int(inf["hash_indexing_failures"]) == 1, f"one wrong-size blob counted, got {inf['hash_indexing_failures']}")

    r.hset("m:bad2", "vec", b"\x00" * (4 * DIM + 4))
    check(int(info(r)["hash_indexing_failures"]) == 2, "a second wrong-size blob is counted at once")
    r.hset("m:bad2", "vec", vec(100))
    check(int(info(r)["hash_indexing_failures"]) == 1 and "m:bad2" in indexed(r),
          "fixing the blob indexes the key and clears its failure")

    keys, scores = knn(r, "idx", np.full(DIM, 5.0), 1)
    check(keys == ["m:5"], f"nearest to 5 is m:5, got {keys}")
    r.hset("m:5", "vec", vec(50))                  # update moves it
    keys, _ = knn(r, "idx", np.full(DIM, 5.0), 1)
    check(keys != ["m:5"], "an update is reflected at once")
    keys, scores = knn(r, "idx", np.full(DIM, 50.0), 1)
    check(keys == ["m:5"] and scores[0] == 0.0, f"the updated vector is found, got {keys} {scores}")

    r.delete("m:1")
    check("m:1" not in indexed(r), "DEL removes the key")
    r.unlink("m:2")
    check("m:2" not in indexed(r), "UNLINK removes the key")
    r.hdel("m:3", "vec")
    check("m:3" not in indexed(r), "HDEL of the vector field removes the key")
    r.rename("m:4", "m:40")
    got = indexed(r)
    check("m:4" not in got and "m:40" in got, "RENAME moves the key")
    r.rename("m:40", "other:40")
    check("other:40" not in indexed(r), "RENAME out of the prefix removes the key")
    r.rename("other:1", "m:from-other")
    check("m:from-other" in indexed(r), "RENAME into the prefix adds the key")
    r.delete("m:6")
    r.set("m:6", "a string now")
    check("m:6" not in indexed(r), "a key that became a string is not indexed")
    r.pexpire("m:7", 50)
    time.sleep(0.3)
    r.exists("m:7")                                # lazy expiry, in case the active cycle was late
    check("m:7" not in indexed(r), "expiry removes the key")

    # The index always equals the keys that hold a valid vector under the prefix.
    def expected():
        out = set()
        for k in r.scan_iter("m:*"):
            k = to_str(k)
            if r.type(k) == b"hash":
                v = r.hget(k, "vec")
                if v is not None and len(v) == 4 * DIM:
                    out.add(k)
        return out
    check(indexed(r) == expected(), "index equals the keyspace after the mutations")

    # Eviction: a small maxmemory with allkeys-random evicts keys as we write.
    r.config_set("maxmemory-policy", "allkeys-random")
    used = int(r.info("memory")["used_memory"])
    r.config_set("maxmemory", str(used + 200_000))
    big = np.ones(64, dtype=np.float32).tobytes()
    for i in range(3000):
        try:
            r.hset(f"m:ev{i}", mapping={"vec": vec(i % 97), "pad": big * 4})
        except Exception:
            pass
    evicted = int(r.info("stats")["evicted_keys"])
    r.config_set("maxmemory", "0")
    check(evicted > 0, f"keys were evicted ({evicted})")
    check(indexed(r) == expected(), "index equals the keyspace after evictions")

    # Other databases are not indexed, and flushing one leaves the index alone.
    before = indexed(r)
    r1 = server.client(db=1)
    r1.hset("m:db1", "vec", vec(3))
    r1.flushdb()
    check(indexed(r) == before, "writes to and FLUSHDB of database 1 leave the index alone")
    try:
        r1.execute_command("FT.SEARCH", "idx", "*=>[KNN 1 @vec $v]", "PARAMS", "2", "v", vec(1), "DIALECT", "2")
        check(False, "FT.SEARCH from database 1 is refused")
    except Exception as e:  # noqa: BLE001
        check("database 0" in str(e), f"FT.SEARCH from database 1 is refused: {e}")

    r.flushall()
    inf = wait_ready(r, "idx")
    check(int(inf["num_docs"]) == 0 and indexed(r) == set(), "FLUSHALL empties the index")
    r.hset("m:after", "vec", vec(1))
    check(indexed(r) == {"m:after"}, "the index works after FLUSHALL")
    check(server.alive(), "server still up")

# Keys that expire while the backfill scans them: the server expires a key when SCAN or a read
# reaches it and notifies the module from inside vindex's scan; those notifications must be queued,
# not re-enter vindex. Active expiry is off so the scan itself meets the expired keys.
with Server(extra=["--enable-debug-command", "yes"]) as server:
    r = server.client()
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    pipe = r.pipeline(transaction=False)
    for i in range(3000):
        pipe.hset(f"m:{i}", mapping={"vec": vec(i % 50), "tag": "x"})
        if i % 2:
            pipe.pexpire(f"m:{i}", 1)
    pipe.execute()
    time.sleep(0.05)
    r.ft("idx").create_index(
        [VectorField("vec", "HNSW", {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2"}), TagField("tag")],
        definition=IndexDefinition(prefix=["m:"], index_type=IndexType.HASH))
    inf = wait_ready(r, "idx", timeout=60)
    check(server.alive() and r.ping(), "server survives keys expiring under the backfill scan")
    check(int(inf["num_docs"]) == r.dbsize() == 1500, f"only live keys indexed: {inf['num_docs']} of {r.dbsize()}")

check.done()
