#!/usr/bin/python3
"""Cluster-wide snapshots on a 3-node cluster (docs/snap.md).

1. The interface: DKV.SNAPSHOT CREATE/LIST/SHOW/DESTROY and DKV.AT reads
   (GET, MGET, EXISTS, DKV.RANGE) at a snapshot and at an epoch, with
   their errors; every node lists the same snapshots.
2. Completeness: every transaction acknowledged before CREATE was sent is
   in the snapshot, and none begun after CREATE answered is.
3. The bank: 12 clients transfer between accounts on every shard (WATCH +
   MULTI/EXEC) while snapshots are taken one after another, with a node
   SIGKILLed and restarted in the middle; every snapshot read in full sums
   to the total. At the end, after GC compacted every node (2 s of history
   kept) and every node restarted, each snapshot is read again and must
   give the same bytes.
4. The catalog survives restarts, and a node that was down while a
   snapshot was destroyed learns it when it comes back.
"""
import os
import random
import sys
import threading
import time

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, wait_until  # noqa: E402

ACCOUNTS = 18
START = 1000
CLIENTS = 12
DURATION = float(os.environ.get("DKV_SNAP_SECONDS", "12"))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(fn, text):
    try:
        fn()
    except redis.ResponseError as e:
        check(text in str(e), "error %r lacks %r" % (str(e), text))
        return
    raise AssertionError("no error, expected %r" % text)


def snap(c, *args):
    return c.execute_command("DKV.SNAPSHOT", *args)


def at(c, name, *args):
    return c.execute_command("DKV.AT", name, *args)


def interface(cl):
    c1, c2, c3 = (nd.client() for nd in cl.nodes)
    c1.mset({"k:a": "1", "k:b": "2", "{t}1": "x", "{t}2": "y"})
    name, epoch, created = snap(c2, "CREATE", "first")  # via a non-leader
    check(name == b"first" and epoch > 0 and created > 0, "create reply")
    c1.set("k:a", "10")
    c1.delete("k:b")
    c1.set("k:c", "3")
    c1.set("{t}3", "z")
    for c in (c1, c2, c3):  # every node answers at the snapshot
        check(at(c, "first", "GET", "k:a") == b"1", "GET at snapshot")
        check(at(c, "first", "MGET", "k:a", "k:b", "k:c") ==
              [b"1", b"2", None], "MGET at snapshot")
        check(at(c, "first", "EXISTS", "k:a", "k:b", "k:c") == 2,
              "EXISTS at snapshot")
        check(at(c, str(epoch), "GET", "k:a") == b"1", "GET at epoch")
        cur, items = at(c, "first", "DKV.RANGE", "{t}", "{t}~")
        check(cur == b"" and items == [b"{t}1", b"x", b"{t}2", b"y"],
              "DKV.RANGE at snapshot: %r" % items)
    check(c1.get("k:a") == b"10", "the present is untouched")
    wait_until(lambda: all(snap(c, "LIST") == [[b"first", epoch, created]]
                           for c in (c1, c2, c3)), what="catalog everywhere")
    check(snap(c3, "SHOW", "first") == [b"first", epoch, created], "SHOW")
    gen = snap(c1, "CREATE")
    check(gen[0].startswith(b"snap-") and gen[1] > epoch, "generated name")
    expect_error(lambda: snap(c3, "CREATE", "first"), "exists")
    expect_error(lambda: snap(c1, "CREATE", "9lives"), "invalid snapshot name")
    expect_error(lambda: snap(c1, "CREATE", "a b"), "invalid snapshot name")
    expect_error(lambda: snap(c1, "SHOW", "nope"), "no such snapshot")
    expect_error(lambda: snap(c1, "DESTROY", "nope"), "no such snapshot")
    expect_error(lambda: snap(c1, "FROB"), "unknown DKV.SNAPSHOT")
    expect_error(lambda: at(c1, "nope", "GET", "k:a"), "no such snapshot")
    expect_error(lambda: at(c1, "first", "SET", "k:a", "1"), "DKV.AT runs only")
    expect_error(lambda: at(c1, "first", "DKV.RANGE", "{t}", "{t}~", "EPOCH",
                            "5"), "epoch")
    expect_error(lambda: at(c1, str(epoch * 2), "GET", "k:a"), "ahead")
    check(snap(c2, "DESTROY", gen[0]) == b"OK", "DESTROY")
    wait_until(lambda: all(len(snap(c, "LIST")) == 1 for c in (c1, c2, c3)),
               what="destroy everywhere")
    expect_error(lambda: at(c1, gen[0].decode(), "GET", "k:a"),
                 "no such snapshot")
    return epoch


def completeness(cl):
    """Acknowledged before CREATE -> in it; begun after -> not in it."""
    c = cl.nodes[0].client()
    stop = threading.Event()
    lock = threading.Lock()
    acked = []  # (key, time acknowledged)

    def writer(i):
        w = cl.nodes[i % 3].client()
        n = 0
        while not stop.is_set() and n < 5000:
            k = "{c%d}:%d" % (i, n)
            w.mset({k: "1", "other:%d:%d" % (i, n): "1"})  # cross-shard
            with lock:
                acked.append((k, time.time()))
            n += 1

    ts = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    before = time.time()
    name, epoch, _ = snap(c, "CREATE", "complete")
    after = time.time()
    time.sleep(0.3)
    stop.set()
    for t in ts:
        t.join()
    with lock:
        early = [k for k, t in acked if t < before]
        late = [k for k, t in acked if t > after + 0.05]
    check(early and late, "writers made progress (%d, %d)" %
          (len(early), len(late)))
    got = []
    for i in range(0, len(early), 200):
        got += at(c, "complete", "MGET", *early[i:i + 200])
    missing = [k for k, v in zip(early, got) if v is None]
    check(not missing, "acknowledged before create, not in the snapshot: %r"
          % missing[:5])
    got = []
    for i in range(0, len(late), 200):
        got += at(c, "complete", "MGET", *late[i:i + 200])
    present = [k for k, v in zip(late, got) if v is not None]
    check(not present, "begun after create, in the snapshot: %r" % present[:5])
    print("completeness: %d before, %d after" % (len(early), len(late)),
          flush=True)


def bank(cl, seed):
    rnd = random.Random(seed)
    accts = ["acct:%02d" % i for i in range(ACCOUNTS)]
    total = ACCOUNTS * START
    c = cl.nodes[0].client()
    c.mset({a: START for a in accts})
    stop = time.time() + DURATION
    errors, snaps, lock = [], [], threading.Lock()
    stats = {"transfers": 0, "snapshots": 0, "create_fail": 0}

    def transfer(i):
        r = random.Random(seed * 100 + i)
        conn = cl.nodes[i % 3].client()
        while time.time() < stop:
            a, b = r.sample(accts, 2)
            amt = r.randint(1, 20)
            try:
                with conn.pipeline() as p:
                    p.watch(a, b)
                    va, vb = int(p.get(a)), int(p.get(b))
                    p.multi()
                    p.set(a, va - amt)
                    p.set(b, vb + amt)
                    p.execute()
                with lock:
                    stats["transfers"] += 1
            except redis.WatchError:
                pass
            except (redis.ConnectionError, redis.TimeoutError,
                    redis.ResponseError):
                conn = cl.nodes[r.randrange(3)].client()
                time.sleep(0.05)

    def read_all(conn, name):
        vals = at(conn, name, "MGET", *accts)
        return vals

    def snapshotter():
        i = 0
        conn = cl.nodes[1].client()
        while time.time() < stop:
            name = "bank%03d" % i
            i += 1
            try:
                snap(conn, "CREATE", name)
            except (redis.ConnectionError, redis.TimeoutError,
                    redis.ResponseError) as e:
                # A node down: the create fails cleanly, try again later.
                if isinstance(e, redis.ResponseError) and \
                        "TRYAGAIN" not in str(e):
                    errors.append("create: %r" % e)
                stats["create_fail"] += 1
                conn = cl.nodes[1].client()
                time.sleep(0.2)
                continue
            try:
                vals = read_all(conn, name)
            except (redis.ConnectionError, redis.TimeoutError,
                    redis.ResponseError) as e:
                errors.append("read of %s: %r" % (name, e))
                continue
            s = sum(int(v) for v in vals)
            if s != total:
                errors.append("%s sums to %d != %d: %r" % (name, s, total,
                                                           vals))
            with lock:
                snaps.append((name, vals))
                stats["snapshots"] += 1
            time.sleep(0.1)

    def nemesis():
        time.sleep(DURATION / 3)
        nd = cl.nodes[2]
        nd.kill()
        time.sleep(1.0)
        nd.start()

    ts = ([threading.Thread(target=transfer, args=(i,))
           for i in range(CLIENTS)] +
          [threading.Thread(target=snapshotter),
           threading.Thread(target=nemesis)])
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("bank:", stats, flush=True)
    check(not errors, "bank errors: %r" % errors[:5])
    check(stats["snapshots"] >= 5, "snapshots taken: %d" % stats["snapshots"])
    check(stats["transfers"] > 50, "transfers made: %d" % stats["transfers"])
    return snaps, accts


def main():
    seed = int(os.environ.get("DKV_SEED", str(random.randrange(1 << 30))))
    print("seed", seed, flush=True)
    # History older than 2 s is collected (every 200 ms): only what the
    # snapshots pin stays readable.
    os.environ["DKV_GC_RETENTION_MS"] = "2000"
    os.environ["DKV_GC_INTERVAL_MS"] = "200"
    with Cluster(n=3, shards=9) as cl:
        epoch = interface(cl)
        completeness(cl)
        snaps, accts = bank(cl, seed)

        # GC compacts everything it may; every node restarts (graceful
        # and not): the catalog and every snapshot's content stay.
        time.sleep(2.5)
        for nd in cl.nodes:
            nd.client().execute_command("DKV.GC", "COMPACT")
        cl.nodes[0].stop()
        cl.nodes[0].start()
        cl.nodes[1].kill()
        cl.nodes[1].start()
        c = cl.nodes[2].client()
        check(snap(c, "SHOW", "first")[1] == epoch, "catalog after restart")
        for name, vals in snaps:
            again = at(c, name, "MGET", *accts)
            check(again == vals, "%s reads differently after restarts" % name)
        print("reread %d snapshots after restarts" % len(snaps), flush=True)

        # A node down while a snapshot is destroyed learns it on return.
        cl.nodes[2].stop()
        c1 = cl.nodes[0].client()
        check(snap(c1, "DESTROY", "first") == b"OK", "destroy with a node down")
        expect_error(lambda: snap(c1, "CREATE", "while-down"), "TRYAGAIN")
        cl.nodes[2].start()
        c3 = cl.nodes[2].client()
        wait_until(lambda: not any(e[0] == b"first" for e in snap(c3, "LIST")),
                   timeout=15, what="node 3 learns of the destroy")
        check(snap(c3, "LIST") == snap(c1, "LIST"), "catalogs agree")
    print("ok")


if __name__ == "__main__":
    main()
