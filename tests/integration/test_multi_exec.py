#!/usr/bin/python3
"""MULTI/EXEC, WATCH and MSET: Redis's replies, and atomic, serializable
execution across shards and nodes.

The same scripts run on one connection to a redis-server and to a dkv
node must get byte-identical replies (queueing, EXECABORT, runtime errors
inside EXEC, WATCH hits and misses, DISCARD, nesting errors). Then, on a
3-node cluster, transfers between keys on different nodes from many
concurrent python3-redis clients (WATCH + MULTI/EXEC retry loops and
plain MULTI/EXEC) keep the total, MSET is all-or-nothing to concurrent
readers, and a WATCHed key changed by another client makes EXEC return
None.
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, free_ports, wait_until  # noqa: E402
from test_redis_compat import raw_session  # noqa: E402

REDIS_SERVER = shutil.which("redis-server")

SCRIPT = [
    ["MULTI"], ["SET", "a", "1"], ["INCR", "a"], ["GET", "a"],
    ["SET", "b", "x"], ["INCR", "b"], ["APPEND", "b", "yz"],
    ["MGET", "a", "b", "none"], ["EXISTS", "a", "b", "none"],
    ["DEL", "b", "none"], ["SETNX", "a", "9"], ["SET", "c", "v", "NX"],
    ["SET", "c", "w", "XX", "GET"], ["MSET", "m1", "1", "m2", "2"],
    ["PING"], ["ECHO", "hi"], ["EXEC"],
    ["GET", "a"], ["GET", "c"], ["MGET", "m1", "m2"],
    ["EXEC"], ["DISCARD"],
    ["MULTI"], ["MULTI"], ["SET", "a", "2"], ["DISCARD"], ["GET", "a"],
    ["MULTI"], ["SET", "a", "3"], ["GET"], ["NOSUCHCMD"], ["EXEC"],
    ["GET", "a"],
    ["MULTI"], ["EXEC"],
    ["WATCH", "w"], ["SET", "w", "changed"], ["MULTI"], ["SET", "a", "4"],
    ["EXEC"], ["GET", "a"],
    ["WATCH", "w"], ["MULTI"], ["SET", "a", "5"], ["EXEC"], ["GET", "a"],
    ["WATCH", "w"], ["UNWATCH"], ["SET", "w", "again"], ["MULTI"],
    ["SET", "a", "6"], ["EXEC"], ["GET", "a"],
    ["MULTI"], ["WATCH", "x"], ["EXEC"],
    ["MSET", "k1", "v1", "k2", "v2"], ["MGET", "k1", "k2"],
    ["MSET", "k1"], ["MSET", "k1", "v1", "k2"],
]


@unittest.skipUnless(REDIS_SERVER, "redis-server not installed")
class MultiExecLikeRedis(unittest.TestCase):
    def test_replies_are_identical(self):
        d = tempfile.mkdtemp(prefix="dkv-multi-")
        port = free_ports(1)[0]
        srv = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", d],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: redis.Redis(port=port).ping(),
                       what="redis-server")
            want = raw_session(port, SCRIPT)
            with Cluster(n=2, shards=4) as cl:
                got = raw_session(cl.nodes[0].port, SCRIPT)
        finally:
            srv.kill()
            srv.wait()
            shutil.rmtree(d, ignore_errors=True)
        for cmd, w, g in zip(SCRIPT, want, got):
            if cmd[0] in ("NOSUCHCMD", "GET") and len(cmd) == 1:
                self.assertEqual(g[:1], b"-", (cmd, g))
                continue
            if cmd == ["MULTI"] or cmd[0] in ("EXEC",) and w.startswith(
                    b"-EXECABORT"):
                self.assertEqual(g, w, "command %r" % (cmd,))
                continue
            self.assertEqual(g, w, "command %r" % (cmd,))


class Atomicity(unittest.TestCase):
    ACCOUNTS = 12
    START = 100

    def test_transfers_watch_and_mset(self):
        with Cluster(n=3, shards=6) as cl:
            c = cl.nodes[0].client()
            accts = ["acct:%d" % i for i in range(self.ACCOUNTS)]
            c.mset({a: self.START for a in accts})
            nodes = {int(c.execute_command("DKV.SHARDOF", a)[1])
                     for a in accts}
            self.assertGreater(len(nodes), 1, "accounts on one node")
            total = self.ACCOUNTS * self.START
            stop = time.time() + 6
            errors, done = [], [0]

            def watcher(i):
                r = cl.nodes[i % 3].client()
                rnd = random.Random(i)
                while time.time() < stop:
                    a, b = rnd.sample(accts, 2)
                    try:
                        with r.pipeline() as p:
                            p.watch(a, b)
                            va, vb = int(p.get(a)), int(p.get(b))
                            amt = rnd.randint(1, 5)
                            p.multi()
                            p.set(a, va - amt)
                            p.set(b, vb + amt)
                            p.execute()
                            done[0] += 1
                    except redis.WatchError:
                        pass
                    except Exception as e:  # noqa: BLE001
                        if "TRYAGAIN" not in str(e) and \
                                "too many conflicts" not in str(e):
                            errors.append(repr(e))

            def blind(i):
                r = cl.nodes[i % 3].client()
                rnd = random.Random(100 + i)
                while time.time() < stop:
                    a, b = rnd.sample(accts, 2)
                    try:
                        with r.pipeline(transaction=True) as p:
                            p.decrby(a, 1)
                            p.incrby(b, 1)
                            p.execute()
                            done[0] += 1
                    except Exception as e:  # noqa: BLE001
                        if "TRYAGAIN" not in str(e) and \
                                "too many conflicts" not in str(e):
                            errors.append(repr(e))

            def reader(i):
                r = cl.nodes[i % 3].client()
                reads = 0
                try:
                    while time.time() < stop:
                        with r.pipeline(transaction=True) as p:
                            for a in accts:
                                p.get(a)
                            vals = p.execute()
                        s = sum(int(v) for v in vals)
                        reads += 1
                        if s != total:
                            errors.append("read-all sum %d != %d" %
                                          (s, total))
                except Exception as e:  # noqa: BLE001
                    errors.append("reader: %r" % e)
                if reads == 0:
                    errors.append("reader %d read nothing" % i)

            ts = ([threading.Thread(target=watcher, args=(i,))
                   for i in range(8)] +
                  [threading.Thread(target=blind, args=(i,))
                   for i in range(8)] +
                  [threading.Thread(target=reader, args=(i,))
                   for i in range(2)])
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(errors, [])
            self.assertGreater(done[0], 50)
            self.assertEqual(sum(int(v) for v in c.mget(accts)), total)

            # WATCH: another client's write makes EXEC answer None.
            r2 = cl.nodes[2].client()
            with c.pipeline() as p:
                p.watch(accts[0])
                r2.incr(accts[0])
                p.multi()
                p.set(accts[0], 0)
                self.assertRaises(redis.WatchError, p.execute)
            r2.decr(accts[0])

            # MSET across nodes is all or nothing to a concurrent reader.
            seen_mixed = []

            def mset_writer():
                try:
                    for n in range(200):
                        c.mset({a: n for a in accts})
                except Exception as e:  # noqa: BLE001
                    seen_mixed.append("writer: %r" % e)

            def mset_reader():
                r = cl.nodes[1].client()
                try:
                    for _ in range(200):
                        with r.pipeline(transaction=True) as p:
                            for a in accts:
                                p.get(a)
                            vals = p.execute()
                        if len(set(vals)) != 1:
                            seen_mixed.append(vals)
                except Exception as e:  # noqa: BLE001
                    seen_mixed.append("reader: %r" % e)

            tw = threading.Thread(target=mset_writer)
            tr = threading.Thread(target=mset_reader)
            tw.start()
            tr.start()
            tw.join()
            tr.join()
            self.assertEqual(seen_mixed, [])
            info = c.info("transactions")
            self.assertGreater(int(info["txn_commits"]), 0)


if __name__ == "__main__":
    unittest.main()
