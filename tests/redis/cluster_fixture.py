"""A private Redis Cluster for the module's cluster tests: N primaries + N replicas of the real
redis-server, the module loaded on every node, on free loopback ports.

`with Cluster() as c:` picks ports whose bus port (port + 10000) is free too, starts the processes,
runs `redis-cli --cluster create ... --cluster-replicas 1`, and waits until every node says
`cluster_state:ok`, knows every other node, sees every replica as a replica, and every replica's
link to its primary is up. On exit it stops only the processes it started (by their pids; a
SIGSTOPped node is continued first) and removes its directory. Waits poll conditions with timeouts.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis
from redis.cluster import ClusterNode, RedisCluster

from harness import MODULE, REDIS_SERVER, TEST_BUDGET, server_env, skip

REDIS_CLI = shutil.which("redis-cli")
if not REDIS_CLI:
    skip("redis-cli not found (apt-get install redis-tools)")


def _port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port():
    """A free loopback port p <= 55535 whose cluster bus port p + 10000 is free too."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port <= 55535 and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair (p, p + 10000) found")


def wait_for(condition, timeout, what, interval=0.02):
    """Polls `condition()` until it returns a true value; raises AssertionError naming `what`."""
    deadline = time.time() + timeout
    last_error = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except (redis.RedisError, OSError) as e:
            last_error = e
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")
        time.sleep(interval)


class Node:
    """One redis-server process of the cluster."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.dir = os.path.join(cluster.dir, f"n{index}")
        os.makedirs(self.dir, exist_ok=True)
        self.port = None
        self.proc = None
        self.id = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        if self.port is None:
            self.port = cluster_port()
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.cluster.node_timeout), "--logfile", "server.log",
                "--save", "", "--appendonly", "no", "--enable-debug-command", "local"]
        if self.cluster.module:
            args += ["--loadmodule", MODULE] + TEST_BUDGET
        args += self.cluster.extra
        self.proc = subprocess.Popen(args, cwd=self.dir, env=server_env())
        wait_for(lambda: self.client().ping(), 20, f"{self.address} to answer PING")
        self.id = self.client().execute_command("CLUSTER", "MYID").decode()
        return self

    def client(self, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=30, **kw)

    def info(self, section):
        return self.client().info(section)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        """Stops the process (if running) and starts it again on the same port and directory: it
        rejoins from its nodes.conf, and loads its dump.rdb when there is one."""
        self.stop()
        return self.start()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return "(no log)"


class Cluster:
    """`primaries` primaries with `replicas` replicas each; see the module docstring."""

    def __init__(self, primaries=3, replicas=1, node_timeout=1500, module=True, extra=()):
        self.primaries_count = primaries
        self.replicas_per_primary = replicas
        self.node_timeout = node_timeout
        self.module = module
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="vindex-cluster-")
        self.nodes = []

    # ---- set-up and tear-down ----------------------------------------------------------------

    def start(self):
        count = self.primaries_count * (1 + self.replicas_per_primary)
        for i in range(count):
            for attempt in range(3):
                node = Node(self, i)
                try:
                    node.start()
                    break
                except AssertionError:
                    node.kill()  # the port was taken meanwhile: try another
                    if attempt == 2:
                        raise
            self.nodes.append(node)
        create = [REDIS_CLI, "--cluster", "create", *[n.address for n in self.nodes],
                  "--cluster-replicas", str(self.replicas_per_primary), "--cluster-yes"]
        out = subprocess.run(create, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("redis-cli --cluster create failed:\n" + out.stdout + out.stderr)
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout=30):
        """Every running node: cluster_state ok, every other node known, each replica seen as one by
        everyone, and every replica's link to its primary up."""
        running = [n for n in self.nodes if n.alive()]

        def healthy():
            for n in running:
                info = n.client().execute_command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
                if f"cluster_known_nodes:{len(self.nodes)}" not in info:
                    return False
                view = self.topology(n)
                if sum(1 for v in view.values() if v["role"] == "replica") != \
                        len(running) - self.primaries_count:
                    return False
            for n in running:
                if n.info("replication")["role"] == "slave" and \
                        n.info("replication").get("master_link_status") != "up":
                    return False
            return True

        wait_for(healthy, timeout, "a healthy cluster", interval=0.1)

    def stop(self):
        for n in self.nodes:
            n.stop()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def add_node(self):
        """Starts one more node and joins it with `redis-cli --cluster add-node` (a primary without
        slots); returns it as soon as redis-cli returns (see wait_joined)."""
        node = Node(self, len(self.nodes)).start()
        self.nodes.append(node)
        existing = next(n for n in self.nodes if n.alive() and n is not node)
        # redis-cli refuses ("Nodes don't agree about configuration") while the slot moves of a
        # reshard just before are still spreading by gossip: wait until every node agrees, and try
        # again should the check still catch a node behind.
        for attempt in range(5):
            wait_for(self.slots_agree, 30, "every node to agree on the slots", interval=0.1)
            out = subprocess.run([REDIS_CLI, "--cluster", "add-node", node.address, existing.address],
                                 capture_output=True, text=True, timeout=60)
            if out.returncode == 0 or "don't agree" not in out.stdout + out.stderr or attempt == 4:
                break
            time.sleep(0.5)
        if out.returncode != 0:
            raise RuntimeError("redis-cli --cluster add-node failed:\n" + out.stdout + out.stderr)
        node.joined_at = time.time()
        return node

    def slots_agree(self):
        """Whether every live node (not the one being added) sees the same slot owners, as
        redis-cli's configuration check compares them."""
        views = set()
        for n in self.nodes:
            if not n.alive():
                continue
            try:
                lines = n.client().execute_command("CLUSTER", "NODES").decode().splitlines()
            except Exception:  # noqa: BLE001 - a node restarting counts as not agreeing yet
                return False
            view = []
            for line in lines:
                fields = line.split()
                slots = tuple(sorted(f for f in fields[8:] if not f.startswith("[")))
                if slots:
                    view.append((fields[0], slots))
            if view:  # a node not yet met (no slots known) is not part of the check
                views.add(tuple(sorted(view)))
        return len(views) == 1

    def wait_joined(self, node):
        """Every node knows `node`, and `node` sees the cluster up."""
        wait_for(lambda: all(f"cluster_known_nodes:{len(self.nodes)}" in n.client().execute_command(
            "CLUSTER", "INFO").decode() for n in self.nodes if n.alive()), 30, "every node to know the new one")
        wait_for(lambda: "cluster_state:ok" in node.client().execute_command("CLUSTER", "INFO").decode(), 30,
                 "the new node to see the cluster up")

    def reshard(self, source, target, slots, timeout=300):
        """Moves `slots` slots from `source` to `target` with `redis-cli --cluster reshard` (slot by
        slot: SETSLOT IMPORTING / MIGRATING, MIGRATE the keys, SETSLOT NODE); returns its wall time."""
        t0 = time.time()
        out = subprocess.run([REDIS_CLI, "--cluster", "reshard", source.address, "--cluster-from", source.id,
                              "--cluster-to", target.id, "--cluster-slots", str(slots), "--cluster-yes"],
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("redis-cli --cluster reshard failed:\n" + out.stdout[-3000:] + out.stderr[-3000:])
        return time.time() - t0

    def open_slots(self):
        """{address: [markers]}: the MIGRATING / IMPORTING slots each live node reports on its own line."""
        out = {}
        for n in self.nodes:
            if not n.alive():
                continue
            for line in n.client().execute_command("CLUSTER", "NODES").decode().splitlines():
                parts = line.split()
                if "myself" in parts[2].split(","):
                    marks = [p for p in parts[8:] if p.startswith("[")]
                    if marks:
                        out[n.address] = marks
        return out

    # ---- views -------------------------------------------------------------------------------

    def topology(self, node=None):
        """{node id: {"role": "primary"|"replica", "primary": id, "address": "ip:port", "flags": [...],
        "slots": [(first, last)...]}} as `node` (default: the first live node) sees it."""
        node = node or next(n for n in self.nodes if n.alive())
        out = {}
        for line in node.client().execute_command("CLUSTER", "NODES").decode().splitlines():
            parts = line.split()
            flags = parts[2].split(",")
            slots = []
            for s in parts[8:]:
                if s.startswith("["):
                    continue
                a, _, b = s.partition("-")
                slots.append((int(a), int(b or a)))
            out[parts[0]] = {"role": "primary" if "master" in flags else "replica",
                             "primary": parts[3] if parts[3] != "-" else parts[0],
                             "address": parts[1].split("@")[0], "flags": flags, "slots": slots}
        return out

    def node_by_id(self, node_id):
        return next(n for n in self.nodes if n.id == node_id)

    def primaries(self):
        view = self.topology()
        return [self.node_by_id(i) for i, v in view.items() if v["role"] == "primary" and v["slots"]
                and self.node_by_id(i).alive()]

    def replicas(self):
        view = self.topology()
        return [self.node_by_id(i) for i, v in view.items() if v["role"] == "replica"
                and self.node_by_id(i).alive()]

    def replica_of(self, primary):
        view = self.topology()
        return [self.node_by_id(i) for i, v in view.items() if v["role"] == "replica" and v["primary"] == primary.id]

    def cluster_client(self, **kw):
        """redis-py's RedisCluster, started from the first live node (as a new user would)."""
        first = next(n for n in self.nodes if n.alive())
        return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", first.port)], socket_timeout=30, **kw)

    def wait_replicated(self, timeout=20):
        """Every live replica has applied everything its primary wrote so far."""
        for p in self.primaries():
            offset = p.info("replication")["master_repl_offset"]
            for r in self.replica_of(p):
                if r.alive():
                    wait_for(lambda: r.info("replication").get("slave_repl_offset", -1) >= offset, timeout,
                             f"replica {r.address} to catch up with {p.address}")
