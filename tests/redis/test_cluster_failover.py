"""Cluster mode across failovers and restarts (issue #18), on one 3-primary + 3-replica cluster, every
FT.SEARCH compared with a standalone server holding the same keys (FLAT: byte-identical replies):

1. `CLUSTER FAILOVER` on a replica while threads query every node: every reply exact or an explicit
   error (also Redis's own -UNBLOCKED, which 7.0 sends to a query blocked on the old primary at the
   moment it turns replica); afterwards FT.INFO names the new primary and the old one (now a replica)
   counts DBSIZE.
2. SIGKILL of a primary while threads query the other nodes: every reply exact or an explicit error
   (the module's `vindex: ...`, or Redis's own CLUSTERDOWN while the cluster state is fail); after
   the promotion FT.INFO names the new primary; the killed node restarted rejoins as a replica, loads
   the index from its primary's full sync (snapshot_loaded), reconciles, and coordinates exactly.
3. SAVE on every node, every node stopped and started again (persistence on): the catalog and the
   indexes come back from the RDB snapshots (snapshot_loaded on every node), queries exact.
Also MULTI / EVAL: FT.CREATE and FT.DROPINDEX apply and reply OK without waiting (then reach every
node); FT.SEARCH is refused with a clear error (a replica too: it asks its primary), LOCALONLY works.
"""
import random
import signal
import threading
import time

import numpy as np
import redis

from cluster_fixture import Cluster, wait_for
from harness import Checks, Server, to_str

check = Checks()
started = time.time()
rng = np.random.default_rng(8)
N, DIM = 1500, 8
X = rng.standard_normal((N, DIM)).astype(np.float32)
QUERIES = [rng.standard_normal(DIM).astype(np.float32).tobytes() for _ in range(4)]
SCHEMA = ["SCHEMA", "vec", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2"]


def search_args(q, k):
    return ["FT.SEARCH", "idx", f"*=>[KNN {k} @vec $v]", "PARAMS", "2", "v", q, "RETURN", "1", "__vec_score",
            "LIMIT", "0", str(k), "DIALECT", "2"]


CASES = [(q, k) for q in QUERIES for k in (N, 30)]


def local_info(node):
    reply = node.client().execute_command("FT.INFO", "idx", "LOCAL")
    it = iter(reply)
    return {to_str(k): v for k, v in zip(it, it)}


def shard_nodes(node):
    """The node FT.INFO (cluster-wide) names for each shard, asked of `node`."""
    reply = node.client().execute_command("FT.INFO", "idx")
    it = iter(reply)
    info = {to_str(k): v for k, v in zip(it, it)}
    return int(info["num_docs"]), {to_str(dict(zip(s[::2], s[1::2]))[b"node"]) for s in info["shards"]}


def explicit(message, role_switch=False):
    """The module's errors and Redis's CLUSTERDOWN; with `role_switch` (a CLUSTER FAILOVER in
    progress) also Redis's -UNBLOCKED "instance state changed", as test_cluster_chaos allows it."""
    return (message.startswith("vindex:") or message.startswith("CLUSTERDOWN") or
            (role_switch and message.startswith("UNBLOCKED")))


class Queries:
    """Threads querying the nodes in `pool` (a list the test may change) until stopped; every reply
    must equal `want`, every error must be explicit."""

    def __init__(self, pool, want, threads=2, role_switch=False):
        self.pool, self.want, self.role_switch = pool, want, role_switch
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.replies = self.wrong = 0
        self.errors = {}
        self.examples = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, seed):
        r = random.Random(seed)
        while not self.stop_flag.is_set():
            with self.lock:
                node = r.choice(self.pool)
            case = r.randrange(len(CASES))
            try:
                got = node.client().execute_command(*search_args(*CASES[case]))
            except redis.ConnectionError as e:
                with self.lock:
                    self.errors["connection"] = self.errors.get("connection", 0) + 1
                    self.examples.append(f"{node.address}: {e}")
                continue
            except redis.ResponseError as e:
                with self.lock:
                    kind = str(e)[:60] if explicit(str(e), self.role_switch) else "NOT EXPLICIT: " + str(e)[:80]
                    self.errors[kind] = self.errors.get(kind, 0) + 1
                continue
            with self.lock:
                self.replies += 1
                if got != self.want[case]:
                    self.wrong += 1
                    self.examples.append(f"{node.address} case {case}: {got[:3]} vs {self.want[case][:3]}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()
        return False

    def report(self, what, connection_errors_ok=False):
        print(f"{what}: {self.replies} exact-checked replies, {self.wrong} wrong, errors {self.errors}; "
              f"{self.examples[:3]}")
        check(self.replies > 0, f"{what}: replies were checked")
        check(self.wrong == 0, f"{what}: never a wrong reply ({self.examples[:3]})")
        check(all(not k.startswith("NOT EXPLICIT") and (connection_errors_ok or k != "connection")
                  for k in self.errors), f"{what}: every error explicit: {self.errors}")


def exact_everywhere(nodes, want, what):
    bad = []
    for n in nodes:
        for case, (q, k) in enumerate(CASES):
            got = n.client().execute_command(*search_args(q, k))
            if got != want[case]:
                bad.append((n.address, case, got[:3]))
    check(not bad, f"{what}: every node, every query exact ({bad[:2]})")


def role(node):
    return node.info("replication")["role"]


with Cluster(node_timeout=1500) as c, Server() as solo:
    print(f"cluster up in {time.time() - started:.1f} s")
    rc = c.cluster_client()
    rc.execute_command("FT.CREATE", "idx", "PREFIX", "1", "doc:", *SCHEMA)
    solo.client().execute_command("FT.CREATE", "idx", "PREFIX", "1", "doc:", *SCHEMA)
    pipe, spipe = rc.pipeline(), solo.client().pipeline(transaction=False)
    for i in range(N):
        pipe.hset(f"doc:{i}", "vec", X[i].tobytes())
        spipe.hset(f"doc:{i}", "vec", X[i].tobytes())
    pipe.execute()
    spipe.execute()
    c.wait_replicated()
    want = [solo.client().execute_command(*search_args(q, k)) for q, k in CASES]
    exact_everywhere(c.nodes, want, "before any failover")

    # ---- MULTI / EVAL: no hang; catalog changes apply without waiting, searches are refused -------
    t0 = time.time()
    primary, replica = c.primaries()[0], c.replicas()[0]
    tx = primary.client().pipeline(transaction=True)
    tx.execute_command("FT.CREATE", "tx", "PREFIX", "1", "tx:", *SCHEMA)
    tx.execute_command(*search_args(QUERIES[0], 5))
    out = tx.execute(raise_on_error=False)
    check(out[0] == b"OK", f"FT.CREATE inside MULTI applies and replies OK: {out[0]}")
    check(isinstance(out[1], redis.ResponseError) and "MULTI" in str(out[1]), f"FT.SEARCH inside MULTI: {out[1]}")
    wait_for(lambda: all(b"tx" in n.client().execute_command("FT._LIST") for n in c.nodes), 3,
             "the index created inside MULTI on every node")
    check(primary.client().eval("return redis.call('FT.DROPINDEX', 'tx')", 0) == b"OK", "FT.DROPINDEX inside EVAL")
    wait_for(lambda: all(b"tx" not in n.client().execute_command("FT._LIST") for n in c.nodes), 3,
             "the index dropped inside EVAL gone from every node")
    tx = replica.client().pipeline(transaction=True)
    tx.execute_command(*search_args(QUERIES[0], 5))
    tx.execute_command(*search_args(QUERIES[0], 5), "LOCALONLY")
    out = tx.execute(raise_on_error=False)
    check(isinstance(out[0], redis.ResponseError) and "MULTI" in str(out[0]),
          f"FT.SEARCH inside MULTI on a replica is refused (it would ask its primary): {out[0]}")
    check(isinstance(out[1], list), "LOCALONLY inside MULTI on a replica answers from its own index")
    check(time.time() - t0 < 5, "no hang")

    # ---- 1. CLUSTER FAILOVER during a query loop ---------------------------------------------------
    old = c.primaries()[0]
    new = c.replica_of(old)[0]
    pool = list(c.nodes)
    with Queries(pool, want, role_switch=True) as loop:
        wait_for(lambda: loop.replies > 10, 30, "queries to flow")
        t0 = time.time()
        new.client().execute_command("CLUSTER", "FAILOVER")
        wait_for(lambda: role(new) == "master" and role(old) == "slave", 20, "the replica to take over")
        switched = time.time() - t0
        wait_for(lambda: all(c.topology(n)[new.id]["role"] == "primary" for n in c.nodes), 10,
                 "every node to see the new primary")
        settled = loop.replies
        wait_for(lambda: loop.replies > settled + 10, 30, "queries after the switch")
    print(f"CLUSTER FAILOVER: roles switched in {switched:.2f} s")
    loop.report("CLUSTER FAILOVER")
    num_docs, named = wait_for(lambda: (lambda r: r if new.address in r[1] else None)(shard_nodes(c.primaries()[1])),
                               10, "FT.INFO to name the new primary")
    check(num_docs == N and new.address in named and old.address not in named,
          f"FT.INFO counts N and names the new primary: {num_docs} {named}")
    c.wait_replicated()
    check(int(local_info(old)["num_docs"]) == old.client().dbsize(), "the old primary, now a replica, counts its DBSIZE")

    # ---- 2. SIGKILL of a primary during a query loop; the killed node rejoins as a replica ---------
    victim = next(p for p in c.primaries() if p is not new)
    heir = c.replica_of(victim)[0]
    pool = [n for n in c.nodes if n is not victim]
    with Queries(pool, want) as loop:
        wait_for(lambda: loop.replies > 10, 30, "queries to flow")
        victim.kill()
        killed = time.time()
        wait_for(lambda: role(heir) == "master", 20, "the replica's promotion")
        promoted = time.time() - killed
        wait_for(lambda: all("cluster_state:ok" in n.client().execute_command("CLUSTER", "INFO").decode()
                             for n in pool), 20, "cluster_state ok everywhere")
        settled = loop.replies
        wait_for(lambda: loop.replies > settled + 10, 30, "queries after the promotion")
    print(f"SIGKILL: promoted after {promoted:.2f} s")
    loop.report("SIGKILL of a primary")
    num_docs, named = wait_for(lambda: (lambda r: r if heir.address in r[1] else None)(shard_nodes(new)), 10,
                               "FT.INFO to name the promoted replica")
    check(num_docs == N and heir.address in named, f"FT.INFO counts N and names the promoted replica: {named}")

    t0 = time.time()
    victim.restart()
    wait_for(lambda: role(victim) == "slave" and victim.info("replication").get("master_link_status") == "up", 30,
             "the killed node to rejoin as a replica and sync")
    info = wait_for(lambda: (lambda i: i if to_str(i["state"]) == "ready" else None)(local_info(victim)), 20,
                    "its index to be ready")
    print(f"rejoined as a replica in {time.time() - t0:.2f} s: snapshot_loaded {info['snapshot_loaded']}, "
          f"num_docs {info['num_docs']}, reconcile_kept {info.get('reconcile_kept')}")
    check(int(info["snapshot_loaded"]) == 1, "it loaded the index from its primary's full sync (snapshot_loaded)")
    check(int(info["num_docs"]) == victim.client().dbsize(), "and its num_docs equals its DBSIZE after the reconcile")
    c.wait_healthy()
    exact_everywhere(c.nodes, want, "after the killed node rejoined")

    # ---- 3. restart of the whole cluster with persistence --------------------------------------------
    c.wait_replicated()
    for n in c.nodes:
        n.client().execute_command("SAVE")
    t0 = time.time()
    for n in c.nodes:
        n.stop()
    for n in c.nodes:
        n.start()
    c.wait_healthy()
    print(f"whole cluster restarted in {time.time() - t0:.2f} s")

    def loaded():
        out = {n.address: local_info(n) for n in c.nodes}
        return out if all(to_str(i["state"]) == "ready" for i in out.values()) else None

    infos = wait_for(loaded, 30, "every index ready after the restart")
    check(all(n.client().execute_command("FT._LIST") == [b"idx"] for n in c.nodes), "the catalog is back everywhere")
    check(all(int(i["snapshot_loaded"]) == 1 for i in infos.values()),
          f"every node loaded its index from the RDB: {[int(i['snapshot_loaded']) for i in infos.values()]}")
    c.wait_replicated()
    check(all(int(local_info(n)["num_docs"]) == n.client().dbsize() for n in c.nodes), "num_docs == DBSIZE everywhere")
    exact_everywhere(c.nodes, want, "after the restart")
    check(all(n.alive() for n in c.nodes), "every node still up")

print(f"test_cluster_failover took {time.time() - started:.1f} s")
check.done()
