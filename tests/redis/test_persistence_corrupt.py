"""A damaged index snapshot in the RDB costs a backfill, never the index or the server. The RDB is
saved without compression and checksum (`rdbcompression no`, `rdbchecksum no`), so the test can edit
the vindex snapshot bytes inside the module's aux record and Redis still accepts the file: one
snapshot gets a flipped payload byte, one an unknown format version, one is truncated (its RDB
string shortened). On restart each damaged index logs a warning, keeps its definition, reports
snapshot_loaded 0 with the reason, and is rebuilt by a backfill to the same answers; the intact
index is loaded."""
import os

import numpy as np

from harness import (Checks, IndexDefinition, IndexType, NumericField, Server, TagField, VectorField,
                     knn, to_str, wait_ready)

check = Checks()
rng = np.random.default_rng(5)
N, DIM = 1000, 16
X = rng.standard_normal((N, DIM)).astype(np.float32)
Q = rng.standard_normal((10, DIM)).astype(np.float32)
MAGIC = b"\x89VDX"
NAMES = ["flip", "good", "trunc", "version"]  # the aux record holds them in this (sorted) order


def decode_len(d, i):
    """RDB length encoding at d[i]: (length, bytes used), or None for a special encoding."""
    t = d[i] >> 6
    if t == 0:
        return d[i] & 0x3F, 1
    if t == 1:
        return ((d[i] & 0x3F) << 8) | d[i + 1], 2
    if d[i] == 0x80:
        return int.from_bytes(d[i + 1:i + 5], "big"), 5
    if d[i] == 0x81:
        return int.from_bytes(d[i + 1:i + 9], "big"), 9
    return None


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def encode_len(n):
    if n < 0x40:
        return bytes([n])
    if n < 0x4000:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    return b"\x80" + n.to_bytes(4, "big")


def find_chunk(d, m):
    """(start of the length, payload length) of the module string whose payload starts at m: the
    bytes before it are 02 01 05 <len> (UINT opcode, 1 = another chunk, STRING opcode)."""
    for used in (1, 2, 5, 9):
        s = m - used
        dec = decode_len(d, s)
        if dec and dec[1] == used and d[s - 3:s] == b"\x02\x01\x05" and d[m + dec[0]:m + dec[0] + 2] in (b"\x02\x00", b"\x02\x01"):
            return s, dec[0]
    raise AssertionError(f"no module string ends at offset {m}")


def query(r, name, q):
    """Filtered KNN (tag a: half the keys); HNSW with EF_RUNTIME 200, which is exact on 1,000 keys."""
    return knn(r, name, q, 10, filt="@tag:{a}", extra=" EF_RUNTIME 200" if name == "flip" else "")


def exact(q):
    """Keys of the 10 nearest tag-a entries by numpy."""
    ids = np.arange(0, N, 2)
    d = ((X[ids] - q) ** 2).sum(axis=1)
    return {f"p:{i}" for i in ids[np.argsort(d, kind="stable")[:10]]}


def overlap(answers):
    """How many of the answers' keys are among the exact ones (out of 10 per query)."""
    return sum(len(set(a[0]) & exact(q)) for a, q in zip(answers, Q))


CONF = ["--rdbcompression", "no", "--rdbchecksum", "no"]
with Server(extra=CONF) as server:
    r = server.client()
    pipe = r.pipeline(transaction=False)
    for i in range(N):
        pipe.hset(f"p:{i}", mapping={"vec": X[i].tobytes(), "tag": "ab"[i % 2], "n": i})
    pipe.execute()
    for name in NAMES:
        algorithm = "HNSW" if name == "flip" else "FLAT"
        r.ft(name).create_index(
            [VectorField("vec", algorithm, {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2"}),
             TagField("tag"), NumericField("n")],
            definition=IndexDefinition(prefix=["p:"], index_type=IndexType.HASH))
    for name in NAMES:
        wait_ready(r, name)
    # The HNSW index ("flip") is queried with a wide EF_RUNTIME, so its answers are checked against
    # exact search: two HNSW builds in different SCAN orders need not agree at a small ef.
    before = {name: [query(r, name, q) for q in Q] for name in NAMES}
    check(overlap(before["flip"]) >= 0.98 * 10 * len(Q), "HNSW before the restart answers as exact search")
    r.save()
    server.stop()

    path = os.path.join(server.dir, "dump.rdb")
    d = bytearray(open(path, "rb").read())
    starts = []
    at = d.find(MAGIC)
    while at >= 0:
        starts.append(at)
        at = d.find(MAGIC, at + 1)
    check(len(starts) == len(NAMES), f"{len(starts)} snapshots found in the RDB")
    where = dict(zip(NAMES, starts))
    for name in sorted(NAMES, key=lambda n: -where[n]):  # back to front: earlier offsets stay valid
        m = where[name]
        s, length = find_chunk(d, m)
        if name == "flip":
            d[m + length // 2] ^= 0x40
        elif name == "version":  # a newer format version, with a valid header checksum
            check(crc32c(d[m:m + 16]) == int.from_bytes(d[m + 16:m + 20], "little"), "header CRC-32C understood")
            d[m + 8:m + 12] = (99).to_bytes(4, "little")
            d[m + 16:m + 20] = crc32c(d[m:m + 16]).to_bytes(4, "little")
        elif name == "trunc":
            keep = length // 2
            d[s:m + length] = encode_len(keep) + d[m:m + keep]
    with open(path, "wb") as f:
        f.write(d)

    server.start()
    r = server.client()
    check(sorted(to_str(x) for x in r.execute_command("FT._LIST")) == NAMES, "every index definition survived")
    for name in NAMES:
        info = wait_ready(r, name)
        error = to_str(info["snapshot_load_error"])
        if name == "good":
            check(int(info["snapshot_loaded"]) == 1 and to_str(info["scan_mode"]) == "reconcile" and
                  int(info["reconcile_kept"]) == N, f"the intact snapshot was loaded: {error!r}")
        else:
            check(int(info["snapshot_loaded"]) == 0 and error != "" and to_str(info["scan_mode"]) == "backfill",
                  f"{name}: damaged snapshot refused and rebuilt by a backfill ({error!r})")
            print(f"{name}: {error}")
        check(int(info["num_docs"]) == N, f"{name}: {info['num_docs']} docs")
        after = [query(r, name, q) for q in Q]
        if name == "flip":  # HNSW rebuilt in another (SCAN) order: compare with exact search
            same = overlap(after)
            check(same >= 0.98 * 10 * len(Q), f"{name}: {same} of {10 * len(Q)} answers equal exact search")
        else:
            check(after == before[name], f"{name}: same answers")
    with open(os.path.join(server.dir, "server.log")) as f:
        log = f.read()
    check(log.count("could not be loaded") == 3, "one warning per damaged snapshot in the server log")
    check("version 99" in to_str(r.ft("version").info()["snapshot_load_error"]), "the version error names the version")

check.done()
