"""Hybrid queries: KNN restricted by TAG and NUMERIC filters (AND, OR, NOT, parentheses, exclusive
and infinite bounds) equal a numpy reference, for FLAT and HNSW."""
import numpy as np

from harness import (Checks, IndexDefinition, IndexType, NumericField, Server, TagField,
                     VectorField, knn, wait_ready)

check = Checks()
rng = np.random.default_rng(11)
N, DIM = 2000, 12
X = rng.standard_normal((N, DIM)).astype(np.float32)
colors = np.array(["red", "green", "blue", "Black"])
color = rng.integers(0, 4, N)
extra = rng.integers(0, 4, N)  # a second tag value on some entries
price = np.round(rng.uniform(0, 100, N), 1)
price[:10] = 50.0  # exact hits for bound tests

# Reference predicates on entry i, next to the filter text the module gets.
def tags_of(i):
    t = {colors[color[i]].lower()}
    if i % 3 == 0:
        t.add(colors[extra[i]].lower())
    return t

cases = [
    ("*", lambda i: True),
    ("@color:{red}", lambda i: "red" in tags_of(i)),
    ("@color:{red | blue}", lambda i: tags_of(i) & {"red", "blue"}),
    ("@color:{BLACK}", lambda i: "black" in tags_of(i)),
    ("@price:[20 40]", lambda i: 20 <= price[i] <= 40),
    ("@price:[(50 60]", lambda i: 50 < price[i] <= 60),
    ("@price:[50 (60]", lambda i: 50 <= price[i] < 60),
    ("@price:[-inf 5]", lambda i: price[i] <= 5),
    ("@price:[95 +inf]", lambda i: price[i] >= 95),
    ("@color:{green} @price:[0 30]", lambda i: "green" in tags_of(i) and price[i] <= 30),
    ("@color:{green} | @price:[90 100]", lambda i: "green" in tags_of(i) or price[i] >= 90),
    ("-@color:{red}", lambda i: "red" not in tags_of(i)),
    ("(@color:{red} | @color:{blue}) -@price:[10 90]",
     lambda i: tags_of(i) & {"red", "blue"} and not (10 <= price[i] <= 90)),
    ("@color:{red} @price:[50 50]", lambda i: "red" in tags_of(i) and price[i] == 50),
    ("@color:{purple}", lambda i: False),
]

with Server() as server:
    r = server.client()
    pipe = r.pipeline(transaction=False)
    for i in range(N):
        t = colors[color[i]] + ("," + colors[extra[i]] if i % 3 == 0 else "")
        pipe.hset(f"item:{i}", mapping={"vec": X[i].tobytes(), "color": t, "price": str(price[i])})
    pipe.execute()
    for algorithm, params in (("FLAT", {}), ("HNSW", {"EF_RUNTIME": 200})):
        name = algorithm.lower()
        r.ft(name).create_index(
            [VectorField("vec", algorithm, {"TYPE": "FLOAT32", "DIM": DIM, "DISTANCE_METRIC": "L2", **params}),
             TagField("color"), NumericField("price")],
            definition=IndexDefinition(prefix=["item:"], index_type=IndexType.HASH))
        wait_ready(r, name)
        for qn in range(3):
            q = rng.standard_normal(DIM).astype(np.float32)
            d = ((X.astype(np.float64) - q) ** 2).sum(1)
            for text, pred in cases:
                allowed = np.array([bool(pred(i)) for i in range(N)])
                want = [i for i in np.argsort(d, kind="stable") if allowed[i]][:10]
                keys, scores = knn(r, name, q, 10, filt=text)
                got = [int(k.split(":")[1]) for k in keys]
                if algorithm == "FLAT":
                    check(got == want, f"{algorithm} '{text}': {got} != {want}")
                else:
                    check(len(got) == len(want) and len(set(got) & set(want)) >= 0.9 * len(want),
                          f"{algorithm} '{text}': {got} vs {want}")
                check(all(allowed[i] for i in got), f"{algorithm} '{text}' returned a non-matching key")
                check(np.allclose(scores, d[got], rtol=1e-4, atol=1e-3), f"{algorithm} '{text}' scores")

    # Reply shapes redis-py and raw clients rely on.
    q = rng.standard_normal(DIM).astype(np.float32)
    d = ((X.astype(np.float64) - q) ** 2).sum(1)
    order = [f"item:{i}" for i in np.argsort(d, kind="stable")[:10]]
    blob = q.tobytes()
    base = ["FT.SEARCH", "flat", "*=>[KNN 10 @vec $v AS dist]", "PARAMS", "2", "v", blob]
    reply = r.execute_command(*base, "NOCONTENT", "DIALECT", "2")
    check(reply[0] == 10 and [x.decode() for x in reply[1:]] == order, "NOCONTENT: count then keys")
    reply = r.execute_command(*base, "LIMIT", "3", "4", "DIALECT", "2")
    check(reply[0] == 10 and [reply[i].decode() for i in (1, 3, 5, 7)] == order[3:7], "LIMIT offset num")
    fields = dict(zip(reply[2][::2], reply[2][1::2]))
    check(set(fields) == {b"dist", b"vec", b"color", b"price"} and fields[b"vec"] == X[int(order[3][5:])].tobytes(),
          f"default content: the score (alias) and every hash field: {sorted(fields)}")
    reply = r.execute_command(*base, "RETURN", "3", "price", "nosuch", "dist", "SORTBY", "dist", "DESC", "DIALECT", "2")
    check([reply[i].decode() for i in range(1, 21, 2)] == order[::-1], "SORTBY score DESC reverses the order")
    check([x for x in reply[2][::2]] == [b"price", b"dist"], "RETURN lists present fields in the asked order")
    reply = r.execute_command(*base, "LIMIT", "0", "0", "DIALECT", "2")
    check(reply == [10], "LIMIT 0 0 returns only the count")
    check(server.alive(), "server still up")

check.done()
