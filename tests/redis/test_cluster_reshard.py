"""Cluster mode while slots move (issue #18), on one 3-primary + 3-replica cluster, every FT.SEARCH
checked against a standalone server holding the same keys (FLAT: byte-identical replies):

1. `redis-cli --cluster reshard` of 500 slots while threads query every node (KNN N, KNN 50, and
   KNN 49 LIMIT 0 5): no key twice, every reply equal to the standalone server's; afterwards each
   node's FT.INFO LOCAL num_docs equals its DBSIZE and the primaries' sum equals N.
2. A manual migration of one slot (SETSLOT IMPORTING / MIGRATING, MIGRATE half its keys, the rest,
   SETSLOT NODE on the target, the source, the others): exact from every node at each step, and the
   coordinators asked the importing node (the follow-up of the migration rule).
3. A forced `CLUSTER SETSLOT s NODE <other>` + `CLUSTER BUMPEPOCH`: the old owner deletes the slot's
   keys without notifying the module; they are never returned, and its LOCAL num_docs comes back to
   its DBSIZE (the slot-loss reconcile).
4. A 7th node added with `redis-cli --cluster add-node`: it lists the index within 2 s, before it
   owns slots; then 300 slots are resharded to it while threads query all 7 nodes: exact throughout.
"""
import os
import random
import threading
import time

import numpy as np
import redis
from redis.crc import key_slot

from cluster_fixture import Cluster, wait_for
from harness import Checks, Server, to_str

check = Checks()
started = time.time()
rng = np.random.default_rng(18)
N, DIM = 2000, 8
X = rng.standard_normal((N, DIM)).astype(np.float32)
QUERIES = [rng.standard_normal(DIM).astype(np.float32).tobytes() for _ in range(6)]
SCHEMA = ["SCHEMA", "vec", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2",
          "tag", "TAG"]


def key(i):
    # Two groups of 20 keys share a slot each (hash tags): one migrated by hand, one lost by force.
    if i >= N - 40:
        return f"doc:{{{'mig' if i < N - 20 else 'gone'}}}:{i}"
    return f"doc:{i}"


def search_args(q, k):
    if k == N:  # every key, in order: keys only
        return ["FT.SEARCH", "idx", f"*=>[KNN {k} @vec $v]", "PARAMS", "2", "v", q, "NOCONTENT", "LIMIT", "0", str(k),
                "DIALECT", "2"]
    count = 5 if k == 49 else k  # KNN 49, LIMIT 0 5: shards send 5 rows with fields (all 49 while slots move)
    return ["FT.SEARCH", "idx", f"*=>[KNN {k} @vec $v]", "PARAMS", "2", "v", q, "RETURN", "2", "__vec_score", "tag",
            "LIMIT", "0", str(count), "DIALECT", "2"]


CASES = [(q, k) for q in QUERIES for k in (N, 50, 49)]


def local_info(node):
    reply = node.client().execute_command("FT.INFO", "idx", "LOCAL")
    it = iter(reply)
    return {to_str(k): v for k, v in zip(it, it)}


def counter(nodes, name):
    return sum(int(n.info("vindex").get(f"vindex_{name}", 0)) for n in nodes if n.alive())


class Queries:
    """Threads sending the CASES to every node of `nodes` in turn and comparing each reply with
    `want` (the standalone server's replies); counts replies, errors and wrong replies."""

    def __init__(self, nodes, want, threads=2):
        self.nodes, self.want = nodes, want
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.replies = self.errors = self.wrong = self.duplicates = 0
        self.examples = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, seed):
        r = random.Random(seed)
        clients = {n.address: n.client() for n in self.nodes}
        while not self.stop_flag.is_set():
            node = r.choice(self.nodes)
            case = r.randrange(len(CASES))
            try:
                got = clients[node.address].execute_command(*search_args(*CASES[case]))
            except redis.RedisError as e:
                with self.lock:
                    self.errors += 1
                    self.examples.append(f"{node.address}: {e}")
                continue
            keys = got[1::2] if CASES[case][1] != N else got[1:]
            with self.lock:
                self.replies += 1
                if len(set(keys)) != len(keys):
                    self.duplicates += 1
                if got != self.want[case]:
                    self.wrong += 1
                    missing = set(self.want[case][1:]) - set(got[1:])
                    extra = set(got[1:]) - set(self.want[case][1:])
                    self.examples.append(f"{node.address} case {case}: total {got[0]} vs {self.want[case][0]}, "
                                         f"missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()
        return False

    def report(self, what):
        print(f"{what}: {self.replies} replies, {self.errors} errors, {self.wrong} wrong, "
              f"{self.duplicates} with a duplicate key; {self.examples[:3]}")
        check(self.replies > 0, f"{what}: replies were checked")
        check(self.duplicates == 0, f"{what}: no key twice in a reply")
        check(self.wrong == 0, f"{what}: every reply equals the standalone server's ({self.examples[:3]})")
        check(self.errors == 0, f"{what}: no errors ({self.examples[:3]})")


def exact_everywhere(nodes, want, what):
    bad = []
    for n in nodes:
        for case, (q, k) in enumerate(CASES):
            got = n.client().execute_command(*search_args(q, k))
            if got != want[case]:
                bad.append((n.address, case, got[0], want[case][0]))
    check(not bad, f"{what}: every node, every query exact ({bad[:3]})")


def docs_match_dbsize(c, what):
    c.wait_replicated()

    def per_node():
        out = {}
        for n in c.nodes:
            if n.alive():
                info = local_info(n)
                out[n.address] = (int(info["num_docs"]), n.client().dbsize(), to_str(info["state"]))
        return out

    try:
        view = wait_for(lambda: (lambda v: v if all(d == s and st == "ready" for d, s, st in v.values()) else None)(
            per_node()), 10, "LOCAL num_docs == DBSIZE on every node")
    except AssertionError:
        view = per_node()
    check(all(d == s for d, s, _ in view.values()), f"{what}: LOCAL num_docs == DBSIZE on every node: {view}")
    return view


with Cluster() as c, Server() as solo:
    print(f"cluster up in {time.time() - started:.1f} s")
    rc = c.cluster_client()
    rc.execute_command("FT.CREATE", "idx", "PREFIX", "1", "doc:", *SCHEMA)
    solo.client().execute_command("FT.CREATE", "idx", "PREFIX", "1", "doc:", *SCHEMA)
    pipe, spipe = rc.pipeline(), solo.client().pipeline(transaction=False)
    for i in range(N):
        fields = {"vec": X[i].tobytes(), "tag": f"t{i % 7}"}
        pipe.hset(key(i), mapping=fields)
        spipe.hset(key(i), mapping=fields)
    pipe.execute()
    spipe.execute()
    c.wait_replicated()
    want = [solo.client().execute_command(*search_args(q, k)) for q, k in CASES]
    check(all(w[0] == min(k, N) for w, (q, k) in zip(want, CASES)), "the standalone oracle answers")
    exact_everywhere(c.nodes, want, "before any move")
    p0, p1, p2 = c.primaries()

    # ---- 1. redis-cli --cluster reshard of 500 slots under queries --------------------------------
    with Queries(c.nodes, want) as loop:
        before = loop.replies
        wait_for(lambda: loop.replies > before + 10, 30, "queries to flow")
        took = c.reshard(p0, p1, 500)
        during = loop.replies - before
    print(f"reshard of 500 slots took {took:.1f} s; {during} replies checked while it ran")
    loop.report("reshard 500 slots")
    print("follow-ups to importing nodes:", counter(c.nodes, "follow_ups_importing"),
          "moved:", counter(c.nodes, "follow_ups_moved"), "keys deduplicated:", counter(c.nodes, "keys_deduplicated"))
    check(not c.open_slots(), f"no slot left open: {c.open_slots()}")
    view = docs_match_dbsize(c, "after the reshard")
    check(sum(int(local_info(p)["num_docs"]) for p in (p0, p1, p2)) == N, "the primaries' num_docs sum to N")
    exact_everywhere(c.nodes, want, "after the reshard")

    # ---- 2. manual migration of one slot, step by step ---------------------------------------------
    src, dst = p2, p0
    by_slot = {}
    for i in range(N):
        by_slot.setdefault(key_slot(key(i).encode()), []).append(key(i))
    slot = key_slot(b"mig")
    keys = by_slot[slot]
    if src.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) != len(keys):
        src = next(p for p in (p0, p1, p2) if p.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot))
        dst = p1 if src is not p1 else p0
    print(f"manual migration of slot {slot} ({len(keys)} keys) from {src.address} to {dst.address}")
    follow_before = counter(c.nodes, "follow_ups_importing")
    dst.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src.id)
    src.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst.id)
    exact_everywhere(c.nodes, want, "slot MIGRATING / IMPORTING, no key moved")
    half = keys[: len(keys) // 2]
    src.client().execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *half)
    check(dst.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == len(half), "half the keys moved")
    exact_everywhere(c.nodes, want, "half the slot's keys moved")
    src.client().execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0, 5000, "KEYS", *keys[len(half):])
    exact_everywhere(c.nodes, want, "every key moved, slot still MIGRATING")
    follow_after = counter(c.nodes, "follow_ups_importing")
    check(follow_after >= follow_before + 6 * len(CASES),
          f"every coordinator asked the importing node after the source ({follow_after - follow_before} follow-ups)")
    dst.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst.id)
    exact_everywhere(c.nodes, want, "SETSLOT NODE on the target only")
    src.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst.id)
    exact_everywhere(c.nodes, want, "SETSLOT NODE on the source too")
    third = next(p for p in (p0, p1, p2) if p is not src and p is not dst)
    third.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst.id)
    wait_for(lambda: all(c.topology(n)[dst.id]["slots"] and any(a <= slot <= b for a, b in c.topology(n)[dst.id]["slots"])
                         for n in c.nodes), 10, "every node to see the slot's new owner")
    exact_everywhere(c.nodes, want, "every node knows the new owner")
    docs_match_dbsize(c, "after the manual migration")

    # ---- 3. forced SETSLOT NODE + BUMPEPOCH: keys deleted without notification ---------------------
    slot = key_slot(b"gone")
    doomed = by_slot[slot]
    loser = next(p for p in (p0, p1, p2) if p.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot))
    winner = next(p for p in (p0, p1, p2) if p is not loser)
    removed_before = int(loser.info("vindex").get("vindex_slot_loss_entries_removed", 0))
    winner.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", winner.id)
    winner.client().execute_command("CLUSTER", "BUMPEPOCH")
    wait_for(lambda: loser.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0, 10,
             "the old owner to delete the slot's keys (delKeysInSlot)")
    lost_at = time.time()
    wait_for(lambda: int(local_info(loser)["num_docs"]) == loser.client().dbsize(), 5,
             "the old owner's LOCAL num_docs to come back to its DBSIZE")
    print(f"slot loss reconciled within {time.time() - lost_at:.2f} s of the keys being gone; removed "
          f"{int(loser.info('vindex')['vindex_slot_loss_entries_removed']) - removed_before} entries")
    for k in doomed:
        solo.client().delete(k)
    want = [solo.client().execute_command(*search_args(q, k)) for q, k in CASES]
    doomed_b = {k.encode() for k in doomed}
    ghost = []
    for n in c.nodes:
        for case, (q, k) in enumerate(CASES):
            got = n.client().execute_command(*search_args(q, k))
            ghost += [(n.address, x) for x in got[1:] if isinstance(x, bytes) and x in doomed_b]
    check(not ghost, f"the {len(doomed)} deleted keys of slot {slot} are never returned ({ghost[:3]})")
    exact_everywhere(c.nodes, want, "after the forced slot loss")
    check(int(loser.info("vindex")["vindex_slot_loss_entries_removed"]) - removed_before == len(doomed),
          "exactly the deleted keys' entries were removed")
    replica = c.replica_of(loser)[0]
    print(f"the old owner's replica keeps the slot's keys (Redis 7.0 does not propagate delKeysInSlot): "
          f"{replica.client().execute_command('CLUSTER', 'COUNTKEYSINSLOT', slot)}")
    docs_match_dbsize(c, "after the forced slot loss")
    exact_everywhere([replica], want, "the old owner's replica, which still holds the deleted keys")

    # ---- 4. a 7th node: the index before slots, then a reshard to it under queries -----------------
    new = c.add_node()
    wait_for(lambda: new.client().execute_command("FT._LIST") == [b"idx"], 2, "the new node to list idx within 2 s")
    listed = time.time() - new.joined_at
    owned = c.topology(new)[new.id]["slots"]
    print(f"add-node: idx listed {listed:.2f} s after redis-cli returned; the new node owns {owned or 'no'} slots")
    check(not owned, "the index came before any slot")
    c.wait_joined(new)
    with Queries(c.nodes, want) as loop:
        before = loop.replies
        wait_for(lambda: loop.replies > before + 10, 30, "queries to flow")
        took = c.reshard(p0, new, 300)
    print(f"reshard of 300 slots to the new node took {took:.1f} s")
    loop.report("reshard to the new node")
    exact_everywhere(c.nodes, want, "after the reshard to the new node")
    view = docs_match_dbsize(c, "after the reshard to the new node")
    check(view[new.address][0] > 0, "the new node indexes the keys it received")
    check(all(n.alive() for n in c.nodes), "every node still up")

print(f"test_cluster_reshard took {time.time() - started:.1f} s")
check.done()
