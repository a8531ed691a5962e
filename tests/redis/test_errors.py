"""Bad input of every kind gets an error reply and the server keeps serving: malformed FT.CREATE,
malformed queries and filters, unknown index, wrong blob size, huge k, bad parameters."""
import numpy as np
import redis

from harness import Checks, Server, wait_ready

check = Checks()
DIM = 4
blob = np.ones(DIM, dtype=np.float32).tobytes()

with Server() as server:
    r = server.client()
    r.hset("e:1", "vec", blob)
    r.execute_command("FT.CREATE", "idx", "ON", "HASH", "PREFIX", "1", "e:", "SCHEMA", "vec", "VECTOR",
                      "HNSW", "6", "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2",
                      "t", "TAG", "n", "NUMERIC")
    wait_ready(r, "idx")

    def expect_error(args, what):
        try:
            reply = r.execute_command(*args)
        except redis.ResponseError as e:
            check(str(e) != "", what)
            return str(e)
        check(False, f"{what}: expected an error, got {reply!r}")
        return None

    vec_schema = ["SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "4", "DISTANCE_METRIC", "L2"]
    creates = [
        (["FT.CREATE", "idx"] + vec_schema, "duplicate index name"),
        (["FT.CREATE", "a"], "no arguments"),
        (["FT.CREATE", "a", "ON", "JSON"] + vec_schema, "ON JSON"),
        (["FT.CREATE", "a", "PREFIX", "x"] + vec_schema, "non-numeric PREFIX count"),
        (["FT.CREATE", "a", "PREFIX", "5", "p"] + vec_schema, "PREFIX count past the end"),
        (["FT.CREATE", "a", "SCHEMA"], "empty SCHEMA"),
        (["FT.CREATE", "a", "SCHEMA", "t", "TAG"], "no VECTOR field"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "IVF", "2", "DIM", "4"], "unknown algorithm"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "FLAT", "5", "TYPE", "FLOAT32"], "odd attribute count"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "FLAT", "4", "TYPE", "FLOAT32", "DIM", "4"], "no metric"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT64", "DIM", "4", "DISTANCE_METRIC", "L2"], "unknown TYPE"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "0", "DISTANCE_METRIC", "L2"], "DIM 0"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "99999999", "DISTANCE_METRIC", "L2"], "huge DIM"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", "4", "DISTANCE_METRIC", "HAMMING"], "unknown metric"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "HNSW", "8", "TYPE", "FLOAT32", "DIM", "4", "DISTANCE_METRIC", "L2", "M", "100000"], "huge M"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "HNSW", "8", "TYPE", "FLOAT32", "DIM", "4", "DISTANCE_METRIC", "L2", "EF_CONSTRUCTION", "-1"], "negative EF"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "FLAT", "8", "TYPE", "FLOAT32", "DIM", "4", "DISTANCE_METRIC", "L2", "BLOCK_SIZE", "0"], "BLOCK_SIZE 0"),
        (["FT.CREATE", "a", "SCHEMA", "v", "VECTOR", "FLAT", "8", "TYPE", "FLOAT32", "DIM", "4", "DISTANCE_METRIC", "L2", "M", "16"], "M on FLAT"),
        (["FT.CREATE", "a"] + vec_schema + ["t", "TAG", "SEPARATOR", ";;"], "long separator"),
        (["FT.CREATE", "a"] + vec_schema + ["t", "TEXT"], "TEXT field"),
        (["FT.CREATE", "a"] + vec_schema + ["v", "TAG"], "attribute named like the vector"),
        (["FT.CREATE", "a"] + vec_schema + ["w"] + vec_schema[2:], "a second VECTOR field (one per index)"),
    ]
    for args, what in creates:
        message = expect_error(args, f"FT.CREATE: {what}")
        if what.startswith("a second VECTOR"):
            check(message is not None and "only one VECTOR field" in message, f"the refusal says why: {message}")
    check(r.execute_command("FT._LIST") == [b"idx"], "no index was created by the bad commands")

    def search(query, params=None, extra=()):
        args = ["FT.SEARCH", "idx", query]
        if params is not None:
            args += ["PARAMS", str(2 * len(params))] + [x for kv in params.items() for x in kv]
        return args + list(extra) + ["DIALECT", "2"]

    queries = [
        (search("*=>[KNN 5 @vec $v]", {"v": b"\x00" * 3}), "wrong blob size"),
        (search("*=>[KNN 5 @vec $v]", {"v": b"\x00" * 400}), "blob too long"),
        (search("*=>[KNN 5 @vec $v]", {"v": np.array([np.nan] * DIM, dtype=np.float32).tobytes()}), "NaN query"),
        (search("*=>[KNN 100000000 @vec $v]", {"v": blob}), "huge k"),
        (search("*=>[KNN 99999999999999999999999 @vec $v]", {"v": blob}), "k overflow"),
        (search("*=>[KNN 0 @vec $v]", {"v": blob}), "k = 0"),
        (search("*=>[KNN -3 @vec $v]", {"v": blob}), "negative k"),
        (search("*=>[KNN 5 @vec $missing]", {"v": blob}), "missing parameter"),
        (search("*=>[KNN 5 @other $v]", {"v": blob}), "unknown vector field"),
        (search("*=>[KNN 5 @vec $v EF_RUNTIME 0]", {"v": blob}), "EF_RUNTIME 0"),
        (search("*=>[KNN 5 @vec $v EF_RUNTIME 999999]", {"v": blob}), "huge EF_RUNTIME"),
        (search("*=>[KNN 5 @vec $v BOGUS 1]", {"v": blob}), "unknown KNN option"),
        (search("*=>KNN 5 @vec $v", {"v": blob}), "no brackets"),
        (search("*=>[KNN]", {"v": blob}), "empty KNN"),
        (search("hello world", {"v": blob}), "text query"),
        (search("@t:{a=>[KNN 5 @vec $v]", {"v": blob}), "unclosed tag"),
        (search("@n:[1]=>[KNN 5 @vec $v]", {"v": blob}), "one-ended range"),
        (search("@n:[a b]=>[KNN 5 @vec $v]", {"v": blob}), "non-numeric range"),
        (search("@nosuch:{a}=>[KNN 5 @vec $v]", {"v": blob}), "unknown filter field"),
        (search("(@t:{a}=>[KNN 5 @vec $v]", {"v": blob}), "unbalanced parenthesis"),
        (search("*=>[KNN 5 @vec $v]", {"v": blob}, ["LIMIT", "x", "1"]), "bad LIMIT"),
        (search("*=>[KNN 5 @vec $v]", {"v": blob}, ["SORTBY", "n"]), "SORTBY another field"),
        (search("*=>[KNN 5 @vec $v]", {"v": blob}, ["RETURN", "9"]), "RETURN count past the end"),
        (search("*=>[KNN 5 @vec $v]", {"v": blob}, ["NOSUCHOPTION"]), "unknown option"),
        (["FT.SEARCH", "idx", "*=>[KNN 5 @vec $v]", "PARAMS", "3", "v", blob, "x"], "odd PARAMS count"),
        (["FT.SEARCH", "nosuch", "*=>[KNN 5 @vec $v]", "PARAMS", "2", "v", blob], "unknown index"),
        (["FT.SEARCH", "idx"], "no query"),
    ]
    for args, what in queries:
        expect_error(args, f"FT.SEARCH: {what}")
    expect_error(["FT.INFO", "nosuch"], "FT.INFO unknown index")
    expect_error(["FT.INFO"], "FT.INFO arity")
    expect_error(["FT.DROPINDEX", "nosuch"], "FT.DROPINDEX unknown index")

    reply = r.execute_command(*search("*=>[KNN 5 @vec $v]", {"v": blob}))
    check(reply[0] == 1 and reply[1] == b"e:1", f"a good query still works: {reply!r}")
    check(r.execute_command("FT.DROPINDEX", "idx") == b"OK", "FT.DROPINDEX")
    check(r.execute_command("FT._LIST") == [], "no index after FT.DROPINDEX")
    check(r.ping() and server.alive(), "server still up")

check.done()
