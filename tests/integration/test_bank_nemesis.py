#!/usr/bin/python3
"""The bank, with a nemesis: transfers as transactions over a 3-node
cluster while nodes are SIGKILLed and restarted, at random and at the
transaction layer's injected fault points.

24 accounts spread over every shard; 16 clients transfer between random
pairs with WATCH + MULTI/EXEC, each transfer also writing a unique log
key in the same transaction; 2 clients read every account in one
MULTI/EXEC. The nodes run with DKV_TXN_FAULT, which makes a node kill
itself right before a durable write of the transaction layer or right
after one, before it is announced (a leader between its record and its
PREPAREs, between COMMITTED and its answer, a follower between its
intents and PREPARED); a nemesis also SIGKILLs random nodes and restarts
every dead one.

Checks: every read of all accounts sums to the total; after the faults
stop, every acknowledged transfer's log key exists (nothing acknowledged
is lost), and the balances are exactly the start plus the effect of every
log key present (each transfer applied entirely or not at all, whether
acknowledged, failed or of unknown outcome).
"""
import os
import random
import sys
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, wait_until  # noqa: E402

ACCOUNTS = 24
START = 1000
CLIENTS = 16
DURATION = float(os.environ.get("DKV_BANK_SECONDS", "20"))


def main():
    seed = int(os.environ.get("DKV_SEED", str(random.randrange(1 << 30))))
    print("seed", seed, flush=True)
    rnd = random.Random(seed)
    accts = ["acct:%02d" % i for i in range(ACCOUNTS)]
    total = ACCOUNTS * START
    with Cluster(n=3, shards=9) as cl:
        c = cl.nodes[0].client()
        c.mset({a: START for a in accts})
        owners = {int(c.execute_command("DKV.SHARDOF", a)[1]) for a in accts}
        assert len(owners) == 3, owners
        # From now on the nodes may kill themselves at the fault points.
        os.environ["DKV_TXN_FAULT"] = "submit=0.0005,done=0.0005,seed=%d" % seed
        lock = threading.Lock()
        acked, errors = [], []
        stats = {"reads": 0, "aborts": 0, "unknown": 0, "kills": 0,
                 "restarts": 0}

        def restart(nd):
            # A node may die again while it recovers (a fault point hit
            # by its own recovery): try again, a bounded number of times.
            for _ in range(10):
                try:
                    nd.kill()
                    nd.start()
                    stats["restarts"] += 1
                    return
                except TimeoutError:
                    continue
            errors.append("node %d does not come back" % nd.id)

        for nd in cl.nodes:
            restart(nd)
        stop = time.time() + DURATION

        def client_for(r):
            nd = cl.nodes[r.randrange(3)]
            return redis.Redis(host="127.0.0.1", port=nd.port,
                               socket_timeout=5)

        def transfer(i):
            r = random.Random(seed * 100 + i)
            n = 0
            conn = client_for(r)
            while time.time() < stop:
                a, b = r.sample(accts, 2)
                amt = r.randint(1, 20)
                logkey = "{log}:%02d:%06d" % (i, n)
                n += 1
                try:
                    with conn.pipeline() as p:
                        p.watch(a, b)
                        va, vb = int(p.get(a)), int(p.get(b))
                        p.multi()
                        p.set(a, va - amt)
                        p.set(b, vb + amt)
                        p.set(logkey, "%s %s %d" % (a, b, amt))
                        p.execute()
                    with lock:
                        acked.append(logkey)
                except redis.WatchError:
                    with lock:
                        stats["aborts"] += 1
                except (redis.ConnectionError, redis.TimeoutError,
                        redis.ResponseError) as e:
                    # The node died or the outcome is unknown: the log
                    # key tells at the end. Try another node.
                    with lock:
                        stats["unknown"] += 1
                    if isinstance(e, redis.ResponseError) and not (
                            "TRYAGAIN" in str(e) or "unknown" in str(e) or
                            "too many conflicts" in str(e) or
                            "timed out" in str(e) or
                            "unreachable" in str(e) or
                            "CLUSTERDOWN" in str(e)):
                        errors.append("transfer: %r" % e)
                    conn = client_for(r)
                    time.sleep(0.05)

        def reader(i):
            r = random.Random(seed * 1000 + i)
            conn = client_for(r)
            while time.time() < stop:
                try:
                    with conn.pipeline(transaction=True) as p:
                        for a in accts:
                            p.get(a)
                        vals = p.execute()
                except (redis.ConnectionError, redis.TimeoutError,
                        redis.ResponseError):
                    conn = client_for(r)
                    time.sleep(0.05)
                    continue
                s = sum(int(v) for v in vals)
                with lock:
                    stats["reads"] += 1
                if s != total:
                    errors.append("read-all sum %d != %d: %r" %
                                  (s, total, vals))

        def nemesis():
            while time.time() < stop:
                time.sleep(rnd.uniform(2.0, 4.0))
                for nd in cl.nodes:  # the fault points' victims
                    if nd.proc is None or nd.proc.poll() is not None:
                        nd.proc = None
                        restart(nd)
                if time.time() >= stop:
                    break
                nd = rnd.choice(cl.nodes)
                nd.kill()
                stats["kills"] += 1
                time.sleep(rnd.uniform(0.2, 1.0))
                restart(nd)

        ts = ([threading.Thread(target=transfer, args=(i,))
               for i in range(CLIENTS)] +
              [threading.Thread(target=reader, args=(i,)) for i in range(2)] +
              [threading.Thread(target=nemesis)])
        for t in ts:
            t.start()
        for t in ts:
            t.join()

        # Faults off; every node up; the in-doubt transactions resolve.
        os.environ.pop("DKV_TXN_FAULT", None)
        for nd in cl.nodes:
            restart(nd)
        c = cl.nodes[0].client()

        def settled():
            try:
                return all(int(nd.client().info("transactions")
                               ["txn_intents"]) == 0 for nd in cl.nodes)
            except redis.RedisError:
                return False
        wait_until(settled, timeout=30, what="intents resolved")
        balances = {a: int(c.get(a)) for a in accts}
        logs = c.execute_command("DKV.RANGE", "{log}:", "{log};", "LIMIT",
                                 "1000")
        present = {}
        cursor, items = logs[0], logs[1]
        while True:
            for k, v in zip(items[0::2], items[1::2]):
                present[k.decode()] = v.decode()
            if not cursor:
                break
            cursor, items = c.execute_command(
                "DKV.RANGE", "{log}:", "{log};", "LIMIT", "1000", "CURSOR",
                cursor)
        print("stats", stats, "acked", len(acked), "logs", len(present),
              flush=True)
        lost = [k for k in acked if k not in present]
        if lost:
            errors.append("acknowledged transfers lost: %r" % lost[:10])
        want = {a: START for a in accts}
        for v in present.values():
            a, b, amt = v.split()
            want[a] -= int(amt)
            want[b] += int(amt)
        if want != balances:
            errors.append("balances %r != start + logged transfers %r" %
                          (balances, want))
        if stats["reads"] == 0 or len(acked) < 20:
            errors.append("too little work done: %r, %d acked" %
                          (stats, len(acked)))
        if errors:
            for e in errors[:20]:
                print("ERROR", e)
            sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
