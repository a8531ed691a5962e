"""Command-level fuzz of the FT.* commands against a real redis-server with the module loaded.

A grammar of valid FT.SEARCH / FT.INFO / FT._LIST / FT.CREATE / FT.DROPINDEX commands (filters,
KNN clauses, RETURN, SORTBY, LIMIT, PARAMS, TIMEOUT, vector schemas) is mutated: tokens dropped,
repeated, swapped or cut off (wrong arities), replaced by huge or negative numbers, NaN / inf, binary
garbage or long strings; filters nested thousands deep; k x LIMIT x RETURN products far past the
bounds; query blobs of the wrong size or full of NaN and huge values. Several connections send
pipelined batches. Asserts: the server stays up; each command gets a reply or an error (never a lost
or empty answer); SLOWLOG records no command slower than 1 s; used_memory and RSS end where they
started (the indexes the fuzz created are dropped first; RSS is not checked under ASan, whose
quarantine keeps freed memory resident).

Seeded: VINDEX_FUZZ_SEED (default: random, printed). Budget: VINDEX_FUZZ_COMMANDS (default 120000)
commands within VINDEX_FUZZ_SECONDS (default 150: about 50 s on an idle 2-core machine, the rest is
room for a shared one); fewer than VINDEX_FUZZ_MIN_COMMANDS (default 100000) sent in that time fails
the run. Not generated (the memory-limit work bounds them):
INITIAL_CAP / BLOCK_SIZE values that would allocate more than ~10^5 slots at an index's first insert.
"""
import os
import random
import struct
import threading
import time

import numpy as np
import redis

from harness import SANITIZED, SANITIZED_BUDGET, Checks, Server, wait_ready

check = Checks()
SEED = int(os.environ.get("VINDEX_FUZZ_SEED", str(random.SystemRandom().randrange(1 << 32))))
TARGET = int(os.environ.get("VINDEX_FUZZ_COMMANDS", "120000"))
SECONDS = float(os.environ.get("VINDEX_FUZZ_SECONDS", "150"))
MIN_COMMANDS = int(os.environ.get("VINDEX_FUZZ_MIN_COMMANDS", "100000"))
CONNECTIONS = 4
BATCH = 250
DIM = 8
print(f"fuzz_commands: seed {SEED} (VINDEX_FUZZ_SEED={SEED} reproduces the command stream per connection)")

BASE = ["fzf", "fzh"]                      # the fuzzed indexes over the data (never dropped)
POOL = [f"fzc{i}" for i in range(10)]      # names the fuzz creates and drops
HUGE = ["0", "-1", "1", "-0", "+5", "4294967296", "18446744073709551616", "9223372036854775807",
        "99999999999999999999999999", "1e308", "-1e308", "nan", "NaN", "inf", "-inf", "+inf", "0x10", "1.5",
        "00000000000000000001", " 7", "7 ", ""]
WORDS = ["NOCONTENT", "RETURN", "SORTBY", "ASC", "DESC", "LIMIT", "PARAMS", "DIALECT", "TIMEOUT", "KNN",
         "EF_RUNTIME", "AS", "ON", "HASH", "PREFIX", "SCHEMA", "VECTOR", "FLAT", "HNSW", "TYPE", "DIM",
         "DISTANCE_METRIC", "FLOAT32", "FLOAT16", "BFLOAT16", "L2", "IP", "COSINE", "M", "EF_CONSTRUCTION",
         "INITIAL_CAP", "BLOCK_SIZE", "TAG", "NUMERIC", "SEPARATOR", "CASESENSITIVE", "SORTABLE",
         "SKIPINITIALSCAN", "TEXT", "DD", "$v", "$k", "@vec", "@t", "@n", "*", "=>", "[", "]", "(", ")", "|", "-"]


# Generating commands is most of this program's work: reusable pieces are built once.
VALID_BLOBS = [np.random.default_rng(i).standard_normal(DIM).astype(np.float32).tobytes() for i in range(256)]
SPECIALS = [float("nan"), float("inf"), -float("inf"), 3e38, -3e38, 1e30, 0.0]


def blob(rng):
    kind = rng.random()
    if kind < 0.85:
        return rng.choice(VALID_BLOBS)
    if kind < 0.9:
        return rng.randbytes(rng.choice([0, 1, 3, 4 * DIM - 1, 4 * DIM + 1, 64]))
    if kind < 0.95:
        return struct.pack(f"<{DIM}f", *rng.choices(SPECIALS, k=DIM))
    if kind < 0.97:
        return bytes(4 * DIM)  # zeros (COSINE refuses)
    return rng.randbytes(4 * DIM)  # random bits: NaNs, denormals, huge values


def tag_test(rng):
    vals = [rng.choice(["red", "green", "blue", "x", "a\\|b", "é", "b\\}"] if rng.random() < 0.97 else ["", " ", "{", "}"])
            for _ in range(rng.randint(1, 5))]
    return f"@t:{{{'|'.join(vals)}}}"


def num_test(rng):
    def bound():
        if rng.random() < 0.05:
            return rng.choice(["nan", "x", "", "(", "1e999"])
        return rng.choice(["-inf", "+inf", "inf", "(5", "0", "10", "(1e308", "99999999999999999999", "-3.5"])
    return f"@n:[{bound()} {bound()}]"


def filt(rng, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.25:
        if rng.random() < 0.05:
            return rng.choice(["@nosuch:{a}", "@vec:{a}", "@t:[1 2]", "@n:{a}"])
        return rng.choice(["*", tag_test(rng), tag_test(rng), num_test(rng), num_test(rng), "-*"])
    if r < 0.45:
        return f"({filt(rng, depth + 1)})"
    if r < 0.6:
        return f"-{filt(rng, depth + 1)}"
    if r < 0.8:
        return f"{filt(rng, depth + 1)} {filt(rng, depth + 1)}"
    return f"{filt(rng, depth + 1)} | {filt(rng, depth + 1)}"


HOSTILE_FILTERS = (
    [f for n in (50, 127, 128, 129, 1000, 5000, 20000) for f in ("(" * n + "*" + ")" * n, "-" * n + "@t:{red}", "(" * n)] +
    ["|".join(["@n:[-inf +inf]"] * n) for n in (100, 1023, 1024, 1025, 4000)] +
    ["@t:{" + "|".join(f"v{i}" for i in range(n)) + "}" for n in (100, 1000, 2000)] +
    ["x" * n for n in (1000, 65535, 65537, 200000)])


FILTER_POOL = []  # 3,000 filters from the grammar, drawn once per seed (see filter_text)


def filter_text(rng):
    """A grammar filter: usually one of a pool drawn once (generating them is the slow part), else new."""
    if not FILTER_POOL:
        pool_rng = random.Random(SEED ^ 0x5EED)
        FILTER_POOL.extend(filt(pool_rng) for _ in range(3000))
    return rng.choice(FILTER_POOL) if rng.random() < 0.95 else filt(rng)


def hostile_filter(rng):
    return rng.choice(HOSTILE_FILTERS)


def search(rng):
    index = rng.choice(BASE * 15 + POOL[:2] + ["nosuch"])
    k = rng.choice(["1", "5", "10", "10", "100", "1000", "10000", "$k"]) if rng.random() < 0.9 else \
        rng.choice(["10001", "0", "-1"] + HUGE[:4])
    f = hostile_filter(rng) if rng.random() < 0.05 else filter_text(rng)
    knn = f"KNN {k} @vec $v"
    if rng.random() < 0.3:
        knn += f" EF_RUNTIME {rng.choice(['1', '10', '64', '500', '4096', '4097', '$k'])}"
    if rng.random() < 0.3:
        knn += f" AS {rng.choice(['dist', 'score', 't', 'vec'])}"
    args = ["FT.SEARCH", index, f"{f}=>[{knn}]"]
    params = {"v": blob(rng)}
    if "$k" in knn:
        params["k"] = rng.choice(["3", "10", "10", "10", "50", "0", "abc"])
    opts = []
    if rng.random() < 0.2:
        opts += ["NOCONTENT"]
    if rng.random() < 0.3:
        n = rng.choice([0, 1, 2, 3, 1024])
        opts += ["RETURN", str(n)] + rng.choices(["t", "n", "vec", "dist", "__vec_score", "nosuch"], k=n)
    if rng.random() < 0.2:
        score = knn.split(" AS ")[1].split()[0] if " AS " in knn else "__vec_score"
        opts += ["SORTBY", score if rng.random() < 0.9 else rng.choice(["dist", "n"])] + rng.choice([[], ["ASC"], ["DESC"]])
    if rng.random() < 0.4:
        opts += ["LIMIT", rng.choice(["0", "0", "5", "9999", "1000000"]),
                 rng.choice(["0", "10", "10", "100", "10000", "1000000"] if rng.random() < 0.95 else ["1000001", "-1"])]
    if rng.random() < 0.2:
        opts += ["TIMEOUT", rng.choice(["0", "1", "5", "50", "100", "100", "101", "99999999999"])]
    opts += ["PARAMS", str(2 * len(params))] + [x for kv in params.items() for x in kv]
    opts += ["DIALECT", rng.choice(["2"] * 16 + ["3", "4", "1", "5"])]
    return args + opts


def create(rng):
    algo = rng.choice(["FLAT", "HNSW"])
    attrs = ["TYPE", rng.choice(["FLOAT32", "FLOAT16", "BFLOAT16", "FLOAT64"]),
             "DIM", rng.choice(["4", "8", "16", "1024", "32768", "32769", "0"]),
             "DISTANCE_METRIC", rng.choice(["L2", "IP", "COSINE", "HAMMING"])]
    if rng.random() < 0.5:
        attrs += ["INITIAL_CAP", rng.choice(["0", "1", "1000", "100000"])]
    if rng.random() < 0.5:
        attrs += ["BLOCK_SIZE", rng.choice(["1", "64", "1024", "0", "4096"])]
    if algo == "HNSW" and rng.random() < 0.7:
        attrs += ["M", rng.choice(["1", "2", "16", "512", "513"]), "EF_CONSTRUCTION", rng.choice(["1", "200", "4096", "4097"])]
        attrs += ["EF_RUNTIME", rng.choice(["1", "10", "4096", "0"])]
    prefixes = rng.sample(["fzn:", "nothing:", "zz", "fzq:"], rng.randint(1, 3))
    args = ["FT.CREATE", rng.choice(POOL), "ON", "HASH", "PREFIX", str(len(prefixes)), *prefixes]
    if rng.random() < 0.1:
        args.append("SKIPINITIALSCAN")
    args += ["SCHEMA", "vec", "VECTOR", algo, str(len(attrs)), *attrs]
    if rng.random() < 0.6:
        args += ["t", "TAG"] + rng.choice([[], ["SEPARATOR", rng.choice([",", ";", "ab"])], ["CASESENSITIVE"]])
    if rng.random() < 0.6:
        args += ["n", "NUMERIC"]
    return args


def command(rng):
    r = rng.random()
    if r < 0.62:
        args = search(rng)
    elif r < 0.72:
        args = ["FT.INFO", rng.choice(BASE + POOL + ["nosuch"])]
    elif r < 0.76:
        args = ["FT._LIST"]
    elif r < 0.9:
        args = create(rng)
    else:
        args = ["FT.DROPINDEX", rng.choice(POOL)]
    return mutate(rng, args) if rng.random() < 0.4 else args


def garbage(rng):
    return rng.randbytes(rng.choice([1, 2, 8, 64, 1000]))


def mutate(rng, args):
    args = list(args)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        i = rng.randrange(1, len(args)) if len(args) > 1 else None
        if op == 0 and i is not None:
            del args[i]
        elif op == 1 and i is not None:
            args.insert(i, args[i])
        elif op == 2:
            args.insert(rng.randrange(1, len(args) + 1), rng.choice(WORDS))
        elif op == 3 and i is not None:
            args[i] = rng.choice(HUGE)
        elif op == 4 and i is not None:
            args[i] = garbage(rng)
        elif op == 5 and i is not None:
            j = rng.randrange(1, len(args))
            args[i], args[j] = args[j], args[i]
        elif op == 6:
            args = args[:rng.randrange(1, len(args) + 1)]
        elif op == 7 and i is not None:
            args[i] = rng.choice(["x" * 70000, "(" * 3000, "$v" * 500, "\x00\r\n*3\r\n"])
        elif op == 8:
            args += [rng.choice(WORDS + HUGE) for _ in range(rng.randint(1, 6))]
    # Giant first-insert allocations are the memory limits' job, not this fuzz's (see the docstring).
    for j in range(1, len(args) - 1):
        if args[j] in ("INITIAL_CAP", "BLOCK_SIZE") and isinstance(args[j + 1], str):
            try:
                if int(args[j + 1]) > 100000:
                    args[j + 1] = "100000"
            except ValueError:
                pass
    return args


def load_data(r):
    rng = np.random.default_rng(SEED)
    pipe = r.pipeline(transaction=False)
    for i in range(3000):
        pipe.hset(f"fz:{i}", mapping={"vec": rng.standard_normal(DIM).astype(np.float32).tobytes(),
                                      "t": ["red", "green", "blue"][i % 3], "n": i % 100})
    pipe.hset("fz:bad1", mapping={"vec": b"\x00" * 5, "n": "x"})
    pipe.hset("fz:bad2", "vec", np.full(DIM, np.nan, dtype=np.float32).tobytes())
    pipe.hset("fz:bad3", "vec", np.full(DIM, 1e30, dtype=np.float32).tobytes())
    pipe.execute()
    for name, algo, extra in (("fzf", "FLAT", []), ("fzh", "HNSW", ["M", "8", "EF_CONSTRUCTION", "32"])):
        r.execute_command("FT.CREATE", name, "PREFIX", "1", "fz:", "SCHEMA", "vec", "VECTOR", algo, str(6 + len(extra)),
                          "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2", *extra, "t", "TAG", "n", "NUMERIC")
        wait_ready(r, name)


def memory(r):
    m = r.info("memory")
    return m["used_memory"], m["used_memory_rss"]


def drop_pool(r):
    for name in POOL:
        try:
            r.execute_command("FT.DROPINDEX", name)
        except redis.ResponseError:
            pass


def worker(server, wid, deadline, quota, stats, lock):
    rng = random.Random(SEED * 1000 + wid)
    r = server.client(socket_timeout=30)
    sent = answered = errors = 0
    problems = []
    kinds = {}
    while sent < quota and time.time() < deadline:
        batch = [command(rng) for _ in range(min(BATCH, quota - sent))]
        pipe = r.pipeline(transaction=False)
        for args in batch:
            pipe.execute_command(*args)
        try:
            results = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            problems.append(f"connection {wid}: {e!r} after {sent} commands")
            break
        sent += len(batch)
        if len(results) != len(batch):
            problems.append(f"connection {wid}: {len(batch)} commands, {len(results)} answers")
        for args, res in zip(batch, results):
            kind = kinds.setdefault(args[0], [0, 0])
            kind[isinstance(res, Exception)] += 1
            if res is None:
                problems.append(f"connection {wid}: no answer to {str(args)[:200]}")
            elif isinstance(res, redis.ConnectionError):
                problems.append(f"connection {wid}: {res!r}")
            elif isinstance(res, Exception):
                errors += 1
            else:
                answered += 1
    with lock:
        stats["sent"] += sent
        stats["replies"] += answered
        stats["errors"] += errors
        stats["problems"] += problems
        for name, (ok, bad) in kinds.items():
            total = stats["kinds"].setdefault(name, [0, 0])
            total[0] += ok
            total[1] += bad


# The default search budget even under sanitizers: "no command slower than 1 s" stays meaningful.
with Server(extra=["--vindex.max-indexes", "8"] + (SANITIZED_BUDGET if SANITIZED else []), test_budget=False) as server:
    r = server.client()
    load_data(r)
    r.config_set("slowlog-log-slower-than", "1000000")
    r.config_set("slowlog-max-len", "128")
    # Warm up (allocator arenas, reply buffers, the pool's first creations), then take the baseline.
    warm = random.Random(SEED - 1)
    pipe = r.pipeline(transaction=False)
    for _ in range(3000):
        pipe.execute_command(*command(warm))
    pipe.execute(raise_on_error=False)
    drop_pool(r)
    time.sleep(0.2)
    r.slowlog_reset()
    used0, rss0 = memory(r)

    start = time.time()
    stats = {"sent": 0, "replies": 0, "errors": 0, "problems": [], "kinds": {}}
    lock = threading.Lock()
    threads = [threading.Thread(target=worker, args=(server, w, start + SECONDS, TARGET // CONNECTIONS, stats, lock))
               for w in range(CONNECTIONS)]
    peak = used0
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        try:
            peak = max(peak, memory(r)[0])
        except redis.ConnectionError:
            break
    for t in threads:
        t.join()
    elapsed = time.time() - start

    check(server.alive(), "the server is up")
    check(not stats["problems"], f"every command answered: {stats['problems'][:5]}")
    check(stats["sent"] >= MIN_COMMANDS, f"{stats['sent']} commands sent in {elapsed:.0f} s (at least {MIN_COMMANDS})")
    slow = r.slowlog_get(128) if server.alive() else []
    check(not slow, f"no command slower than 1 s: {[(e['duration'], e['command'][:100]) for e in slow]}")
    drop_pool(r)
    time.sleep(0.5)
    used1, rss1 = memory(r)
    check(used1 <= used0 + max(2 << 20, used0 // 20), f"used_memory flat: {used0} -> {used1} (peak {peak})")
    if not SANITIZED:  # ASan's quarantine keeps freed memory resident
        check(rss1 <= rss0 * 1.25 + (16 << 20), f"RSS flat: {rss0} -> {rss1}")
    check(int(r.ft("fzf").info()["num_docs"]) == 3000 and r.ping(), "the data indexes are intact")
    print(f"fuzz_commands: seed {SEED}: {stats['sent']} commands in {elapsed:.1f} s over {CONNECTIONS} connections "
          f"({stats['sent'] / max(elapsed, 1e-9):.0f}/s): {stats['replies']} replies, {stats['errors']} errors; "
          f"used_memory {used0} -> {used1} (peak {peak}), RSS {rss0} -> {rss1}")
    print("fuzz_commands: replies / errors by command:",
          ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(stats["kinds"].items())))

check.done()
