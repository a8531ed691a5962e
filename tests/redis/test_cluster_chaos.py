"""Cluster mode under chaos (issue #18): writers HSET / DEL random keys and readers send FT.SEARCH (FLAT)
to random nodes while a driver performs random failovers (CLUSTER FAILOVER, SIGKILL of a primary and
restart), reshards of 100-500 slots (redis-cli --cluster reshard) and SIGKILL / restart of a replica.
Every reply is recorded and checked, after the run, against the writers' log:

* no key twice in a reply, hits in distance order, the total equal to the hits returned;
* no ghost: every returned key, with its returned distance, was a possible value of that key at some
  moment between the query's send and its reply;
* no miss: every key that existed, unchanged, throughout that window and is closer than the k-th
  returned distance (any distance, when fewer than k came back) is in the reply.

A write counts as done when it was applied and `WAIT 1` saw it on the replica (then no failover can
lose it); a write whose outcome is unknown (a connection lost, WAIT timed out) makes its key
ambiguous until the next confirmed write of that key: any of its values may be returned, and it is
not expected. Each key has one writer, so its writes never overlap. Errors are allowed only while a
shard has no primary (from the SIGKILL of its primary until its replica's promotion is seen by every
node), must be explicit, and are counted by kind; plus Redis's own `-UNBLOCKED ... (master ->
replica?)`, which 7.0 sends to every blocked client of a primary that turns replica, for queries the
old primary was coordinating at the instant of a CLUSTER FAILOVER. Readers stop sending to a node
before the driver kills it. The schedule is seeded (VINDEX_CHAOS_SEED); timings still vary with the machine.
Length: VINDEX_CHAOS_SECONDS (default 60, the CI setting; the issue's acceptance run is 120).
"""
import bisect
import os
import random
import threading
import time

import numpy as np
import redis
from redis.crc import key_slot

from cluster_fixture import Cluster, wait_for
from harness import Checks, to_str

SECONDS = float(os.environ.get("VINDEX_CHAOS_SECONDS", "60"))
SEED = int(os.environ.get("VINDEX_CHAOS_SEED", "1817"))
M, DIM, INITIAL = 800, 8, 560          # key space, dimension, keys present at the start
K_CHOICES = (5, 25, 100, M)            # KNN k of the readers (M: every key)
WRITERS, READERS = 2, 2
check = Checks()
started = time.time()
rng = np.random.default_rng(SEED)
now = time.monotonic


def key(i):
    return f"c:{i}"


def score_tolerance(d):
    return 1e-4 * max(1.0, abs(d)) + 1e-5


class Shared:
    """What the driver tells the readers and writers: which nodes may be asked."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        self.pool = list(cluster.nodes)   # nodes readers may query
        self.stop = threading.Event()

    def nodes(self):
        with self.lock:
            return list(self.pool)

    def remove(self, node):
        with self.lock:
            self.pool = [n for n in self.pool if n is not node]

    def add(self, node):
        with self.lock:
            if node not in self.pool:
                self.pool.append(node)


# ---- writers ---------------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Writes the keys i with i % WRITERS == index, one at a time, routing by slot itself (so that
    WAIT runs on the connection of the write): MOVED and ASK followed, CLUSTERDOWN / TRYAGAIN /
    LOADING / READONLY retried. Logs (key, vector or None, start, end, status) per write."""

    def __init__(self, shared, index, log):
        super().__init__(daemon=True)
        self.shared, self.index, self.log = shared, index, log
        self.rng = random.Random(SEED * 31 + index)
        self.slots = [None] * 16384
        self.conns = {}
        self.stats = {"ok": 0, "uncertain": 0, "failed": 0}

    def conn(self, address):
        if address not in self.conns:
            host, port = address.rsplit(":", 1)
            self.conns[address] = redis.Redis(host=host, port=int(port), socket_timeout=5, socket_connect_timeout=1)
        return self.conns[address]

    def refresh(self):
        for n in self.shared.nodes():
            try:
                for first, last, primary, *_ in n.client().execute_command("CLUSTER", "SLOTS"):
                    address = f"{to_str(primary[0])}:{primary[1]}"
                    for s in range(first, last + 1):
                        self.slots[s] = address
                return
            except redis.RedisError:
                continue

    def write(self, i, vec):
        k = key(i)
        slot = key_slot(k.encode())
        t0 = now()
        status, unsure, ask = None, False, None
        while status is None and now() - t0 < 8:
            address = ask or self.slots[slot]
            if address is None:
                self.refresh()
                time.sleep(0.05)
                continue
            try:
                p = self.conn(address).pipeline(transaction=False)
                if ask:
                    p.execute_command("ASKING")
                if vec is None:
                    p.execute_command("DEL", k)
                else:
                    p.execute_command("HSET", k, "vec", vec.tobytes())
                p.execute_command("WAIT", 1, 1000)
                out = p.execute(raise_on_error=False)
            except (redis.ConnectionError, redis.TimeoutError):
                unsure, ask = True, None
                self.conns.pop(address, None)
                self.refresh()
                time.sleep(0.05)
                continue
            result, waited = out[-2], out[-1]
            if isinstance(result, redis.ResponseError):
                text = str(result)
                if text.startswith("MOVED "):
                    self.slots[slot] = text.split()[2]
                    ask = None
                elif text.startswith("ASK "):
                    ask = text.split()[2]
                else:  # refused before running: CLUSTERDOWN, TRYAGAIN, READONLY ...
                    ask = None
                    self.refresh()
                    time.sleep(0.05)
                continue
            status = "ok" if isinstance(waited, int) and waited >= 1 else "uncertain"
        if status is None:
            status = "uncertain" if unsure else "failed"
        self.stats[status] += 1
        self.log.append((i, vec, t0, now(), status))

    def run(self):
        self.refresh()
        mine = [i for i in range(M) if i % WRITERS == self.index]
        while not self.shared.stop.is_set():
            i = self.rng.choice(mine)
            vec = None if self.rng.random() < 0.3 else \
                np.array([self.rng.gauss(0, 1) for _ in range(DIM)], dtype=np.float32)
            self.write(i, vec)
            time.sleep(0.005)


# ---- readers ---------------------------------------------------------------------------------------

class Reader(threading.Thread):
    def __init__(self, shared, index, replies, errors):
        super().__init__(daemon=True)
        self.shared, self.replies, self.errors = shared, replies, errors
        self.rng = random.Random(SEED * 57 + index)
        self.clients = {}

    def run(self):
        while not self.shared.stop.is_set():
            nodes = self.shared.nodes()
            node = self.rng.choice(nodes)
            q = np.array([self.rng.gauss(0, 1) for _ in range(DIM)], dtype=np.float32)
            k = self.rng.choice(K_CHOICES)
            client = self.clients.setdefault(node.address, node.client())
            t0 = now()
            try:
                reply = client.execute_command("FT.SEARCH", "idx", f"*=>[KNN {k} @vec $v]", "PARAMS", "2", "v",
                                               q.tobytes(), "RETURN", "1", "__vec_score", "LIMIT", "0", str(k),
                                               "DIALECT", "2")
                self.replies.append((t0, now(), node.address, q, k, reply))
            except redis.ResponseError as e:
                self.errors.append((t0, now(), node.address, str(e)))
            except redis.ConnectionError as e:
                self.clients.pop(node.address, None)
                self.errors.append((t0, now(), node.address, f"connection: {e}"))
            time.sleep(0.003)


# ---- the driver --------------------------------------------------------------------------------------

def role(node):
    return node.info("replication")["role"]


def settled(c, timeout=40):
    """Every node up in the cluster's eyes, every cluster-bus link connected, replicas synced, no
    open slot, every index ready. (The links: a node just restarted reconnects to the others over
    a few cron ticks; until then messages between them are dropped, so a query it coordinates
    times out naming the shards it could not reach, an explicit error of a node not yet settled.)"""
    def ok():
        for n in c.nodes:
            info = n.client().execute_command("CLUSTER", "INFO").decode()
            if "cluster_state:ok" not in info or f"cluster_known_nodes:{len(c.nodes)}" not in info:
                return False
            lines = n.client().execute_command("CLUSTER", "NODES").decode().strip().splitlines()
            if any(line.split()[7] != "connected" for line in lines):
                return False
            if role(n) == "slave" and n.info("replication").get("master_link_status") != "up":
                return False
            reply = n.client().execute_command("FT.INFO", "idx", "LOCAL")
            if to_str(dict(zip(reply[::2], reply[1::2]))[b"state"]) != "ready":
                return False
        return not c.open_slots()
    wait_for(ok, timeout, "the cluster to settle", interval=0.1)


def primaries(c):
    return [n for n in c.nodes if role(n) == "master" and c.topology(n)[n.id]["slots"]]


def replica_of(c, primary):
    return [n for n in c.nodes if n is not primary and role(n) == "slave" and
            n.info("replication").get("master_port") == primary.port]


class Driver:
    def __init__(self, c, shared):
        self.c, self.shared = c, shared
        self.rng = random.Random(SEED)
        self.windows = []     # (start, end): a shard without a primary (SIGKILL until the promotion is seen)
        self.switches = []    # (start, end): CLUSTER FAILOVER sent until both roles changed
        self.done = {"reshard": 0, "failover": 0, "kill-primary": 0, "kill-replica": 0}
        self.slots_moved = 0
        self.log = []         # (action, start, end), to place an unexpected error in time

    def reshard(self):
        ps = primaries(self.c)
        counts = {p.id: sum(b - a + 1 for a, b in self.c.topology(p)[p.id]["slots"]) for p in ps}
        src = max(ps, key=lambda p: counts[p.id])
        dst = self.rng.choice([p for p in ps if p is not src])
        n = min(self.rng.randint(100, 500), counts[src.id] - 1000)
        self.c.reshard(src, dst, n)
        self.slots_moved += n

    def failover(self):
        p = self.rng.choice(primaries(self.c))
        r = replica_of(self.c, p)[0]
        start = now()
        r.client().execute_command("CLUSTER", "FAILOVER")
        wait_for(lambda: role(r) == "master" and role(p) == "slave", 20, "CLUSTER FAILOVER")
        self.switches.append((start, now()))

    def kill_primary(self):
        p = self.rng.choice(primaries(self.c))
        r = replica_of(self.c, p)[0]
        self.shared.remove(p)
        time.sleep(0.3)  # queries already sent to it finish
        p.kill()
        start = now()
        wait_for(lambda: role(r) == "master", 30, "the promotion")
        wait_for(lambda: all("cluster_state:ok" in n.client().execute_command("CLUSTER", "INFO").decode() and
                             self.c.topology(n)[r.id]["role"] == "primary" for n in self.c.nodes if n.alive()),
                 30, "every node to see the promotion")
        self.windows.append((start, now()))
        p.restart()
        wait_for(lambda: role(p) == "slave" and p.info("replication").get("master_link_status") == "up", 30,
                 "the killed primary to rejoin as a replica")
        settled(self.c)
        self.shared.add(p)

    def kill_replica(self):
        r = self.rng.choice([n for n in self.c.nodes if role(n) == "slave"])
        self.shared.remove(r)
        time.sleep(0.3)
        r.kill()
        time.sleep(self.rng.uniform(0.2, 1.0))
        r.restart()
        settled(self.c)
        self.shared.add(r)

    def run(self, seconds):
        end = now() + seconds
        actions = [("reshard", self.reshard), ("failover", self.failover), ("kill-primary", self.kill_primary),
                   ("kill-replica", self.kill_replica)]
        order = []
        while now() < end:
            if not order:  # rounds of every action, each round in a seeded order
                order = self.rng.sample(actions, len(actions))
            name, action = order.pop()
            t0 = now()
            action()
            settled(self.c)
            self.done[name] += 1
            self.log.append((name, t0, now()))
            print(f"  {name} took {now() - t0:.1f} s")
            time.sleep(self.rng.uniform(0.3, 1.5))


# ---- the check ---------------------------------------------------------------------------------------

class History:
    """Per key: its writes in order, as (start, end, vector or None, status); the load is the first."""

    def __init__(self, initial, loaded_at, log):
        self.ops = {i: [(-1.0, loaded_at, initial.get(i), "ok")] for i in range(M)}
        for i, vec, t0, t1, status in sorted(log, key=lambda e: e[2]):
            if status != "failed":  # refused before running: it did nothing
                self.ops[i].append((t0, t1, vec, status))

    def possible(self, i, first, t_recv):
        """The values key i may have had at some moment of the window: its last confirmed write by
        the window's start (op `first`) and every write started before the window's end."""
        ops = self.ops[i]
        return [ops[j][2] for j in range(first, len(ops)) if j == first or ops[j][0] < t_recv]


class Checker:
    """Checks replies in the order they were sent, sweeping the writers' log once: for every key it
    keeps its last confirmed write that ended before the current reply was sent, and when its next
    write started, so that 'stable throughout the window' and the distances are numpy operations."""

    def __init__(self, history):
        self.h = history
        self.current = np.zeros(M, dtype=np.int64)            # op index of the last confirmed write
        self.next_start = np.full(M, np.inf)                  # start of the write after it
        self.values = np.zeros((M, DIM), dtype=np.float64)
        self.exists = np.zeros(M, dtype=bool)
        self.events = sorted((t1, i, j) for i, ops in history.ops.items()
                             for j, (t0, t1, v, status) in enumerate(ops) if status == "ok")
        self.at = 0

    def advance(self, t):
        while self.at < len(self.events) and self.events[self.at][0] <= t:
            _, i, j = self.events[self.at]
            self.at += 1
            ops = self.h.ops[i]
            self.current[i] = j
            self.next_start[i] = ops[j + 1][0] if j + 1 < len(ops) else np.inf
            self.exists[i] = ops[j][2] is not None
            if self.exists[i]:
                self.values[i] = ops[j][2]

    def check(self, t0, t1, q, k, reply):
        """A list of what is wrong with one reply sent at t0 and answered at t1 (empty: right)."""
        self.advance(t0)
        problems = []
        names, rows = reply[1::2], reply[2::2]
        if len(set(names)) != len(names):
            problems.append("duplicate key")
        if reply[0] != len(names):
            problems.append(f"total {reply[0]} for {len(names)} hits")
        index = np.array([int(n[2:]) for n in names], dtype=np.int64)  # b"c:<i>"
        scores = np.array([float(r[1]) for r in rows])                 # [b"__vec_score", b"<distance>"]
        tol = 1e-4 * np.maximum(1.0, np.abs(scores)) + 1e-5
        if np.any(scores[:-1] > scores[1:] + tol[:-1]):
            problems.append("hits out of order")
        stable = self.next_start >= t1
        d = ((self.values - q.astype(np.float64)) ** 2).sum(1)
        returned = np.zeros(M, dtype=bool)
        returned[index] = True
        # A hit is right when its key held one value throughout and the distance is that value's;
        # otherwise any value the key may have had in the window must give the distance.
        fast = stable[index] & self.exists[index] & (np.abs(d[index] - scores) <= tol)
        for i, score in zip(index[~fast], scores[~fast]):
            values = [v for v in self.h.possible(int(i), int(self.current[i]), t1) if v is not None]
            if not any(abs(float(((v.astype(np.float64) - q) ** 2).sum()) - score) <= score_tolerance(score)
                       for v in values):
                problems.append(f"ghost {key(int(i))} at {score}")
        hits = list(zip(names, scores))
        limit = float(scores[-1]) if len(hits) == k else np.inf
        tolerance = np.array([score_tolerance(x) for x in (d if limit == np.inf else [limit])])
        missed = np.flatnonzero(stable & self.exists & ~returned & (d < limit - tolerance))
        problems += [f"miss {key(i)} at {d[i]} (k-th {limit})" for i in missed[:3]]
        return problems


# ---- the run ---------------------------------------------------------------------------------------

with Cluster(node_timeout=1500, extra=["--vindex.cluster-timeout-ms", "2000"]) as c:
    print(f"cluster up in {time.time() - started:.1f} s; chaos for {SECONDS:.0f} s, seed {SEED}")
    rc = c.cluster_client()
    rc.execute_command("FT.CREATE", "idx", "PREFIX", "1", "c:", "SCHEMA", "vec", "VECTOR", "FLAT", "6", "TYPE",
                       "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2")
    initial = {}
    pipe = rc.pipeline()
    for i in sorted(rng.choice(M, INITIAL, replace=False)):
        initial[int(i)] = rng.standard_normal(DIM).astype(np.float32)
        pipe.hset(key(int(i)), "vec", initial[int(i)].tobytes())
    pipe.execute()
    c.wait_replicated()
    settled(c)
    loaded_at = now()

    shared = Shared(c)
    log, replies, errors = [], [], []
    writers = [Writer(shared, w, log) for w in range(WRITERS)]
    readers = [Reader(shared, r, replies, errors) for r in range(READERS)]
    for t in writers + readers:
        t.start()
    driver = Driver(c, shared)
    chaos_started = now()
    try:
        driver.run(SECONDS)
    finally:
        shared.stop.set()
        for t in writers + readers:
            t.join()
    chaos_took = now() - chaos_started
    settled(c)
    c.wait_replicated()

    # ---- every reply against the writers' log ------------------------------------------------------
    history = History(initial, loaded_at, log)
    checker = Checker(history)
    t_check = time.time()
    wrong = []
    kinds = {}
    for t0, t1, node, q, k, reply in sorted(replies, key=lambda r: r[0]):
        problems = checker.check(t0, t1, q, k, reply)
        if problems:
            wrong.append((node, k, problems[:3]))
        kinds[k] = kinds.get(k, 0) + 1
    check_took = time.time() - t_check
    # Allowed: explicit errors while a shard had no primary; and, in a CLUSTER FAILOVER's switch
    # window, Redis's own -UNBLOCKED, which 7.0 sends to every blocked client of a primary when it
    # turns replica, or an explicit shard timeout: the old primary pauses its clients until the
    # switch ends, so a query it coordinates cannot be answered before the pause lifts.
    allowed, unexpected = {}, []
    for t0, t1, node, text in errors:
        kind = text[:70]
        in_window = any(t0 <= end and t1 >= start for start, end in driver.windows)
        in_switch = any(t0 <= end and t1 >= start for start, end in driver.switches)
        explicit = text.startswith("vindex:") or text.startswith("CLUSTERDOWN")
        if (in_window and explicit) or (in_switch and (explicit or text.startswith("UNBLOCKED"))):
            allowed[kind] = allowed.get(kind, 0) + 1
        else:
            unexpected.append((node, text[:120], "in a window" if in_window or in_switch else "outside"))
            during = [f"{name} {a - t0:+.1f}..{b - t0:+.1f} s" for name, a, b in driver.log if a <= t1 + 3 and b >= t0 - 3]
            print(f"  unexpected error at {node}, asked {t0 - chaos_started:.1f} s into the chaos, "
                  f"replied after {t1 - t0:.2f} s; actions near it: {during}")
    writes = {s: sum(w.stats[s] for w in writers) for s in ("ok", "uncertain", "failed")}
    counters = {name: sum(int(n.info("vindex").get(f"vindex_{name}", 0)) for n in c.nodes)
                for name in ("follow_ups_importing", "follow_ups_moved", "keys_deduplicated", "searches_fanned_out")}
    print(f"chaos ran {chaos_took:.1f} s: actions {driver.done} ({driver.slots_moved} slots moved), "
          f"no-primary windows {[round(e - s, 2) for s, e in driver.windows]} s")
    print(f"writes: {writes}; replies: {len(replies)} (by k: {kinds}); wrong: {len(wrong)}; "
          f"errors: {len(errors)} = allowed {allowed} + unexpected {len(unexpected)}")
    print(f"cluster counters: {counters}; checking took {check_took:.1f} s")
    # The check itself must catch a wrong reply: replay the first full replies (KNN M) with a hit
    # dropped (a miss), a distance changed (a ghost) and a key repeated.
    probe = Checker(history)
    caught = {"miss": 0, "ghost": 0, "duplicate": 0}
    full = [r for r in sorted(replies, key=lambda r: r[0]) if r[4] == M and len(r[5]) > 5][:30]
    for t0, t1, node, q, k, reply in full:
        dropped = [reply[0] - 1] + reply[3:]
        changed = reply[:2] + [[b"__vec_score", str(float(reply[2][1]) + 1.0).encode()]] + reply[3:]
        repeated = [reply[0] + 1] + reply[1:3] + reply[1:]
        for kind, mutant in (("miss", dropped), ("ghost", changed), ("duplicate", repeated)):
            if any(p.startswith(kind) for p in probe.check(t0, t1, q, k, mutant)):
                caught[kind] += 1
    print(f"the check catches planted faults in {len(full)} replies: {caught}")
    check(len(full) >= 10 and caught["ghost"] == caught["duplicate"] == len(full) and caught["miss"] >= len(full) // 2,
          f"the check catches planted misses, ghosts and duplicates ({caught} of {len(full)})")
    check(len(replies) > 100, f"enough replies were checked ({len(replies)})")
    check(not wrong, f"0 wrong replies ({len(wrong)}: {wrong[:3]})")
    check(not unexpected, f"errors only while a shard had no primary, and explicit ({unexpected[:3]})")
    check(sum(driver.done.values()) >= 3, f"the driver acted ({driver.done})")

    # ---- after the run: the cluster holds what was confirmed, and counts it --------------------------
    final = {}
    for n in c.nodes:
        if role(n) == "master":
            for name in n.client().scan_iter("c:*", count=1000):
                final[int(to_str(name).split(":")[1])] = np.frombuffer(n.client().hget(name, "vec"), dtype=np.float32)
    lost = [i for i in range(M) if history.ops[i][-1][3] == "ok" and (
        (history.ops[i][-1][2] is None) != (i not in final) or
        (i in final and not np.array_equal(final[i], history.ops[i][-1][2])))]
    check(not lost, f"every confirmed write is in the cluster ({lost[:5]})")
    docs = {n.address: (int(dict(zip(*[iter(n.client().execute_command("FT.INFO", "idx", "LOCAL"))] * 2))[b"num_docs"]),
                        n.client().dbsize()) for n in c.nodes}
    check(all(d == s for d, s in docs.values()), f"LOCAL num_docs == DBSIZE on every node: {docs}")
    check(sum(docs[n.address][0] for n in c.nodes if role(n) == "master") == len(final),
          "the primaries' num_docs sum to the keys present")
    final_checker = Checker(History(final, now(), []))
    for n in c.nodes:
        q = rng.standard_normal(DIM).astype(np.float32)
        for k in (10, M):
            reply = n.client().execute_command("FT.SEARCH", "idx", f"*=>[KNN {k} @vec $v]", "PARAMS", "2", "v",
                                               q.tobytes(), "RETURN", "1", "__vec_score", "LIMIT", "0", str(k),
                                               "DIALECT", "2")
            t = now()
            problems = final_checker.check(t, t, q, k, reply)
            check(not problems, f"after the run, {n.address} KNN {k} is exact ({problems[:3]})")
    check(all(n.alive() for n in c.nodes), "every node still up")

print(f"test_cluster_chaos took {time.time() - started:.1f} s")
check.done()
