"""Issue #14.1: FT.* commands honour ACL key patterns, and refusals are NOPERM errors in ACL LOG.

The rule (examples/redis_module/acl.hpp): FT.SEARCH, FT.INFO, FT.CREATE and FT.DROPINDEX need read
access to every key under every prefix of the index (`~p*`, `%R~p*` or `%RW~p*` covering it; an
index without PREFIX needs `~*`). Checked: the issue's scenario, foreign prefixes refused for
FT.CREATE / FT.DROPINDEX / FT.INFO, users with the right patterns working as before, ACL changes
(directly and through MULTI/EXEC) taking effect on the next command, scripts running as their caller,
and the command flags (valkey-search's)."""
import numpy as np
import redis

from harness import Checks, Server, to_str, wait_ready

check = Checks()
DIM = 4
vec = np.ones(DIM, dtype=np.float32).tobytes()
schema = ["SCHEMA", "vec", "VECTOR", "FLAT", "6", "TYPE", "FLOAT32", "DIM", str(DIM), "DISTANCE_METRIC", "L2"]


def search(r, index, extra=()):
    return r.execute_command("FT.SEARCH", index, "*=>[KNN 1 @vec $v]", "PARAMS", "2", "v", vec, *extra, "DIALECT", "2")


def outcome(fn):
    """The reply, or the error text."""
    try:
        return fn()
    except redis.ResponseError as e:
        return f"error: {e}"


def noperm(x):
    return isinstance(x, str) and x.startswith("error: NOPERM") or (isinstance(x, str) and "no permissions" in x)


def as_user(server, name):
    return server.client(username=name, password="pw")


with Server() as server:
    admin = server.client()
    admin.hset("secret:1", mapping={"vec": vec, "password": "hunter2"})
    admin.hset("public:1", mapping={"vec": vec, "name": "ok"})
    admin.execute_command("FT.CREATE", "sec", "PREFIX", "1", "secret:", *schema)
    admin.execute_command("FT.CREATE", "pub", "PREFIX", "1", "public:", *schema)
    admin.execute_command("FT.CREATE", "everything", *schema)
    for name in ("sec", "pub", "everything"):
        wait_ready(admin, name)

    # ---- the scenario ------------------------------------------------------------------
    admin.execute_command("ACL", "SETUSER", "ro", "on", ">pw", "resetkeys", "~public:*", "-@all", "+ft.search")
    admin.execute_command("ACL", "LOG", "RESET")
    ro = as_user(server, "ro")
    got = outcome(lambda: search(ro, "sec", ["RETURN", "1", "password"]))
    check(noperm(got) and "hunter2" not in str(got), f"ro may not search an index over secret:* : {got}")
    log = admin.execute_command("ACL", "LOG")
    entry = dict(zip(*[iter(log[0])] * 2)) if log else {}
    entry = {to_str(k): to_str(v) if isinstance(v, bytes) else v for k, v in entry.items()}
    check(entry.get("username") == "ro" and entry.get("reason") == "key" and entry.get("context") == "module"
          and entry.get("object") == "secret:*", f"ACL LOG records the refusal: {entry}")
    got = outcome(lambda: search(ro, "pub", ["RETURN", "1", "name"]))
    check(isinstance(got, list) and got[0] == 1 and to_str(got[1]) == "public:1", f"ro searches public:* as before: {got}")
    check(noperm(outcome(lambda: search(ro, "everything"))), "an index over all keys needs ~* : refused to ro")

    # ---- FT.CREATE / FT.DROPINDEX / FT.INFO over foreign prefixes -------------------------------
    admin.execute_command("ACL", "SETUSER", "ddl", "on", ">pw", "resetkeys", "~public:*", "-@all",
                          "+ft.search", "+ft.create", "+ft.dropindex", "+ft.info", "+ft._list")
    ddl = as_user(server, "ddl")
    check(noperm(outcome(lambda: ddl.execute_command("FT.CREATE", "steal", "PREFIX", "1", "secret:", *schema))),
          "FT.CREATE over secret: is refused")
    check(noperm(outcome(lambda: ddl.execute_command("FT.CREATE", "steal2", "PREFIX", "2", "public:", "secret:", *schema))),
          "FT.CREATE over public: and secret: is refused")
    check(noperm(outcome(lambda: ddl.execute_command("FT.CREATE", "steal3", *schema))), "FT.CREATE over all keys is refused")
    check(noperm(outcome(lambda: ddl.execute_command("FT.DROPINDEX", "sec"))), "FT.DROPINDEX of an index over secret: is refused")
    check(noperm(outcome(lambda: ddl.execute_command("FT.INFO", "sec"))), "FT.INFO of an index over secret: is refused")
    check(b"sec" in admin.execute_command("FT._LIST"), "the refused drop dropped nothing")
    check(outcome(lambda: ddl.execute_command("FT.CREATE", "mine", "PREFIX", "1", "public:sub:", *schema)) == b"OK",
          "FT.CREATE under a readable prefix works")
    wait_ready(admin, "mine")
    check(to_str(ddl.ft("mine").info()["index_name"]) == "mine", "FT.INFO of it works")
    check(outcome(lambda: ddl.execute_command("FT.DROPINDEX", "mine")) == b"OK", "and FT.DROPINDEX")
    check(set(admin.execute_command("FT._LIST")) == {b"sec", b"pub", b"everything"}, "indexes as before")

    # ---- pattern forms ---------------------------------------------------------------------------
    cases = [
        ("%R~secret:*", True), ("%RW~secret:*", True), ("~sec*", True), ("~*", True), ("allkeys", True),
        ("%W~secret:*", False), ("~secret:1", False), ("~secret:[0-9]*", False), ("~secret", False),
        ("~secret:?*", False), ("~[s]ecret:*", True), ("~secret\\:*", True),
    ]
    for rule, allowed in cases:
        admin.execute_command("ACL", "SETUSER", "p", "reset", "on", ">pw", "+ft.search", rule)
        got = outcome(lambda: search(as_user(server, "p"), "sec"))
        ok = isinstance(got, list) and got[0] == 1 if allowed else noperm(got)
        check(ok, f"pattern {rule}: {'allowed' if allowed else 'refused'} expected, got {got}")

    # ---- changes take effect at once, directly and through MULTI/EXEC ----------------------------
    check(noperm(outcome(lambda: search(ro, "sec"))), "ro refused (verdict cached)")
    admin.execute_command("ACL", "SETUSER", "ro", "~secret:*")
    check(isinstance(outcome(lambda: search(ro, "sec")), list), "after ACL SETUSER ro ~secret:* ro may search sec")
    admin.execute_command("ACL", "SETUSER", "ro", "resetkeys", "~public:*")
    check(noperm(outcome(lambda: search(ro, "sec"))), "after resetkeys it may not again")
    pipe = admin.pipeline(transaction=True)
    pipe.execute_command("ACL", "SETUSER", "ro", "~secret:*")
    check(noperm(outcome(lambda: search(ro, "sec"))), "a queued ACL change is not in force before EXEC")
    pipe.execute()
    check(isinstance(outcome(lambda: search(ro, "sec")), list), "and is after EXEC")
    admin.execute_command("ACL", "SETUSER", "ro", "resetkeys", "~public:*")

    # ---- scripts run as their caller ---------------------------------------------------------------
    admin.execute_command("ACL", "SETUSER", "ro", "+eval")
    script = "return redis.call('FT.SEARCH', ARGV[1], '*=>[KNN 1 @vec $v]', 'PARAMS', '2', 'v', ARGV[2], 'DIALECT', '2')"
    got = outcome(lambda: ro.eval(script, 0, "sec", vec))
    check(isinstance(got, str) and "NOPERM" in got or "no permissions" in str(got), f"EVAL as ro is refused too: {got}")
    got = outcome(lambda: ro.eval(script, 0, "pub", vec))
    check(isinstance(got, list) and got[0] == 1, f"EVAL as ro over public: works: {got}")

    # ---- the default user (all keys) works as before -----------------------------------------------
    check(search(admin, "sec")[0] == 1 and search(admin, "everything", ["LIMIT", "0", "0"])[0] == 1,
          "the default user searches everything")

    # ---- command flags as valkey-search declares them ----------------------------------------------
    reply = admin.execute_command("COMMAND", "INFO", "FT.CREATE", "FT.DROPINDEX", "FT.SEARCH", "FT.INFO", "FT._LIST")
    info = {to_str(name).upper(): {to_str(f) for f in c["flags"]} for name, c in reply.items()}
    check(info.get("FT.CREATE", set()) >= {"write", "denyoom", "fast"}, f"FT.CREATE flags {info.get('FT.CREATE')}")
    check(info.get("FT.DROPINDEX", set()) >= {"write", "fast"}, f"FT.DROPINDEX flags {info.get('FT.DROPINDEX')}")
    check(info.get("FT.SEARCH", set()) >= {"readonly"}, f"FT.SEARCH flags {info.get('FT.SEARCH')}")
    check(info.get("FT.INFO", set()) >= {"readonly", "fast"}, f"FT.INFO flags {info.get('FT.INFO')}")
    check(info.get("FT._LIST", set()) >= {"readonly", "admin"}, f"FT._LIST flags {info.get('FT._LIST')}")
    check(server.alive() and admin.ping(), "server up")

check.done()
