"""Issue #13 on a real server: hostile clients must not crash, stall or bloat it.

The six cases, each on 50,000 indexed hashes: (1) vectors whose distances could overflow are
indexing failures (FLAT and HNSW alike, FT.INFO counts them by reason) and such a query vector is
refused; (2) deeply nested filters are refused naming the limit; (3) FT.CREATE past
vindex.max-indexes is refused; (4) FT.INFO reports failures by reason, "out of memory" included;
(5) filter work is bounded by the filter limits and the time budget (TIMEOUT, vindex.search-timeout-ms,
vindex.on-timeout); (6) reply work is bounded by vindex.reply-max-fields / -bytes. Throughout: the
server stays up, a PING from another connection comes back within 100 ms, SLOWLOG records no command
slower than 100 ms, and used_memory comes back to where it was (the time checks are skipped for a
module built with sanitizers, see harness.py)."""
import numpy as np
import redis

from harness import SANITIZED, SANITIZED_BUDGET, Checks, Responsiveness, Server, to_str, wait_ready

check = Checks()
DIM = 8
N = 50000
rng = np.random.default_rng(13)


def info(r, name):
    return r.ft(name).info()


def reasons(r, name):
    flat = info(r, name)["hash_indexing_failures_by_reason"]
    return {to_str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def run(r, *args):
    """The command's reply, or its error as a string starting with 'error: '."""
    try:
        return r.execute_command(*args)
    except redis.ResponseError as e:
        return f"error: {e}"


def knn_args(index, k, filt="*", vec=None, extra=()):
    vec = np.zeros(DIM, dtype=np.float32) if vec is None else vec
    return ["FT.SEARCH", index, f"{filt}=>[KNN {k} @vec $v]", "PARAMS", "2", "v",
            np.asarray(vec, dtype=np.float32).tobytes(), *extra, "DIALECT", "2"]


def hostile(server, what, commands, expect, repeat=2, memory_slack=1 << 20):
    """Runs each command `repeat` times under watch; `expect(reply)` judges each reply."""
    r = server.client()
    with Responsiveness(server) as w:
        for _ in range(repeat):
            for args in commands:
                reply = run(r, *args)
                check(expect(reply), f"{what}: unexpected reply {str(reply)[:300]}")
    check(server.alive() and r.ping(), f"{what}: server up")
    slow, slowest = w.slow(), w.slowest_us()
    w.admin.slowlog_reset()  # its entries are memory too
    memory = w.memory_delta()
    if not SANITIZED:  # a sanitized build is 3-5x slower and gets a larger budget (harness.py)
        check(not slow, f"{what}: a command took over 100 ms server-side: {slow}")
        check(w.max_ping < 0.1, f"{what}: a PING from another connection took {w.max_ping * 1000:.0f} ms")
    check(memory < memory_slack, f"{what}: used_memory grew by {memory} bytes")
    print(f"{what}: slowest command {slowest / 1000:.1f} ms server-side (SLOWLOG), slowest PING "
          f"{w.max_ping * 1000:.1f} ms over {w.pings}, used_memory delta {memory} B")


with Server(test_budget=False, extra=SANITIZED_BUDGET if SANITIZED else []) as server:
    r = server.client()

    # ---- (1) vectors whose distances could overflow: failures in FLAT and HNSW alike ----------
    # Lengths up to 2^62 are accepted (squared length <= 2^124); 1e30-scale components are not.
    big = rng.uniform(-1, 1, (300, DIM)) * 10.0 ** rng.uniform(0, 18, (300, 1)) / np.sqrt(DIM)
    huge_keys = []
    pipe = r.pipeline(transaction=False)
    for i, v in enumerate(big):
        pipe.hset(f"big:{i}", "vec", v.astype(np.float32).tobytes())
    for i in range(25):
        huge_keys.append(f"big:huge{i}")
        v = rng.uniform(-1, 1, DIM) * 1e30
        pipe.hset(huge_keys[-1], "vec", v.astype(np.float32).tobytes())
    pipe.execute()
    for algo, params in (("FLAT", []), ("HNSW", ["M", "16", "EF_CONSTRUCTION", "400"])):
        r.execute_command("FT.CREATE", f"big_{algo}", "PREFIX", "1", "big:", "SCHEMA", "vec", "VECTOR", algo,
                          str(6 + len(params)), "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2", *params)
        inf = wait_ready(r, f"big_{algo}")
        check(int(inf["num_docs"]) == 300, f"{algo}: the 300 in-range vectors are indexed, got {inf['num_docs']}")
        check(int(inf["hash_indexing_failures"]) == 25, f"{algo}: 25 huge vectors are failures, got {inf['hash_indexing_failures']}")
        check(reasons(r, f"big_{algo}").get("magnitude out of range") == 25,
              f"{algo}: counted as 'magnitude out of range': {reasons(r, f'big_{algo}')}")
    data = big.astype(np.float32).astype(np.float64)
    agree = 0
    for q in range(20):
        query = (rng.uniform(-1, 1, DIM) * 10.0 ** rng.uniform(0, 17)).astype(np.float32)
        answers = []
        for algo in ("FLAT", "HNSW"):
            # EF_RUNTIME above the entry count: HNSW's answer is exact unless distances misbehave.
            ef = " EF_RUNTIME 400" if algo == "HNSW" else ""
            args = knn_args(f"big_{algo}", 10, vec=query, extra=["NOCONTENT", "LIMIT", "0", "10"])
            args[2] = args[2].replace("$v]", f"$v{ef}]")
            reply = r.execute_command(*args)
            answers.append([to_str(k) for k in reply[1:]])
        order = np.argsort(((data - query.astype(np.float64)) ** 2).sum(axis=1), kind="stable")[:10]
        expected = [f"big:{i}" for i in order]
        agree += answers[0] == answers[1]
        check(answers[0] == expected, f"FLAT equals numpy on overflow-range data: {answers[0]} vs {expected}")
    check(agree == 20, f"HNSW agrees with FLAT on overflow-range data in {agree}/20 queries")
    reply = run(r, *knn_args("big_FLAT", 5, vec=np.full(DIM, 1e30, dtype=np.float32)))
    check(isinstance(reply, str) and "magnitude out of range" in reply and "2^124" in reply,
          f"a huge query vector gets a clear error: {reply}")
    r.hset("big:huge0", "vec", np.ones(DIM, dtype=np.float32).tobytes())
    check(int(info(r, "big_HNSW")["hash_indexing_failures"]) == 24, "fixing a huge vector clears its failure")

    # ---- 50,000 hashes for the work bounds ----------------------------------------------------
    vecs = rng.standard_normal((N, DIM)).astype(np.float32)
    tags = ["red", "green", "blue", "cyan", "magenta"]
    pipe = r.pipeline(transaction=False)
    for i in range(N):
        pipe.hset(f"h:{i}", mapping={"vec": vecs[i].tobytes(), "t": tags[i % 5], "n": i % 1000})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    r.execute_command("FT.CREATE", "idx", "PREFIX", "1", "h:", "SCHEMA", "vec", "VECTOR", "FLAT", "6",
                      "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2", "t", "TAG", "n", "NUMERIC")
    check(int(wait_ready(r, "idx", timeout=300)["num_docs"]) == N, "50,000 hashes indexed")

    # ---- (2) deep filters: refused, naming the limit -------------------------------------------
    deep = ["(" * 20000 + "@t:{red}" + ")" * 20000, "-" * 20000 + "@t:{red}", "(" * 200 + "*" + ")" * 200]
    hostile(server, "deep filters", [knn_args("idx", 10, f) for f in deep],
            lambda reply: isinstance(reply, str) and "limit" in reply and ("depth" in reply or "bytes" in reply))
    r.config_set("vindex.filter-max-depth", "4")
    check("depth" in str(run(r, *knn_args("idx", 3, "((((( @t:{red} )))))"))), "vindex.filter-max-depth 4 refuses 5 levels")
    check(run(r, *knn_args("idx", 3, "(((@t:{red})))"))[0] == 3, "and accepts 3")
    r.config_set("vindex.filter-max-depth", "128")

    # ---- (3) the number of indexes -------------------------------------------------------------
    r.config_set("vindex.max-indexes", "4")
    schema = ["SCHEMA", "vec", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "4", "DISTANCE_METRIC", "L2"]
    made = run(r, "FT.CREATE", "extra1", "PREFIX", "1", "nothing:", *schema)
    refused = run(r, "FT.CREATE", "extra2", "PREFIX", "1", "nothing:", *schema)
    check(made == b"OK", f"the 4th index is created: {made}")
    check(isinstance(refused, str) and "vindex.max-indexes" in refused, f"the 5th is refused naming the limit: {refused}")
    check(len(r.execute_command("FT._LIST")) == 4, "four indexes")
    r.execute_command("FT.DROPINDEX", "extra1")
    check(run(r, "FT.CREATE", "extra2", "PREFIX", "1", "nothing:", *schema) == b"OK", "after a drop one fits again")
    r.execute_command("FT.DROPINDEX", "extra2")
    r.config_set("vindex.max-indexes", "64")

    # ---- (4) failures by reason, allocation failures included -----------------------------------
    by_reason = reasons(r, "idx")
    check(set(by_reason) >= {"wrong size", "NaN or Inf element", "magnitude out of range", "out of memory"},
          f"FT.INFO lists failures by reason: {by_reason}")

    # ---- (5) filter work ------------------------------------------------------------------------
    wide = "|".join(["@n:[-inf +inf]"] * 4000)            # 60 KB, 4,000 tests: over filter-max-terms
    many = " | ".join(["@n:[-inf +inf]"] * 1000)          # 15 KB, 1,000 tests over 50,000 entries
    taglist = "@t:{" + " | ".join(f"tag{i}" for i in range(1000)) + "}"   # an 8 KB tag list
    hostile(server, "60 KB filter", [knn_args("idx", 10, wide)],
            lambda reply: isinstance(reply, str) and "limit" in reply and "terms" in reply)
    hostile(server, "1,000 ranges over 50,000 entries",
            [knn_args("idx", 10, many), knn_args("idx", 10, many, extra=["TIMEOUT", "40"])],
            lambda reply: (isinstance(reply, list) and reply[0] == 10) or
                          (isinstance(reply, str) and "Timeout limit was reached" in reply), repeat=1)
    hostile(server, "8 KB tag list", [knn_args("idx", 10, taglist)],
            lambda reply: (isinstance(reply, list) and reply[0] == 0) or
                          (isinstance(reply, str) and "Timeout limit was reached" in reply))
    before = int(info(r, "idx")["search_timeouts"])
    reply = run(r, *knn_args("idx", 10, many, extra=["TIMEOUT", "1"]))
    check(isinstance(reply, str) and "Timeout limit was reached" in reply, f"TIMEOUT 1 is honoured: {str(reply)[:200]}")
    check(int(info(r, "idx")["search_timeouts"]) == before + 1, "FT.INFO counts the timeout")
    reply = run(r, *knn_args("idx", 10, "*", extra=["TIMEOUT", "999999"]))
    check(isinstance(reply, str) and "vindex.search-timeout-max-ms" in reply, f"a TIMEOUT above the maximum is refused: {reply}")
    r.config_set("vindex.on-timeout", "return")
    reply = run(r, *knn_args("idx", 10, many, extra=["TIMEOUT", "1"]))
    check(isinstance(reply, list) and int(info(r, "idx")["search_partial_results"]) >= 1,
          f"vindex.on-timeout return: a partial answer, counted: {str(reply)[:200]}")
    reply = run(r, *knn_args("idx", 10, extra=["TIMEOUT", "100", "NOCONTENT"]))
    check(isinstance(reply, list) and reply[0] == 10, f"a query within its budget is whole: {str(reply)[:200]}")
    r.config_set("vindex.on-timeout", "fail")
    reply = r.execute_command(*knn_args("idx", 5, "@t:{red} @n:[10 20]", vec=vecs[10], extra=["NOCONTENT"]))
    check(to_str(reply[1]) == "h:10", f"ordinary filtered queries still work: {reply}")

    # ---- (6) reply work ------------------------------------------------------------------------
    fields = [f"f{i}" for i in range(1024)]
    product = knn_args("idx", 10000, extra=["LIMIT", "0", "10000", "RETURN", "1024", *fields])
    hostile(server, "KNN 10000 x LIMIT 10000 x RETURN 1024", [product],
            lambda reply: isinstance(reply, str) and "vindex.reply-max-fields" in reply)
    everything = knn_args("idx", 10000, extra=["LIMIT", "0", "10000"])
    outcome = []
    hostile(server, "KNN 10000 x LIMIT 10000, every field",
            [everything], lambda reply: outcome.append(str(reply)[:60]) or
            (isinstance(reply, list) and reply[0] == 10000 and len(reply) == 20001) or
            (isinstance(reply, str) and "Timeout limit was reached" in reply), repeat=1, memory_slack=4 << 20)
    print("KNN 10000 x LIMIT 10000, every field:", outcome)
    r.config_set("vindex.reply-max-bytes", "100000")
    two_k = knn_args("idx", 2000, extra=["LIMIT", "0", "2000", "TIMEOUT", "100"])  # about 200 KB of reply
    hostile(server, "a reply over vindex.reply-max-bytes", [two_k],
            lambda reply: isinstance(reply, str) and "vindex.reply-max-bytes" in reply)
    r.config_set("vindex.reply-max-bytes", "64mb")
    reply = r.execute_command(*knn_args("idx", 3, vec=vecs[7], extra=["RETURN", "2", "t", "n"]))
    check(to_str(reply[1]) == "h:7" and [to_str(x) for x in reply[2]] == ["t", "blue", "n", "7"],
          f"ordinary RETURN queries still work: {reply}")
    check(server.alive() and r.ping(), "server still up")

check.done()
