"""Issue #14: index memory comes from Redis's allocator, so used_memory, maxmemory and eviction see it.

(a) used_memory grows by the indexes' memory: a FLAT and an HNSW index created over N written vectors
    (DIM 128) add their FT.INFO total_memory_bytes to used_memory; INFO vindex's total is the sum of the
    indexes' and survives DEBUG RELOAD (snapshot load); FT.DROPINDEX gives a loaded index's bytes back
    to used_memory, and FLUSHALL (rebuild) takes the total to 0. (b) with maxmemory 40mb and allkeys-lru, inserting more vectors than fit
    makes Redis evict keys; used_memory stays near maxmemory; the evicted keys leave the indexes
    (num_docs = the prefix's keys) and searches answer with existing keys only. (c) vindex.index-max-memory
    at an index's size: further keys are refused as "out of memory" indexing failures (counted), the
    indexed ones are still found, DEL works and frees, raising the limit lets rewritten keys in; a
    snapshot larger than the limit is refused at load and backfilled up to it. (d) vindex.max-memory
    across two indexes likewise. (e) the server stays up throughout. The figures are printed.
"""
import time

import numpy as np
import redis

from harness import SANITIZED, Checks, Server, to_str, wait_ready

check = Checks()
DIM = 128
rng = np.random.default_rng(14)
HNSW_PARAMS = ["M", "8", "EF_CONSTRUCTION", "64"]
MB = 1 << 20


def create(r, name, prefix, algo="FLAT", extra=()):
    params = ["TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2", *extra]
    if algo == "HNSW":
        params += HNSW_PARAMS
    r.execute_command("FT.CREATE", name, "ON", "HASH", "PREFIX", "1", prefix, "SCHEMA", "vec", "VECTOR", algo,
                      str(len(params)), *params)


def vectors(n):
    return rng.random((n, DIM), dtype=np.float32)


def insert(r, prefix, start, vecs, batch=500):
    """HSETs prefix{i:06d} for i from start; returns the replies that were errors."""
    errors = []
    for lo in range(0, len(vecs), batch):
        pipe = r.pipeline(transaction=False)
        for i, v in enumerate(vecs[lo:lo + batch], start + lo):
            pipe.hset(f"{prefix}{i:06d}", "vec", v.tobytes())
        errors += [x for x in pipe.execute(raise_on_error=False) if isinstance(x, Exception)]
    return errors


def used(r):
    return int(r.info("memory")["used_memory"])


def info(r, name):
    return r.ft(name).info()


def figure(r, name, field):
    return int(info(r, name)[field])


def reasons(r, name):
    flat = info(r, name)["hash_indexing_failures_by_reason"]
    return {to_str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def vinfo(r):
    return r.info("vindex")


def count_keys(r, pattern):
    return sum(1 for _ in r.scan_iter(match=pattern, count=5000))


def settle(r, names, timeout=60):
    """Waits until every index is ready and has no HNSW tombstones pending (freed by the timer)."""
    deadline = time.time() + timeout * (4 if SANITIZED else 1)
    for name in names:
        wait_ready(r, name)
        while int(info(r, name)["maintenance_pending_tombstones"]) > 0 and time.time() < deadline:
            time.sleep(0.05)


def found(r, name, vec, k=10):
    """The keys of a KNN k search (HNSW with EF_RUNTIME 200: an entry's own vector finds it)."""
    ef = " EF_RUNTIME 200" if to_str(info(r, name)["attributes"][0][7]) == "HNSW" else ""
    res = r.execute_command("FT.SEARCH", name, f"*=>[KNN {k} @vec $v{ef}]", "PARAMS", "2", "v", vec.tobytes(),
                            "NOCONTENT", "DIALECT", "2")
    return [to_str(x) for x in res[1:]]


def rss_bytes(server):
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# ---- (a) used_memory grows by the indexes' bytes ---------------------------------------------------
# The keys are written first, then each index is created over them (a backfill): the used_memory it
# adds is the index alone, with no key or keyspace-table growth mixed in.
N = 5000 if SANITIZED else 10000
started = time.time()
with Server(extra=["--enable-debug-command", "local"]) as server:
    r = server.client()
    vecs = vectors(N)
    insert(r, "f:", 0, vecs)
    insert(r, "h:", 0, vecs)
    grew = {}
    for name, prefix, algo in (("flat", "f:", "FLAT"), ("hnsw", "h:", "HNSW")):
        before = used(r)
        create(r, name, prefix, algo)
        wait_ready(r, name)
        grew[name] = used(r) - before
    flat_bytes, hnsw_bytes = figure(r, "flat", "total_memory_bytes"), figure(r, "hnsw", "total_memory_bytes")
    print(f"(a) {N} vectors DIM {DIM}, indexed after they were written: used_memory +{grew['flat']} B for FLAT "
          f"(total_memory_bytes {flat_bytes}: {grew['flat'] / flat_bytes:.3f} x), +{grew['hnsw']} B for HNSW M 8 "
          f"({hnsw_bytes}: {grew['hnsw'] / hnsw_bytes:.3f} x)")
    check(flat_bytes >= N * DIM * 4 and hnsw_bytes >= N * DIM * 4, "the indexes hold at least their vectors")
    for name, index_bytes in (("flat", flat_bytes), ("hnsw", hnsw_bytes)):
        # At least the index's bytes (less 2 %: other allocations come and go), and not much more
        # (jemalloc rounds up to its size classes).
        check(0.98 * index_bytes <= grew[name] <= 1.25 * index_bytes,
              f"(a) {name}: used_memory grew {grew[name]} B, the index holds {index_bytes} B")
    v = vinfo(r)
    check(int(v["vindex_memory_used_bytes"]) == flat_bytes + hnsw_bytes,
          f"(a) INFO vindex memory_used_bytes {v['vindex_memory_used_bytes']} = the indexes' {flat_bytes + hnsw_bytes}")
    check(int(v["vindex_memory_peak_bytes"]) >= flat_bytes + hnsw_bytes, "(a) INFO vindex peak >= in use")
    check(int(v["vindex_memory_limit_bytes"]) == 0 and int(v["vindex_memory_index_limit_bytes"]) == 0,
          "(a) no limits by default")
    fi = info(r, "flat")
    check(int(fi["memory_peak_bytes"]) >= flat_bytes and int(fi["memory_limit_bytes"]) == 0
          and int(fi["memory_limit_refusals"]) == 0, f"(a) FT.INFO memory fields: {fi['memory_peak_bytes']}, "
          f"{fi['memory_limit_bytes']}, {fi['memory_limit_refusals']}")
    check(abs(float(fi["vector_index_sz_mb"]) * MB - flat_bytes) < 0.01 * MB, "(a) vector_index_sz_mb = total bytes")

    # Snapshot load (DEBUG RELOAD): the loaded indexes allocate from their accounts too.
    r.execute_command("DEBUG", "RELOAD")
    settle(r, ["flat", "hnsw"])
    f2, h2 = figure(r, "flat", "total_memory_bytes"), figure(r, "hnsw", "total_memory_bytes")
    check(int(info(r, "flat")["snapshot_loaded"]) == 1 and int(info(r, "hnsw")["snapshot_loaded"]) == 1,
          "(a) DEBUG RELOAD loaded the snapshots")
    check(f2 > N * DIM * 4 and h2 > N * DIM * 4 and int(vinfo(r)["vindex_memory_used_bytes"]) == f2 + h2,
          f"(a) after DEBUG RELOAD: FLAT {f2} B, HNSW {h2} B, INFO vindex {vinfo(r)['vindex_memory_used_bytes']}")
    print(f"(a) after DEBUG RELOAD: FLAT {f2} B (was {flat_bytes}), HNSW {h2} B (was {hnsw_bytes})")
    # FT.DROPINDEX gives a loaded index's memory back to Redis.
    before = used(r)
    r.execute_command("FT.DROPINDEX", "hnsw")
    freed = before - used(r)
    print(f"(a) FT.DROPINDEX of the loaded HNSW index ({h2} B): used_memory -{freed} B")
    check(0.98 * h2 <= freed <= 1.25 * h2, f"(a) DROPINDEX freed {freed} B of {h2} B")
    check(int(vinfo(r)["vindex_memory_used_bytes"]) == f2, "(a) INFO vindex: the FLAT index left")
    before_flush = used(r)
    r.flushall()
    settle(r, ["flat"])
    after_flush = used(r)
    check(int(vinfo(r)["vindex_memory_used_bytes"]) == 0 and figure(r, "flat", "total_memory_bytes") == 0,
          "(a) FLUSHALL: the rebuilt index holds nothing")
    print(f"(a) FLUSHALL: used_memory {before_flush} -> {after_flush} B; (a) took {time.time() - started:.1f} s")
    check(server.alive() and r.ping(), "(a) server up")

# ---- (b) maxmemory + allkeys-lru: eviction sees index memory ---------------------------------------
# 40,000 vectors: about twice what fits in 40 MB with their index entries (12,000 in 12 MB under the
# sanitizers, 3-5x slower).
MAXMEMORY = (12 if SANITIZED else 40) * MB
PAIRS = 6000 if SANITIZED else 20000
started = time.time()
with Server(extra=["--maxmemory", str(MAXMEMORY), "--maxmemory-policy", "allkeys-lru"]) as server:
    r = server.client()
    create(r, "flat", "f:")
    create(r, "hnsw", "h:", "HNSW")
    highest, errors = 0, []
    vecs = vectors(PAIRS)
    for lo in range(0, PAIRS, 1000):
        errors += insert(r, "f:", lo, vecs[lo:lo + 1000])
        errors += insert(r, "h:", lo, vecs[lo:lo + 1000])
        highest = max(highest, used(r))
    settle(r, ["flat", "hnsw"])
    now = used(r)
    # Counting keys allocates too (replies), which could evict more while counting: stop evictions.
    r.config_set("maxmemory", "0")
    evicted = int(r.info("stats")["evicted_keys"])
    f_keys, h_keys = count_keys(r, "f:*"), count_keys(r, "h:*")
    fi, hi = info(r, "flat"), info(r, "hnsw")
    index_bytes = int(fi["total_memory_bytes"]) + int(hi["total_memory_bytes"])
    rss = rss_bytes(server)
    print(f"(b) maxmemory {MAXMEMORY} B, {2 * PAIRS} vectors written: {evicted} keys evicted, "
          f"used_memory highest {highest} B ({highest / MAXMEMORY:.3f} x), now {now} B, RSS {rss} B; "
          f"indexes {index_bytes} B (FLAT {fi['total_memory_bytes']}, HNSW {hi['total_memory_bytes']}); "
          f"keys f: {f_keys}, h: {h_keys}")
    check(not errors, f"(b) writes refused: {errors[:3]}")
    check(evicted > 0, "(b) Redis evicted keys")
    check(f_keys + h_keys + evicted == 2 * PAIRS, f"(b) keys {f_keys + h_keys} + evicted {evicted} = written")
    check(highest <= MAXMEMORY + 4 * MB, f"(b) used_memory stayed near maxmemory: highest {highest} B")
    check(now <= MAXMEMORY + 1 * MB, f"(b) used_memory {now} B after the writes")
    check(index_bytes < MAXMEMORY / 2 + 4 * MB, f"(b) the indexes ({index_bytes} B) are within maxmemory")
    check(int(fi["num_docs"]) == f_keys and int(hi["num_docs"]) == h_keys,
          f"(b) num_docs FLAT {fi['num_docs']} = {f_keys} keys, HNSW {hi['num_docs']} = {h_keys} keys")
    check(int(fi["hash_indexing_failures"]) == 0 and int(hi["hash_indexing_failures"]) == 0, "(b) no failures")
    for name in ("flat", "hnsw"):
        hits = found(r, name, vecs[-1])
        check(len(hits) == 10 and all(r.exists(k) for k in hits), f"(b) {name} answers existing keys: {hits}")
    if not SANITIZED:  # ASan's quarantine and shadow memory make RSS meaningless
        # Before this change the indexes lived outside maxmemory: RSS was maxmemory plus all of them.
        check(rss < MAXMEMORY + 24 * MB, f"(b) RSS {rss} B near maxmemory")
    check(server.alive() and r.ping(), "(b) server up")
    print(f"(b) took {time.time() - started:.1f} s")

# ---- (c) vindex.index-max-memory -------------------------------------------------------------------
started = time.time()
with Server(extra=["--enable-debug-command", "local"]) as server:
    r = server.client()
    check(r.config_set("vindex.index-max-memory", "64mb") and
          int(r.config_get("vindex.index-max-memory")["vindex.index-max-memory"]) == 64 * MB,
          "(c) CONFIG SET vindex.index-max-memory 64mb")
    r.config_set("vindex.index-max-memory", "0")
    for name, algo in (("cflat", "FLAT"), ("chnsw", "HNSW")):
        p = name + ":"
        create(r, name, p, algo)
        base = vectors(2000)
        insert(r, p, 0, base)
        wait_ready(r, name)
        held = figure(r, name, "total_memory_bytes")
        # The limit at what the index holds: every write that needs memory is refused.
        r.config_set("vindex.index-max-memory", str(held))
        check(figure(r, name, "memory_limit_bytes") == held, f"(c) {name}: FT.INFO memory_limit_bytes = {held}")
        more = vectors(300)
        errors = insert(r, p, 2000, more)
        fi = info(r, name)
        failures, oom = int(fi["hash_indexing_failures"]), reasons(r, name).get("out of memory", -1)
        print(f"(c) {name} {algo}: limit {held} B; 300 more keys: num_docs {fi['num_docs']}, failures {failures} "
              f"(out of memory {oom}), refusals {fi['memory_limit_refusals']}, in use {fi['total_memory_bytes']} B")
        check(not errors, f"(c) {name}: the writes themselves succeed: {errors[:3]}")
        check(int(fi["num_docs"]) == 2000 and failures == 300 and oom == 300,
              f"(c) {name}: 300 keys refused as out-of-memory failures")
        check(int(fi["memory_limit_refusals"]) >= 300, f"(c) {name}: refusals counted")
        check(int(vinfo(r)["vindex_memory_index_limit_refusals"]) >= 300, f"(c) {name}: INFO vindex counts them")
        hits = found(r, name, base[7])
        check(f"{p}{7:06d}" in hits, f"(c) {name}: indexed entries still found: {hits[:3]}")
        check(f"{p}{2007:06d}" not in found(r, name, more[7]), f"(c) {name}: a refused key is not found")
        errors = insert(r, p, 2000, more)
        check(not errors and int(info(r, name)["hash_indexing_failures"]) == 300, f"(c) {name}: rewritten, still refused")
        # Raising the limit lets rewritten keys in.
        r.config_set("vindex.index-max-memory", "0")
        errors = insert(r, p, 2000, more)
        fi = info(r, name)
        check(not errors and int(fi["num_docs"]) == 2300 and int(fi["hash_indexing_failures"]) == 0,
              f"(c) {name}: limit lifted: num_docs {fi['num_docs']}, failures {fi['hash_indexing_failures']}")
        hits = found(r, name, more[7])
        check(f"{p}{2007:06d}" in hits, f"(c) {name}: a rewritten key is found: {hits[:3]}")
        # DEL works at the limit (erases are never refused) and frees.
        in_use = figure(r, name, "total_memory_bytes")
        r.config_set("vindex.index-max-memory", str(in_use))
        r.delete(*[f"{p}{i:06d}" for i in range(1000)])
        settle(r, [name])
        after_del = figure(r, name, "total_memory_bytes")
        fi = info(r, name)
        check(int(fi["num_docs"]) == 1300, f"(c) {name}: DEL removed entries: num_docs {fi['num_docs']}")
        check(after_del < in_use, f"(c) {name}: DEL freed: {in_use} -> {after_del} B")
        # What DEL gave back (slots, keys) takes new entries under the same limit.
        errors = insert(r, p, 3000, vectors(300))
        fi = info(r, name)
        print(f"(c) {name}: DEL of 1000 indexed keys at the limit: {in_use} -> {after_del} B; then 300 new keys: "
              f"num_docs {fi['num_docs']}, failures {fi['hash_indexing_failures']}, in use {fi['total_memory_bytes']} B")
        check(not errors and int(fi["num_docs"]) == 1600 and int(fi["hash_indexing_failures"]) == 0,
              f"(c) {name}: the freed room takes new entries under the limit")
        r.config_set("vindex.index-max-memory", "0")

    # A snapshot larger than the limit: refused at load (the loader gives back what it took), and the
    # backfill that replaces it indexes up to the limit.
    full = figure(r, "chnsw", "total_memory_bytes")
    r.config_set("vindex.index-max-memory", str(full // 2))
    r.execute_command("DEBUG", "RELOAD")
    settle(r, ["cflat", "chnsw"])
    hi = info(r, "chnsw")
    error = to_str(hi["snapshot_load_error"])
    print(f"(c) DEBUG RELOAD at limit {full // 2} B: snapshot_load_error '{error[:120]}', num_docs {hi['num_docs']}, "
          f"failures {hi['hash_indexing_failures']}, in use {hi['total_memory_bytes']} B")
    check(int(hi["snapshot_loaded"]) == 0 and "limit" in error, f"(c) snapshot over the limit refused: {error}")
    check(0 < int(hi["num_docs"]) < 1600 and int(hi["num_docs"]) + int(hi["hash_indexing_failures"]) == 1600
          and reasons(r, "chnsw")["out of memory"] == int(hi["hash_indexing_failures"]),
          "(c) the backfill indexed up to the limit, the rest are out-of-memory failures")
    check(int(hi["total_memory_bytes"]) <= full // 2 + 64 * 1024, "(c) within the limit (bookkeeping aside)")
    r.config_set("vindex.index-max-memory", "0")
    check(server.alive() and r.ping(), "(c) server up")
    print(f"(c) took {time.time() - started:.1f} s")

# ---- (d) vindex.max-memory across two indexes ------------------------------------------------------
started = time.time()
with Server() as server:
    r = server.client()
    create(r, "d1", "d1:")
    create(r, "d2", "d2:", "HNSW")
    insert(r, "d1:", 0, vectors(2000))
    insert(r, "d2:", 0, vectors(2000))
    wait_ready(r, "d2")
    total = int(vinfo(r)["vindex_memory_used_bytes"])
    check(total == figure(r, "d1", "total_memory_bytes") + figure(r, "d2", "total_memory_bytes"),
          "(d) INFO vindex total = the sum of the indexes'")
    r.config_set("vindex.max-memory", str(total))
    check(int(vinfo(r)["vindex_memory_limit_bytes"]) == total, "(d) INFO vindex memory_limit_bytes")
    more1, more2 = vectors(200), vectors(200)
    errors = insert(r, "d1:", 2000, more1) + insert(r, "d2:", 2000, more2)
    d1, d2, v = info(r, "d1"), info(r, "d2"), vinfo(r)
    print(f"(d) vindex.max-memory {total} B: d1 num_docs {d1['num_docs']} failures {d1['hash_indexing_failures']}, "
          f"d2 num_docs {d2['num_docs']} failures {d2['hash_indexing_failures']}, module refusals "
          f"{v['vindex_memory_limit_refusals']}, in use {v['vindex_memory_used_bytes']} B")
    check(not errors, f"(d) the writes succeed: {errors[:3]}")
    check(int(d1["num_docs"]) == 2000 and int(d2["num_docs"]) == 2000, "(d) no entry added past the module limit")
    check(reasons(r, "d1")["out of memory"] == 200 and reasons(r, "d2")["out of memory"] == 200,
          "(d) 200 out-of-memory failures in each index")
    check(int(v["vindex_memory_limit_refusals"]) >= 400, "(d) INFO vindex counts the module limit's refusals")
    check(int(d1["memory_limit_refusals"]) == 0, "(d) the index's own limit refused nothing")
    hits = found(r, "d2", more2[0])
    check(len(hits) == 10 and f"d2:{2000:06d}" not in hits, "(d) d2 answers from its entries")
    r.delete(*[f"d1:{i:06d}" for i in range(2200)])  # erases work past the limit
    check(figure(r, "d1", "num_docs") == 0 and figure(r, "d1", "hash_indexing_failures") == 0, "(d) DEL at the limit")
    r.config_set("vindex.max-memory", "0")
    errors = insert(r, "d2:", 2000, more2)
    check(not errors and figure(r, "d2", "num_docs") == 2200 and figure(r, "d2", "hash_indexing_failures") == 0,
          "(d) limit lifted: rewritten keys indexed")
    # A limit below what is in use: applies at once, frees nothing, refuses the next write.
    r.config_set("vindex.max-memory", "1mb")
    insert(r, "d2:", 3000, vectors(10))
    check(figure(r, "d2", "hash_indexing_failures") == 10, "(d) max-memory below usage refuses new entries")
    r.config_set("vindex.max-memory", "0")
    check(server.alive() and r.ping(), "(d) server up")
    print(f"(d) took {time.time() - started:.1f} s")

check.done()
