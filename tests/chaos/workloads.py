"""Workloads of the fault tests (tests/chaos/README.md), each with its
checker. A workload runs client threads against real nodes over RESP,
records what every client saw in a history (written to a JSON file in
the formats of README.md), and after the nemesis has healed the cluster
and the in-doubt transactions have settled (chaos.py) reads the final
state and checks the whole run:

  bank      transfers between accounts spread over every shard (WATCH +
            MULTI/EXEC, each with a unique log key), reads of all the
            accounts in one transaction and through snapshots: every read
            sums to the total, no balance is negative, every acknowledged
            transfer's log key exists, and the balances are the start plus
            exactly the transfers logged.
  append    list-append (MULTI with APPEND and GET): the history goes to
            dkv-histcheck, which infers the version orders and finds
            dependency cycles (G0, G1a, G1b, G1c, G-single, G2).
  register  single-key reads, writes and compare-and-set (WATCH + GET +
            MULTI/SET/EXEC): the history goes to dkv-lincheck, which
            checks linearizability per key.

Outcomes: "ok" (the reply came), "fail" (certainly not applied: a null
EXEC after WATCH, EXECABORT), "info" (unknown: the connection broke, a
timeout, or an error that does not say the transaction never committed).
"""
import json
import os
import subprocess
import threading
import time

import redis

# Error replies the system may give under faults (anything else is a bug
# the run reports).
EXPECTED_ERRORS = ("TRYAGAIN", "CLUSTERDOWN", "LOADING", "unknown",
                   "too many conflicts", "timed out", "timeout",
                   "unreachable", "restart", "epoch too old", "busy",
                   "not serving", "closed", "shutting down", "MOVED",
                   "in doubt", "I/O", "clock")


def now_ns():
    return time.monotonic_ns()


def parse_list(raw):
    """A list-append key's value ("1,5,7,") as its list of values."""
    return [int(x) for x in (raw or b"").decode().split(",") if x]


class Workload:
    name = "?"

    def __init__(self, seed, outdir, bindir):
        self.seed = seed
        self.outdir = outdir
        self.bindir = bindir
        self.lock = threading.Lock()
        self.stats = {"ok": 0, "fail": 0, "info": 0}
        self.errors = []   # harness-visible problems: unexpected replies
        self.anomalies = []

    def clients(self):
        return 6

    def setup(self, cl):
        pass

    def count(self, outcome):
        with self.lock:
            self.stats[outcome] += 1

    def classify(self, e):
        """The outcome an exception means."""
        if isinstance(e, redis.WatchError):
            # redis-py turns a broken connection under WATCH into a
            # WatchError too: then nobody knows.
            if isinstance(e.__cause__, (redis.ConnectionError,
                                        redis.TimeoutError)) or \
                    "ConnectionError" in str(e):
                return "info"
            return "fail"
        if isinstance(e, (redis.ConnectionError, redis.TimeoutError)):
            return "info"
        msg = str(e)
        if msg.startswith("EXECABORT"):
            return "fail"
        if not any(t in msg for t in EXPECTED_ERRORS):
            with self.lock:
                if len(self.errors) < 20:
                    self.errors.append("unexpected error reply: %s" % msg)
        return "info"

    @staticmethod
    def connect(cl, rnd):
        nd = rnd.choice(cl.nodes)
        return nd.client(socket_timeout=8, socket_connect_timeout=2)

    def write_history(self, obj):
        path = os.path.join(self.outdir, "%s-history.json" % self.name)
        with open(path, "w") as f:
            json.dump(obj, f)
        return path

    def run_checker(self, tool, path, extra=()):
        """Runs a checker tool on a history file; an exit status of 1
        means anomalies, anything else but 0 a broken run."""
        exe = os.path.join(self.bindir, tool)
        p = subprocess.run([exe] + list(extra) + [path], capture_output=True,
                           text=True, timeout=600)
        out = (p.stdout + p.stderr).strip()
        with open(path + ".check.txt", "w") as f:
            f.write(out + "\n")
        if p.returncode == 1:
            self.anomalies.append("%s: %s" % (tool, out[-2000:]))
        elif p.returncode != 0:
            self.errors.append("%s exited %d: %s" % (tool, p.returncode,
                                                     out[-500:]))
        return out


def settle(cl, timeout=60):
    """Waits until no node holds intents (in-doubt transactions resolved)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if all(int(nd.client().info("transactions")["txn_intents"]) == 0
                   for nd in cl.nodes):
                return True
        except redis.RedisError:
            pass
        time.sleep(0.2)
    return False


class Bank(Workload):
    name = "bank"
    ACCOUNTS = 12
    START = 100

    def __init__(self, *a):
        super().__init__(*a)
        self.accts = ["bank:%02d" % i for i in range(self.ACCOUNTS)]
        self.total = self.ACCOUNTS * self.START
        self.transfers = []  # dicts, see README
        self.reads = []
        self.acked = []

    def clients(self):
        return 10  # 8 transferring, 2 reading

    def setup(self, cl):
        cl.nodes[0].client().mset({a: self.START for a in self.accts})

    def client(self, i, rnd, cl, stop_at):
        if i >= 8:
            return self.reader(i, rnd, cl, stop_at)
        conn = self.connect(cl, rnd)
        n = 0
        while time.time() < stop_at:
            a, b = rnd.sample(self.accts, 2)
            amt = rnd.randint(1, 10)
            logkey = "{blog}:%02d:%06d" % (i, n)
            n += 1
            t = {"log": logkey, "from": a, "to": b, "amount": amt,
                 "invoke_ns": now_ns()}
            try:
                with conn.pipeline() as p:
                    p.watch(a, b)
                    va, vb = int(p.get(a)), int(p.get(b))
                    if va < amt:  # never below zero
                        p.unwatch()
                        continue
                    p.multi()
                    p.set(a, va - amt)
                    p.set(b, vb + amt)
                    p.set(logkey, "%s %s %d" % (a, b, amt))
                    p.execute()
                t["outcome"] = "ok"
            except redis.RedisError as e:
                t["outcome"] = self.classify(e)
                if t["outcome"] == "info":
                    conn = self.connect(cl, rnd)
                    time.sleep(0.02)
            t["complete_ns"] = now_ns()
            self.count(t["outcome"])
            with self.lock:
                self.transfers.append(t)

    def check_read(self, vals, via):
        bad = [v for v in vals if v is None]
        if bad:
            return "%s read: %d accounts missing" % (via, len(bad))
        nums = [int(v) for v in vals]
        if sum(nums) != self.total:
            return "%s read: sum %d != %d: %r" % (via, sum(nums),
                                                  self.total, nums)
        if min(nums) < 0:
            return "%s read: negative balance: %r" % (via, nums)
        return None

    def reader(self, i, rnd, cl, stop_at):
        conn = self.connect(cl, rnd)
        k = 0
        while time.time() < stop_at:
            k += 1
            via = "snapshot" if k % 8 == 0 else "txn"
            r = {"via": via, "invoke_ns": now_ns()}
            try:
                if via == "txn":
                    with conn.pipeline(transaction=True) as p:
                        for a in self.accts:
                            p.get(a)
                        vals = p.execute()
                else:
                    name = "chaos-%d-%d" % (i, k)
                    conn.execute_command("DKV.SNAPSHOT", "CREATE", name)
                    vals = conn.execute_command("DKV.AT", name, "MGET",
                                                *self.accts)
                    try:
                        conn.execute_command("DKV.SNAPSHOT", "DESTROY", name)
                    except redis.RedisError:
                        pass  # left behind: harmless
            except redis.RedisError as e:
                self.classify(e)
                conn = self.connect(cl, rnd)
                time.sleep(0.05)
                continue
            r["complete_ns"] = now_ns()
            r["values"] = [None if v is None else int(v) for v in vals]
            problem = self.check_read(vals, via)
            with self.lock:
                self.reads.append(r)
                if problem:
                    self.anomalies.append(problem)

    def final(self, cl):
        c = cl.nodes[0].client()
        balances = {a: int(c.get(a)) for a in self.accts}
        present = {}
        cursor = b""
        while True:
            args = ["DKV.RANGE", "{blog}:", "{blog};", "LIMIT", "1000"]
            if cursor:
                args += ["CURSOR", cursor]
            cursor, items = c.execute_command(*args)
            for k, v in zip(items[0::2], items[1::2]):
                present[k.decode()] = v.decode()
            if not cursor:
                break
        lost = [t["log"] for t in self.transfers
                if t["outcome"] == "ok" and t["log"] not in present]
        if lost:
            self.anomalies.append("acknowledged transfers lost: %d (%s)" %
                                  (len(lost), ", ".join(lost[:5])))
        ghost = [t["log"] for t in self.transfers
                 if t["outcome"] == "fail" and t["log"] in present]
        if ghost:
            self.anomalies.append("aborted transfers applied: %d (%s)" %
                                  (len(ghost), ", ".join(ghost[:5])))
        want = {a: self.START for a in self.accts}
        for v in present.values():
            a, b, amt = v.split()
            want[a] -= int(amt)
            want[b] += int(amt)
        if want != balances:
            self.anomalies.append("balances %r != start + logged "
                                  "transfers %r" % (balances, want))
        problem = self.check_read([balances[a] for a in self.accts], "final")
        if problem:
            self.anomalies.append(problem)
        self.write_history({"workload": "bank", "seed": self.seed,
                            "accounts": self.accts, "start": self.START,
                            "transfers": self.transfers, "reads": self.reads,
                            "final": {"balances": balances,
                                      "logs": present}})


class Append(Workload):
    """Jepsen's list-append. KEYS keys are in use at a time; a key takes
    at most MAX_APPENDS appends, then a fresh key replaces it (as Elle's
    generator rotates keys), so lists, and the reads that return them
    whole, stay short however long the run: the history grows linearly
    with the operations, not quadratically."""
    name = "append"
    KEYS = 8
    MAX_APPENDS = 128

    def __init__(self, *a):
        super().__init__(*a)
        self.txns = []
        self.active = list(range(self.KEYS))  # slot -> key in use
        self.nkeys = self.KEYS                 # keys 0 .. nkeys-1 used
        self.next_value = {}
        self.next_id = 0

    def pick(self, rnd, append):
        """A key in use, and for an append its next value (lock held)."""
        slot = rnd.randrange(self.KEYS)
        k = self.active[slot]
        if not append:
            return k, None
        v = self.next_value.get(k, 0) + 1
        if v > self.MAX_APPENDS:
            k = self.active[slot] = self.nkeys
            self.nkeys += 1
            v = 1
        self.next_value[k] = v
        return k, v

    def key(self, k):
        return "la:%d" % k

    def client(self, i, rnd, cl, stop_at):
        conn = self.connect(cl, rnd)
        while time.time() < stop_at:
            ops = []
            with self.lock:
                self.next_id += 1
                tid = self.next_id
                for _ in range(rnd.randint(1, 4)):
                    append = rnd.random() < 0.5
                    k, v = self.pick(rnd, append)
                    ops.append(["append", k, v] if append
                               else ["read", k, None])
            t = {"id": tid, "invoke_ns": now_ns()}
            try:
                with conn.pipeline(transaction=True) as p:
                    for op in ops:
                        if op[0] == "append":
                            p.append(self.key(op[1]), "%d," % op[2])
                        else:
                            p.get(self.key(op[1]))
                    res = p.execute()
                t["outcome"] = "ok"
                for op, r in zip(ops, res):
                    if op[0] == "read":
                        op[2] = parse_list(r)
            except redis.RedisError as e:
                t["outcome"] = self.classify(e)
                if t["outcome"] == "info":
                    conn = self.connect(cl, rnd)
                    time.sleep(0.02)
            t["complete_ns"] = now_ns()
            t["ops"] = ops
            self.count(t["outcome"])
            with self.lock:
                self.txns.append(t)

    def final(self, cl):
        c = cl.nodes[0].client()
        t0 = now_ns()
        with c.pipeline(transaction=True) as p:
            for k in range(self.nkeys):
                p.get(self.key(k))
            res = p.execute()
        ops = [["read", k, parse_list(r)] for k, r in enumerate(res)]
        self.txns.append({"id": self.next_id + 1, "outcome": "ok",
                          "ops": ops, "invoke_ns": t0,
                          "complete_ns": now_ns()})
        # Every acknowledged append is in the final read.
        final = {op[1]: set(op[2]) for op in ops}
        lost = [(op[1], op[2]) for t in self.txns if t["outcome"] == "ok"
                for op in t["ops"] if op[0] == "append" and
                op[2] not in final[op[1]]]
        if lost:
            self.anomalies.append("acknowledged appends lost: %d (%r)" %
                                  (len(lost), lost[:5]))
        txns = []
        for t in self.txns:
            ops = [op if op[0] == "append" or t["outcome"] == "ok"
                   else [op[0], op[1], None] for op in t["ops"]]
            x = {"id": t["id"], "outcome": t["outcome"], "ops": ops,
                 "invoke_ns": t["invoke_ns"]}
            if t["outcome"] != "info":  # unknown: may end at any time
                x["complete_ns"] = t["complete_ns"]
            txns.append(x)
        path = self.write_history({"workload": "append", "seed": self.seed,
                                   "txns": txns})
        # Real time too: one machine, one clock for every node and client,
        # so dkv's promise (serializable with real-time order kept within
        # the HLC's bounded offset) is strict serializability here.
        self.run_checker("dkv-histcheck", path, ["--realtime"])


class Register(Workload):
    name = "register"
    KEYS = 4

    def __init__(self, *a):
        super().__init__(*a)
        self.ops = []
        self.op_errors = []
        self.next_value = [0] * self.KEYS

    def key(self, k):
        # A hash tag of its own: [key, key + "\0") stays in the key's
        # shard, for the version dump below.
        return "{reg:%d}" % k

    def record(self, op):
        self.count(op["outcome"])
        err = op.pop("error", None)
        with self.lock:
            if err is not None:  # kept beside the history, for debugging
                self.op_errors.append([len(self.ops), err])
            self.ops.append(op)

    def client(self, i, rnd, cl, stop_at):
        conn = self.connect(cl, rnd)
        while time.time() < stop_at:
            k = rnd.randrange(self.KEYS)
            roll = rnd.random()
            op = {"process": i, "key": k, "invoke_ns": now_ns()}
            try:
                if roll < 0.4:
                    v = conn.get(self.key(k))
                    op.update(f="read", value=None if v is None else int(v))
                elif roll < 0.7:
                    with self.lock:
                        self.next_value[k] += 1
                        v = self.next_value[k]
                    op.update(f="write", value=v)
                    conn.set(self.key(k), v)
                else:
                    with self.lock:
                        self.next_value[k] += 1
                        new = self.next_value[k]
                    with conn.pipeline() as p:
                        p.watch(self.key(k))
                        cur = p.get(self.key(k))
                        if cur is None:
                            # Nothing to compare with: a read.
                            p.unwatch()
                            op.update(f="read", value=None)
                        else:
                            op.update(f="cas", value=[int(cur), new])
                            p.multi()
                            p.set(self.key(k), new)
                            p.execute()
                            op["result"] = True
                op["outcome"] = "ok"
            except redis.RedisError as e:
                op["outcome"] = self.classify(e)
                op["error"] = "%s: %s (%r)" % (type(e).__name__, e,
                                              e.__cause__)
                if "f" not in op:
                    op["f"] = "read"
                if op["f"] == "read" and op["outcome"] != "ok":
                    # A read that failed tells nothing: not recorded.
                    op["outcome"] = "drop"
                if op["outcome"] == "info":
                    conn = self.connect(cl, rnd)
                    time.sleep(0.02)
            op["complete_ns"] = now_ns()
            if op["outcome"] == "drop":
                continue
            if op["outcome"] == "info":
                del op["complete_ns"]
            self.record(op)

    def final(self, cl):
        c = cl.nodes[0].client()
        for k in range(self.KEYS):
            t0 = now_ns()
            v = c.get(self.key(k))
            self.ops.append({"process": 1000, "key": k, "f": "read",
                             "value": None if v is None else int(v),
                             "outcome": "ok", "invoke_ns": t0,
                             "complete_ns": now_ns()})
        # A write of unknown outcome whose value nobody observed (no read,
        # no CAS expected it) is dropped: were it applied, nothing after
        # it saw it, so leaving it out of a linearization changes no
        # other operation's result, and a linearization without it is one
        # with it not applied. The search stays small however many
        # writes were cut off by a crash.
        seen = set()
        for op in self.ops:
            if op["f"] == "read" and op["value"] is not None:
                seen.add((op["key"], op["value"]))
            elif op["f"] == "cas":
                seen.add((op["key"], op["value"][0]))
        kept = [op for op in self.ops
                if not (op["outcome"] == "info" and op["f"] == "write" and
                        (op["key"], op["value"]) not in seen)]
        path = self.write_history({"workload": "register",
                                   "seed": self.seed, "ops": kept,
                                   "dropped_unobserved_info_writes":
                                       len(self.ops) - len(kept),
                                   "errors": self.op_errors,
                                   "versions": self.versions(c)})
        self.run_checker("dkv-lincheck", path)

    def versions(self, c, limit=20000):
        """Every key's versions, newest first, as [epoch, value] (what
        the store holds: the order the checker is to explain)."""
        out = {}
        for k in range(self.KEYS):
            key = self.key(k).encode()
            chain, epoch = [], None
            while len(chain) < limit:
                args = ["DKV.RANGE", key, key + b"\x00", "LIMIT", "1",
                        "WITHEPOCHS"]
                if epoch is not None:
                    args += ["EPOCH", str(epoch)]
                try:
                    _, items = c.execute_command(*args)
                except redis.RedisError as e:
                    chain.append(["stopped", str(e)])
                    break
                if not items:
                    break
                e = int(items[2])
                chain.append([e, int(items[1])])
                epoch = e - 1
            out[str(k)] = chain
        return out


WORKLOADS = {"bank": Bank, "append": Append, "register": Register}
