"""Writes do not stall the server (issue 15): on a 50,000-key HNSW index (dim 64, M 16,
EF_CONSTRUCTION 200), 8,000 random HSET / DEL / UNLINK each run in under 10 ms server-side, as
SLOWLOG (slowlog-log-slower-than 10000 us) and the latency monitor (command events over 10 ms) see
them. Graph maintenance (tombstone repair, slot freeing) runs from the module's timer between
commands; before, a write that crossed the 1/16 tombstone threshold ran a whole sweep (190-840 ms).
Afterwards the index holds exactly the keys that exist and each written key is found by its own
vector. Under the sanitizers (3-5x slower code) the index is smaller and the time checks are skipped.
A loaded machine may preempt the server inside any command: up to 1 % of the writes over 10 ms are
tolerated (11 of 8,000 were seen at load 9), none over 100 ms (a stall was 190-840 ms)."""
import threading
import time

import numpy as np

from harness import SANITIZED, Checks, IndexDefinition, IndexType, Server, VectorField, knn, to_str, wait_ready

check = Checks()
DIM = 64
KEYS = 10000 if SANITIZED else 50000
WRITES = 2000 if SANITIZED else 8000
SLOW_US = 10000
STALL_US = 100000
TOLERATED_SLOW = WRITES // 100

with Server() as server:
    r = server.client()
    rng = np.random.default_rng(15)
    t0 = time.time()
    r.ft("idx").create_index(
        [VectorField("vec", "HNSW", {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2", "M": 16,
                                     "EF_CONSTRUCTION": 200})],
        definition=IndexDefinition(prefix=["w:"], index_type=IndexType.HASH))
    vectors = rng.standard_normal((KEYS, DIM)).astype(np.float32)
    pipe = r.pipeline(transaction=False)
    for i in range(KEYS):
        pipe.hset(f"w:{i}", "vec", vectors[i].tobytes())
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    wait_ready(r, "idx")
    print(f"{KEYS} keys indexed in {time.time() - t0:.1f} s")

    r.config_set("slowlog-log-slower-than", SLOW_US)
    r.config_set("slowlog-max-len", 10000)
    r.config_set("latency-monitor-threshold", SLOW_US // 1000)
    r.slowlog_reset()
    r.execute_command("LATENCY", "RESET")
    r.config_resetstat()

    # Random writes from 8 clients at once, one command at a time each (as applications write): a
    # third delete a random key (DEL or UNLINK), the rest give a random key a new vector (an update,
    # or an insert when it was deleted). Keys are split between the clients.
    CLIENTS = 8
    t0 = time.time()
    ops = {"hset": 0, "del": 0, "unlink": 0}
    errors = []

    def writer(c):
        conn = server.client()
        g = np.random.default_rng(100 + c)
        try:
            for j in range(WRITES // CLIENTS):
                k = int(g.integers(KEYS // CLIENTS)) * CLIENTS + c
                if g.random() < 1 / 3:
                    op = "del" if j % 2 else "unlink"
                    (conn.delete if op == "del" else conn.unlink)(f"w:{k}")
                    present[k] = False
                else:
                    op = "hset"
                    vectors[k] = g.standard_normal(DIM).astype(np.float32)
                    conn.hset(f"w:{k}", "vec", vectors[k].tobytes())
                    present[k] = True
                ops[op] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(f"writer {c}: {e!r}")

    present = np.ones(KEYS, dtype=bool)
    threads = [threading.Thread(target=writer, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    check(not errors, f"no errors: {errors[:3]}")
    print(f"{sum(ops.values())} writes ({ops}) from {CLIENTS} clients in {elapsed:.1f} s")
    info = r.ft("idx").info()
    print("maintenance: " + ", ".join(f"{k} {to_str(info[k])}" for k in (
        "maintenance_pending_tombstones", "maintenance_rounds", "maintenance_in_writes_ms",
        "maintenance_longest_in_write_ms", "maintenance_in_timer_ms")))

    slow = r.slowlog_get(10000)
    names = [bytes(e["command"]).split(b" ")[0].decode(errors="replace").upper() for e in slow]
    for n, e in sorted(zip(names, slow), key=lambda x: -x[1]["duration"])[:10]:
        print(f"  slowlog: {n} {e['duration']} us")
    slow_writes = [(n, e["duration"]) for n, e in zip(names, slow) if n in ("HSET", "DEL", "UNLINK")]
    stats = r.info("commandstats")
    for name in ("hset", "del", "unlink"):
        s = stats.get(f"cmdstat_{name}")
        if s:
            print(f"{name}: {s['calls']} calls, {s['usec_per_call']:.0f} us per call")
    print(f"slowlog: {len(slow)} entries over {SLOW_US} us, {len(slow_writes)} of them writes"
          + (f", longest {max(d for _, d in slow_writes)} us" if slow_writes else ""))
    latest = r.execute_command("LATENCY", "LATEST")
    command_events = [e for e in latest if to_str(e[0]) == "command"]
    print(f"latency monitor: {latest}")
    if not SANITIZED:
        check(len(slow_writes) <= TOLERATED_SLOW,
              f"at most {TOLERATED_SLOW} HSET/DEL/UNLINK over {SLOW_US} us: {slow_writes[:10]}")
        check(all(d < STALL_US for _, d in slow_writes), f"no HSET/DEL/UNLINK over {STALL_US} us: {slow_writes[:10]}")
        check(not command_events or int(command_events[0][3]) < STALL_US // 1000,
              f"latency monitor saw a command over {STALL_US // 1000} ms: {command_events}")

    # Still exact membership, and written keys are found.
    live = int(present.sum())
    info = wait_ready(r, "idx")
    check(int(info["num_docs"]) == live, f"num_docs {info['num_docs']} for {live} keys")
    sample = rng.choice(np.flatnonzero(present), 300, replace=False)
    found = 0
    for k in sample:
        keys, _ = knn(r, "idx", vectors[k], 10, extra=" EF_RUNTIME 200")
        found += f"w:{k}" in keys
    print(f"own vector in the top 10 at EF_RUNTIME 200: {found} of {len(sample)}")
    check(found >= 0.97 * len(sample), f"own vector found for {found} of {len(sample)} keys")
    check(server.alive(), "server still up")

check.done()
